// Locale formatting for dates, money and devices.

export function longDate(iso) {
  const d = toDate(iso);
  return d ? d.toLocaleDateString(undefined, { year: "numeric", month: "long", day: "numeric" }) : "Unknown";
}

export function shortDate(iso) {
  const d = toDate(iso);
  return d ? d.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" }) : "—";
}

export function dateTime(iso) {
  const d = toDate(iso);
  return d ? d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : "—";
}

/** "just now", "5 min ago", "3 h ago", else the medium date. */
export function relativeTime(iso) {
  const d = toDate(iso);
  if (!d) return "—";
  const seconds = Math.round((Date.now() - d.getTime()) / 1000);
  if (seconds < 45) return "just now";
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return shortDate(iso);
}

function toDate(iso) {
  if (!iso) return null;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Credits are micro-euros: 1 credit = €0.000001. */
export function money(micros, { signed = false, currency = "EUR" } = {}) {
  const value = Number(micros || 0) / 1_000_000;
  const abs = Math.abs(value);
  const digits = abs !== 0 && abs < 0.01 ? 4 : 2;
  const text = new Intl.NumberFormat(undefined, {
    style: "currency",
    currency,
    minimumFractionDigits: 2,
    maximumFractionDigits: digits,
  }).format(abs);
  if (value < 0) return `−${text}`;
  return signed && value > 0 ? `+${text}` : text;
}

/** Minor units (cents) in a currency: 1000, "EUR" → "€10.00". */
export function price(minor, currency = "EUR") {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: currency || "EUR" }).format(Number(minor || 0) / 100);
  } catch {
    return `${(Number(minor || 0) / 100).toFixed(2)} ${currency}`;
  }
}

/** "Chrome on Linux" from a user-agent string; good enough to tell sessions apart. */
export function device(userAgent) {
  const ua = String(userAgent || "");
  if (!ua) return "Unknown device";
  const browser = /Edg\//.test(ua) ? "Edge"
    : /OPR\//.test(ua) ? "Opera"
      : /Firefox\//.test(ua) ? "Firefox"
        : /HeadlessChrome\//.test(ua) ? "Headless Chrome"
          : /Chrome\//.test(ua) ? "Chrome"
            : /Safari\//.test(ua) ? "Safari"
              : /curl\//i.test(ua) ? "curl"
                : /python/i.test(ua) ? "Python client" : "Browser";
  const os = /Windows/.test(ua) ? "Windows"
    : /Android/.test(ua) ? "Android"
      : /iPhone|iPad/.test(ua) ? "iOS"
        : /Mac OS X/.test(ua) ? "macOS"
          : /Linux/.test(ua) ? "Linux" : "";
  return os ? `${browser} on ${os}` : browser;
}
