// App-wide state: runtime config, the session, the user's identity and a small query cache.
// Pages read from here; mutations invalidate what they change.

import { api, HttpError } from "./api.js";

export const state = {
  /** RuntimeConfig from /api/v1/config. */
  config: null,
  /** {user, session} or null when signed out. */
  session: null,
  /** /api/v1/me: {user, settings} or null. */
  me: null,
  /** True when /api/dev/mail answers (console mail transport). */
  devMail: false,
};

const CONFIG_DELAYS_MS = [500, 1000, 2000];

/** Fetch /api/v1/config: 4 attempts with 0.5 s, 1 s, 2 s between them (upstream's policy). */
export async function loadConfig() {
  let lastError = null;
  for (let attempt = 0; attempt <= CONFIG_DELAYS_MS.length; attempt += 1) {
    try {
      state.config = await api("/api/v1/config");
      applyBranding();
      return state.config;
    } catch (err) {
      lastError = err;
      if (attempt < CONFIG_DELAYS_MS.length) await sleep(CONFIG_DELAYS_MS[attempt]);
    }
  }
  throw lastError || new HttpError({ status: 0, code: "config_fetch_failed", message: "Failed to load config" });
}

export function appName() {
  return (state.config && state.config.appName) || "localcore";
}

export function feature(name) {
  return Boolean(state.config && state.config.features && state.config.features[name]);
}

function applyBranding() {
  document.title = appName();
  const logo = state.config && state.config.appLogo;
  if (logo) {
    const link = document.querySelector('link[rel="icon"]');
    if (link) {
      link.setAttribute("href", logo);
      link.removeAttribute("type");
    }
  }
}

/** GET /auth/get-session: `null` (200) when signed out. */
export async function refreshSession() {
  let data = null;
  try {
    data = await api("/auth/get-session");
  } catch (err) {
    if (!(err instanceof HttpError) || err.status >= 500 || err.status === 0) throw err;
    data = null;
  }
  const previousUser = state.session && state.session.user ? state.session.user.id : null;
  state.session = data && data.user ? data : null;
  const user = state.session ? state.session.user.id : null;
  if (user !== previousUser) clearCache();
  if (!state.session) state.me = null;
  return state.session;
}

export function signedIn() {
  return Boolean(state.session && state.session.user);
}

/** /api/v1/me, cached for a minute per user. */
export async function loadIdentity({ force = false } = {}) {
  if (!signedIn()) return null;
  state.me = await cached("me", () => api("/api/v1/me"), { force, ttl: 60_000 }).catch(() => null);
  return state.me;
}

/** The best name to show for the signed-in user. */
export function displayName() {
  const me = state.me;
  const user = state.session && state.session.user;
  return (me && me.settings && me.settings.displayName) || (user && user.name) || (user && user.email) || "";
}

export function userEmail() {
  return (state.session && state.session.user && state.session.user.email) || "";
}

export async function probeDevMail() {
  try {
    await api("/api/dev/mail");
    state.devMail = true;
  } catch {
    state.devMail = false;
  }
  return state.devMail;
}

// --- a tiny query cache --------------------------------------------------------------------------

const cache = new Map();

export async function cached(key, load, { force = false, ttl = 30_000 } = {}) {
  const hit = cache.get(key);
  if (!force && hit && Date.now() - hit.at < ttl) return hit.promise;
  const promise = load();
  cache.set(key, { at: Date.now(), promise });
  promise.catch(() => {
    if (cache.get(key) && cache.get(key).promise === promise) cache.delete(key);
  });
  return promise;
}

/** Drop every cached entry whose key starts with `prefix`. */
export function invalidate(prefix) {
  for (const key of [...cache.keys()]) if (key.startsWith(prefix)) cache.delete(key);
}

export function clearCache() {
  cache.clear();
}

export function workspaces({ force = false } = {}) {
  return cached("workspaces", () => api("/api/v1/workspaces").then((d) => d.workspaces || []), { force });
}

export function workspaceDetail(id, { force = false } = {}) {
  return cached(`workspace:${id}`, () => api(`/api/v1/workspaces/${encodeURIComponent(id)}`), { force });
}

// --- one-shot messages carried to the next page ------------------------------------------------

let pendingFlash = null;

export function flash(message, kind = "success") {
  pendingFlash = { message, kind };
}

export function takeFlash() {
  const value = pendingFlash;
  pendingFlash = null;
  return value;
}

/** Read and delete the `boring_invite_failed` cookie set by a sign-up whose invite did not apply. */
export function takeInviteFailure() {
  const match = document.cookie.split(";").map((c) => c.trim()).find((c) => c.startsWith("boring_invite_failed="));
  if (!match) return null;
  document.cookie = "boring_invite_failed=; Max-Age=0; Path=/; SameSite=Lax";
  return decodeURIComponent(match.slice("boring_invite_failed=".length)) || "invite_failed";
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
