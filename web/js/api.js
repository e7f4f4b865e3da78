// One fetch wrapper for the three error envelopes the server speaks:
//   core     {error: "<code>", code, message, requestId}
//   auth     {code, message}
//   credits  {error: {code, message}}
// Every failure becomes an HttpError with status, code, message and requestId.

export class HttpError extends Error {
  constructor({ status, code, message, requestId = null, retryAfter = null, body = null }) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.retryAfter = retryAfter;
    this.body = body;
  }
}

/**
 * JSON request to the same origin with the session cookie.
 * Returns the parsed body (null for an empty one); throws HttpError otherwise.
 */
export async function api(path, { method = "GET", body, headers = {}, signal } = {}) {
  const init = {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json", ...headers },
    signal,
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new HttpError({
      status: 0,
      code: "network_error",
      message: "Cannot reach the server. Check that it is running and try again.",
    });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (response.ok) return data;
  throw toHttpError(response, data);
}

function toHttpError(response, data) {
  let code = "internal_error";
  let message = "";
  let requestId = response.headers.get("x-request-id");
  if (data && typeof data === "object") {
    if (data.error && typeof data.error === "object") {
      code = data.error.code || code;
      message = data.error.message || "";
    } else {
      code = data.code || (typeof data.error === "string" ? data.error : code);
      message = data.message || (typeof data.error === "string" ? data.error : "");
    }
    requestId = data.requestId || requestId;
  }
  const retryAfter = Number.parseInt(response.headers.get("retry-after") || "", 10);
  return new HttpError({
    status: response.status,
    code,
    message: message || response.statusText || `HTTP ${response.status}`,
    requestId,
    retryAfter: Number.isFinite(retryAfter) ? retryAfter : null,
    body: data,
  });
}

// Upstream codes with wording a person can act on. The server message is the fallback.
const FRIENDLY = {
  INVALID_EMAIL_OR_PASSWORD: "Invalid email or password.",
  USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL: "An account with this email already exists. Sign in instead, or use another email.",
  USER_ALREADY_EXISTS: "An account with this email already exists. Sign in instead, or use another email.",
  WEAK_PASSWORD: "This password is too common. Please choose another.",
  PASSWORD_TOO_SHORT: "Password must be at least 8 characters.",
  PASSWORD_TOO_LONG: "Password must be 128 characters or fewer.",
  INVALID_EMAIL: "Please enter a valid email.",
  INVALID_PASSWORD: "The current password is incorrect.",
  INVALID_TOKEN: "This link is invalid or has already been used.",
  TOKEN_EXPIRED: "This link has expired.",
  EXPIRED_TOKEN: "This link has expired.",
};

/** The text to show for a failed request. `overrides` maps codes (or statuses) to text. */
export function errorMessage(err, fallback = "Something went wrong. Please try again.", overrides = {}) {
  if (!(err instanceof HttpError)) return fallback;
  if (overrides[err.code]) return overrides[err.code];
  if (overrides[err.status]) return overrides[err.status];
  if (err.status === 429) {
    if (err.message && /retry after/i.test(err.message)) return err.message;
    return err.retryAfter
      ? `Too many requests. Retry after ${err.retryAfter} seconds.`
      : "Too many requests. Please wait a moment and try again.";
  }
  if (FRIENDLY[err.code]) return FRIENDLY[err.code];
  return err.message || fallback;
}

/** "Request ID: …" line for error screens, or null. */
export function requestIdOf(err) {
  return err instanceof HttpError && err.requestId ? err.requestId : null;
}
