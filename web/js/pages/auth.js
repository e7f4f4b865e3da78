// Sign in (password, magic link, Google), sign up (with invite token), forgot / reset password,
// and the auth error page.

import { api, errorMessage, HttpError } from "../api.js";
import { h, icon } from "../dom.js";
import { authLayout } from "../layout.js";
import { navigate, safeRedirect, show } from "../router.js";
import { feature, flash, refreshSession, state, takeInviteFailure } from "../state.js";
import { button, createForm, linkButton, notice, validators } from "../ui.js";

const PASSWORD_FIELD_ERRORS = {
  WEAK_PASSWORD: "password",
  PASSWORD_TOO_SHORT: "password",
  PASSWORD_TOO_LONG: "password",
};

function withRedirect(path, redirect) {
  return redirect ? `${path}?redirect=${encodeURIComponent(redirect)}` : path;
}

function devMailHint() {
  return state.devMail
    ? h("p", { class: "muted small" }, "Running locally? Mail is printed to the terminal and kept in the ",
      h("a", { href: "/dev/mail" }, "dev mailbox"), ".")
    : null;
}

function divider(text) {
  return h("div", { class: "divider", role: "separator" }, h("span", {}, text));
}

function googleButton({ callbackURL }) {
  const btn = button("Continue with Google", { variant: "secondary", block: true });
  btn.prepend(icon("google", { size: 18 }));
  const alertBox = h("div", { class: "live-region", role: "alert" });
  btn.addEventListener("click", async () => {
    alertBox.replaceChildren();
    const label = btn.querySelector(".btn-label");
    btn.disabled = true;
    label.textContent = "Redirecting…";
    try {
      const data = await api("/auth/sign-in/social", {
        method: "POST",
        body: { provider: "google", callbackURL, errorCallbackURL: "/auth/signin" },
      });
      if (data && data.url) {
        window.location.assign(data.url);
        return;
      }
      throw new HttpError({ status: 500, code: "no_url", message: "Google sign-in is not available right now." });
    } catch (err) {
      alertBox.replaceChildren(notice("error", errorMessage(err, "Google sign-in failed.")));
      btn.disabled = false;
      label.textContent = "Continue with Google";
      btn.focus();
    }
  });
  return [alertBox, btn];
}

// --- sign in ------------------------------------------------------------------------------------

export async function signInPage(ctx) {
  const redirect = safeRedirect(ctx.query.get("redirect"), "");
  return signInScreen({ redirect, oauthError: ctx.query.get("error"), email: ctx.query.get("email") || "" });
}

function signInScreen({ redirect, oauthError, email }) {
  const form = createForm({
    fields: [
      { name: "email", label: "Email", type: "email", autocomplete: "email", placeholder: "you@example.com", value: email, validate: validators.email },
      {
        name: "password",
        label: "Password",
        type: "password",
        autocomplete: "current-password",
        validate: validators.required("Password is required"),
        labelExtra: h("a", { class: "label-link", href: withRedirect("/auth/forgot-password", redirect) }, "Forgot password?"),
      },
      { name: "rememberMe", label: "Keep me signed in", type: "checkbox", value: true },
    ],
    submitLabel: "Sign in",
    busyLabel: "Signing in…",
    fallbackError: "Sign in failed",
    focusOnError: "password",
    onSubmit: async ({ email: address, password, rememberMe }) => {
      await api("/auth/sign-in/email", {
        method: "POST",
        body: { email: address.trim(), password, rememberMe },
      });
      await refreshSession();
      navigate(redirect || "/", { replace: true });
    },
  });
  const magic = button("Email me a sign-in link", { variant: "secondary", block: true, iconName: "mail" });
  magic.addEventListener("click", () => show(magicLinkRequestScreen({ redirect, email: form.fields.email.value() })));
  const google = feature("googleOauth") ? [...googleButton({ callbackURL: redirect || "/" }), divider("Or continue with email")] : [];
  return authLayout({
    title: "Sign in",
    description: "Enter your credentials to continue",
    footer: ["Don't have an account? ", h("a", { href: withRedirect("/auth/signup", redirect) }, "Sign up")],
  },
  oauthError ? notice("error", "We could not complete that sign-in. Try again, or use your email and password.") : null,
  google,
  form.el,
  divider("or"),
  magic);
}

