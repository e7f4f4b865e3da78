// One-time links: email verification, magic-link sign-in, desktop owner bootstrap.
//
// Mail scanners and link previewers fetch every URL in a message. If opening a link consumed its
// token, a scanner would verify an address (or burn a sign-in link) before the person ever clicked.
// So these pages never act on load: they show one button, and only that click POSTs the token.

import { api, errorMessage, HttpError } from "../api.js";
import { h } from "../dom.js";
import { authLayout } from "../layout.js";
import { navigate, safeRedirect, show } from "../router.js";
import { appName, invalidate, refreshSession, signedIn, takeInviteFailure, userEmail } from "../state.js";
import { button, field, liveRegion, notice, validators, withBusy } from "../ui.js";

const EXPIRED_CODES = new Set(["TOKEN_EXPIRED", "EXPIRED_TOKEN", "invite_expired"]);

function isExpired(err) {
  return err instanceof HttpError && (err.status === 410 || EXPIRED_CODES.has(err.code) || /expired/i.test(err.message));
}

/** Where to go after a link: a same-site path, an absolute URL on this origin, else `fallback`. */
function destination(url, fallback = "/") {
  if (!url) return fallback;
  try {
    const parsed = new URL(url, window.location.origin);
    if (parsed.origin !== window.location.origin) return fallback;
    const path = parsed.pathname + parsed.search + parsed.hash;
    // Coming back to a one-time-link page after using the link would only show "invalid link".
    if (/^\/auth\/(verify-email|magic-link|bootstrap)/.test(parsed.pathname)) return fallback;
    return safeRedirect(path, fallback);
  } catch {
    return fallback;
  }
}

/** A page with one confirm button; `action()` runs only on click. */
function confirmScreen({ title, description, buttonLabel, busyLabel, before = null, action }) {
  const alert = liveRegion("error");
  const btn = button(buttonLabel, { block: true });
  btn.addEventListener("click", async () => {
    alert.clear();
    try {
      await withBusy(btn, busyLabel, action);
    } catch (err) {
      if (err instanceof HttpError || !(err instanceof Error)) alert.show(errorMessage(err), "error");
      else throw err;
    }
  });
  return authLayout({ title, description }, before, alert.el, btn);
}

// --- verify email -------------------------------------------------------------------------------

export async function verifyEmailPage(ctx) {
  const token = ctx.query.get("token");
  const callbackURL = ctx.query.get("callbackURL");
  const failure = takeInviteFailure();
  const inviteNote = failure
    ? notice("info", "Your invite could not be used, but you're signed in. Ask the workspace owner for a new invite.")
    : null;
  const error = ctx.query.get("error");
  if (error) return verifyFailedScreen(EXPIRED_CODES.has(error) ? "expired" : "invalid", inviteNote);
  if (!token) return verifyFailedScreen("no-token", inviteNote);
  return confirmScreen({
    title: "Verify your email",
    description: "Confirm that this email address is yours to finish setting up your account.",
    buttonLabel: "Verify email",
    busyLabel: "Verifying…",
    before: inviteNote,
    action: async () => {
      try {
        await api("/auth/verify-email", { method: "POST", body: callbackURL ? { token, callbackURL } : { token } });
      } catch (err) {
        if (err instanceof HttpError && err.status >= 400 && err.status < 500 && err.status !== 429) {
          show(verifyFailedScreen(isExpired(err) ? "expired" : "invalid", null));
          return;
        }
        throw err;
      }
      invalidate("me");
      await refreshSession().catch(() => null);
      show(authLayout({
        title: "Email verified",
        description: "Your email address is confirmed. You can continue.",
      }, h("a", { class: "btn btn-primary btn-block", href: destination(callbackURL) }, h("span", { class: "btn-label" }, "Continue"))));
    },
  });
}

const VERIFY_FAILURES = {
  expired: ["Link expired", "This verification link has expired. Request a new one below."],
  invalid: ["Invalid verification link", "This link is invalid or was already used. Request a new one below."],
  "no-token": ["Invalid verification link", "No verification token was found in this link. Check the link in your email."],
};

function verifyFailedScreen(kind, before) {
  const [title, description] = VERIFY_FAILURES[kind];
  return authLayout({
    title,
    description,
    footer: [h("a", { href: "/auth/signin" }, "Back to sign in")],
  }, before, resendSection());
}

