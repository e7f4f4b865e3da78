// Light / dark / system theme. theme-boot.js applies the stored choice before first paint; this
// module keeps it live: system changes, other tabs (storage event), and the toggle.

const KEY = "boring-core:theme";
const PREFERENCES = ["light", "dark", "system"];
const listeners = new Set();
const media = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

export function preference() {
  try {
    const stored = window.localStorage.getItem(KEY);
    if (PREFERENCES.includes(stored)) return stored;
  } catch {
    // Storage unavailable: the system preference applies.
  }
  return "system";
}

export function resolved(pref = preference()) {
  if (pref === "system") return media && media.matches ? "dark" : "light";
  return pref;
}

function apply() {
  const pref = preference();
  const theme = resolved(pref);
  const root = document.documentElement;
  root.setAttribute("data-theme", theme);
  root.setAttribute("data-theme-preference", pref);
  root.classList.toggle("dark", theme === "dark");
  for (const listener of listeners) listener(pref, theme);
}

export function setPreference(pref) {
  if (!PREFERENCES.includes(pref)) return;
  try {
    window.localStorage.setItem(KEY, pref);
  } catch {
    // Not persisted, but still applied for this page.
  }
  apply();
}

/** light → dark → system → light */
export function cycle() {
  const next = PREFERENCES[(PREFERENCES.indexOf(preference()) + 1) % PREFERENCES.length];
  setPreference(next);
  return next;
}

export function onThemeChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export const THEME_LABELS = { light: "Light", dark: "Dark", system: "System" };

export function initTheme() {
  apply();
  if (media) media.addEventListener("change", apply);
  window.addEventListener("storage", (event) => {
    if (event.key === KEY) apply();
  });
}