function magicLinkRequestScreen({ redirect, email }) {
  const form = createForm({
    fields: [{ name: "email", label: "Email", type: "email", autocomplete: "email", placeholder: "you@example.com", value: email, validate: validators.email }],
    submitLabel: "Send sign-in link",
    busyLabel: "Sending…",
    fallbackError: "Could not send the sign-in link.",
    errorOverrides: { 404: "Sign-in links are not available on this server (mail is not configured)." },
    onSubmit: async ({ email: address }) => {
      await api("/auth/sign-in/magic-link", {
        method: "POST",
        body: { email: address.trim(), callbackURL: redirect || "/" },
      });
      show(authLayout({
        title: "Check your email",
        description: `If ${address.trim()} can sign in here, we sent a link to it. Open it on this device to continue.`,
        footer: [h("a", { href: withRedirect("/auth/signin", redirect) }, "Back to sign in")],
      }, notice("info", "The link works once and expires after a few minutes."), devMailHint()));
    },
  });
  const back = button("Use your password instead", { variant: "ghost", block: true });
  back.addEventListener("click", () => show(signInScreen({ redirect, oauthError: null, email: form.fields.email.value() })));
  return authLayout({
    title: "Sign in with a link",
    description: "We'll email you a link that signs you in — no password needed.",
    footer: ["Don't have an account? ", h("a", { href: withRedirect("/auth/signup", redirect) }, "Sign up")],
  }, form.el, back);
}

// --- sign up ------------------------------------------------------------------------------------

const INVITE_FAILURES = {
  invite_expired: "the invite has expired",
  invite_email_mismatch: "the invite was sent to a different email address",
  invite_not_found: "the invite is no longer valid",
  invite_already_accepted: "the invite was already used",
  invite_locked: "the invite is temporarily locked",
};

export async function signUpPage(ctx) {
  const inviteToken = ctx.query.get("invite_token");
  const redirect = safeRedirect(ctx.query.get("redirect"), "");
  const form = createForm({
    fields: [
      { name: "name", label: "Name", autocomplete: "name", placeholder: "Your name", validate: validators.required("Name is required") },
      { name: "email", label: "Email", type: "email", autocomplete: "email", placeholder: "you@example.com", validate: validators.email },
      {
        name: "password",
        label: "Password",
        type: "password",
        autocomplete: "new-password",
        placeholder: "At least 8 characters",
        hint: "At least 8 characters. Common passwords are refused.",
        validate: validators.password,
      },
    ],
    submitLabel: "Sign up",
    busyLabel: "Creating account…",
    fallbackError: "Sign up failed",
    fieldErrors: {
      ...PASSWORD_FIELD_ERRORS,
      USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL: "email",
      USER_ALREADY_EXISTS: "email",
      INVALID_EMAIL: "email",
    },
    onSubmit: async ({ name, email, password }) => {
      await api("/auth/sign-up/email", {
        method: "POST",
        body: { name: name.trim(), email: email.trim(), password },
        headers: inviteToken ? { "x-invite-token": inviteToken } : {},
      });
      await refreshSession();
      const failure = inviteToken ? takeInviteFailure() : null;
      if (failure) {
        const reason = INVITE_FAILURES[failure] || "the invite could not be used";
        flash(`Your account is ready, but we couldn't add you to the invited workspace: ${reason}. Ask for a new invite.`, "warning");
      } else {
        flash(`Welcome! We sent a verification link to ${email.trim()}.`, "success");
      }
      navigate(redirect || "/", { replace: true });
    },
  });
  const google = feature("googleOauth") && !inviteToken
    ? [...googleButton({ callbackURL: redirect || "/" }), divider("Or continue with email")]
    : [];
  return authLayout({
    title: "Create an account",
    description: "Enter your details to get started",
    footer: ["Already have an account? ", h("a", {
      href: inviteToken ? `/auth/signin?redirect=${encodeURIComponent(`/invites/${inviteToken}`)}` : withRedirect("/auth/signin", redirect),
    }, "Sign in")],
  },
  inviteToken ? notice("info", "You're creating an account to join a workspace you were invited to.") : null,
  google,
  form.el);
}