/** "Resend verification email" with a 60 s cooldown; never reveals whether the account exists. */
export function resendSection({ compact = false } = {}) {
  const known = signedIn() ? userEmail() : "";
  const status = liveRegion("status");
  const emailField = known ? null : field({ name: "resend-email", label: "Email", type: "email", autocomplete: "email", placeholder: "you@example.com" });
  if (emailField) emailField.input.id = "resend-email";
  if (emailField) emailField.el.querySelector("label").setAttribute("for", "resend-email");
  const btn = button("Resend verification email", { variant: compact ? "secondary" : "primary", block: !compact, size: compact ? "sm" : undefined });
  const label = btn.querySelector(".btn-label");
  let cooling = false;
  const refresh = () => {
    const email = known || (emailField && emailField.input.value.trim());
    btn.disabled = cooling || !email;
  };
  if (emailField) emailField.input.addEventListener("input", refresh);
  refresh();
  btn.addEventListener("click", async () => {
    const email = known || emailField.input.value.trim();
    if (emailField && validators.email(email)) {
      emailField.setError(validators.email(email));
      emailField.input.focus();
      return;
    }
    if (emailField) emailField.clearError();
    btn.disabled = true;
    try {
      await api("/auth/send-verification-email", { method: "POST", body: { email, callbackURL: "/auth/verify-email" } });
    } catch {
      // Swallowed on purpose: the answer is the same whether or not the account exists.
    }
    status.show(known
      ? `We sent a new verification link to ${known}.`
      : "If an account exists for that email, we sent a new verification link.", "success");
    cooling = true;
    let left = 60;
    label.textContent = `Resend in ${left}s`;
    const timer = window.setInterval(() => {
      left -= 1;
      if (left <= 0 || !btn.isConnected) {
        window.clearInterval(timer);
        cooling = false;
        label.textContent = "Resend verification email";
        refresh();
        return;
      }
      label.textContent = `Resend in ${left}s`;
    }, 1000);
  });
  return h("div", { class: compact ? "resend resend-compact" : "resend" }, status.el, emailField ? emailField.el : null, btn);
}

// --- magic link ---------------------------------------------------------------------------------

export async function magicLinkPage(ctx) {
  const token = ctx.query.get("token");
  const callbackURL = ctx.query.get("callbackURL");
  if (ctx.query.get("error") || !token) return magicFailedScreen();
  return confirmScreen({
    title: `Sign in to ${appName()}`,
    description: "You opened a sign-in link. Continue to sign in on this device.",
    buttonLabel: "Sign in",
    busyLabel: "Signing in…",
    before: notice("info", "The link works once. If you didn't ask for it, close this page."),
    action: async () => {
      let data;
      try {
        data = await api("/auth/magic-link/verify", {
          method: "POST",
          body: callbackURL ? { token, callbackURL } : { token },
        });
      } catch (err) {
        if (err instanceof HttpError && err.status >= 400 && err.status < 500 && err.status !== 429) {
          show(magicFailedScreen(errorMessage(err)));
          return;
        }
        throw err;
      }
      await refreshSession();
      navigate(destination((data && data.url) || callbackURL), { replace: true });
    },
  });
}

function magicFailedScreen(detail) {
  return authLayout({
    title: "Sign-in link unavailable",
    description: "This sign-in link is invalid, expired or was already used. Links work once and expire after a few minutes.",
    footer: [h("a", { href: "/auth/signin" }, "Back to sign in")],
  }, detail ? notice("error", detail) : null,
  h("a", { class: "btn btn-primary btn-block", href: "/auth/signin" }, h("span", { class: "btn-label" }, "Request a new link")));
}

// --- desktop owner bootstrap --------------------------------------------------------------------

export async function bootstrapPage(ctx) {
  const token = ctx.query.get("token");
  if (!token) return bootstrapFailedScreen("This setup link has no token. Use the link printed by the server.");
  return confirmScreen({
    title: `Set up ${appName()}`,
    description: "This one-time link signs you in as the owner of this server.",
    buttonLabel: "Continue as owner",
    busyLabel: "Signing in…",
    before: notice("warning", "Only continue if you started this server yourself."),
    action: async () => {
      let data;
      try {
        data = await api("/auth/bootstrap", { method: "POST", body: { token } });
      } catch (err) {
        if (err instanceof HttpError && err.status >= 400 && err.status < 500 && err.status !== 429) {
          show(bootstrapFailedScreen(errorMessage(err)));
          return;
        }
        throw err;
      }
      await refreshSession();
      navigate(destination(data && data.url), { replace: true });
    },
  });
}

function bootstrapFailedScreen(detail) {
  return authLayout({
    title: "Setup link unavailable",
    description: "This setup link is invalid or was already used. Restart the server to print a new one, or sign in.",
    footer: [h("a", { href: "/auth/signin" }, "Go to sign in")],
  }, detail ? notice("error", detail) : null);
}