// --- forgot / reset password --------------------------------------------------------------------

export async function forgotPasswordPage(ctx) {
  const redirect = safeRedirect(ctx.query.get("redirect"), "");
  const back = () => h("a", { href: withRedirect("/auth/signin", redirect) }, "Back to sign in");
  const form = createForm({
    fields: [{ name: "email", label: "Email", type: "email", autocomplete: "email", placeholder: "you@example.com", validate: validators.email }],
    submitLabel: "Send reset link",
    busyLabel: "Sending…",
    onSubmit: async ({ email }) => {
      try {
        await api("/auth/request-password-reset", {
          method: "POST",
          body: { email: email.trim(), redirectTo: "/auth/reset-password" },
        });
      } catch (err) {
        // The answer must not reveal whether the account exists, so only "try later" errors surface.
        if (err instanceof HttpError && (err.status === 429 || err.status === 0)) throw err;
      }
      show(authLayout({
        title: "Check your inbox",
        description: `If an account exists for ${email.trim()}, we sent a link to reset its password.`,
        footer: [back()],
      }, notice("info", "The link expires after a while and works once."), devMailHint()));
    },
  });
  return authLayout({
    title: "Forgot password",
    description: "Enter your email and we'll send you a reset link",
    footer: [back()],
  }, form.el);
}

function linkExpiredScreen() {
  return authLayout({
    title: "Link expired",
    description: "This password reset link is no longer valid. Links work once and expire after a while.",
    footer: [h("a", { href: "/auth/signin" }, "Back to sign in")],
  }, linkButton("Request new link", "/auth/forgot-password", { variant: "primary", block: true }));
}

export async function resetPasswordPage(ctx) {
  const token = ctx.query.get("token");
  if (!token || ctx.query.get("error")) return linkExpiredScreen();
  const form = createForm({
    fields: [
      { name: "newPassword", label: "New password", type: "password", autocomplete: "new-password", placeholder: "At least 8 characters", validate: validators.password },
      { name: "confirm", label: "Confirm password", type: "password", autocomplete: "new-password", validate: validators.matches("newPassword") },
    ],
    submitLabel: "Reset password",
    busyLabel: "Resetting…",
    fallbackError: "Reset failed",
    fieldErrors: { WEAK_PASSWORD: "newPassword", PASSWORD_TOO_SHORT: "newPassword", PASSWORD_TOO_LONG: "newPassword" },
    onSubmit: async ({ newPassword }) => {
      try {
        await api("/auth/reset-password", { method: "POST", body: { token, newPassword } });
      } catch (err) {
        const expired = err instanceof HttpError && (err.status === 410
          || ["INVALID_TOKEN", "TOKEN_EXPIRED", "EXPIRED_TOKEN"].includes(err.code)
          || (err.status === 400 && /expired|invalid/i.test(err.message) && !/password/i.test(err.message)));
        if (expired) {
          show(linkExpiredScreen());
          return;
        }
        throw err;
      }
      // A reset signs every session out (the server revokes them); start clean.
      await refreshSession().catch(() => null);
      flash("Your password has been reset. Sign in with your new password.", "success");
      navigate("/auth/signin", { replace: true });
    },
  });
  return authLayout({
    title: "Reset password",
    description: "Enter your new password below",
    footer: [h("a", { href: "/auth/signin" }, "Back to sign in")],
  }, form.el);
}

// --- auth error ---------------------------------------------------------------------------------

export async function authErrorPage(ctx) {
  const code = ctx.query.get("error");
  return authLayout({
    title: "Authentication error",
    description: "We could not complete that sign-in flow. Please try again.",
    footer: [h("a", { href: "/auth/signin" }, "Back to sign in"), h("span", { class: "dot", "aria-hidden": "true" }, "·"), h("a", { href: "/auth/signup" }, "Create account")],
  }, code ? h("p", { class: "error-code" }, "Error: ", h("code", {}, code)) : null);
}
