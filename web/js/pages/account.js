// /me: profile and display name, password, sessions, account deletion.

import { api, errorMessage } from "../api.js";
import { h } from "../dom.js";
import { dateTime, device, longDate, relativeTime } from "../format.js";
import { appLayout } from "../layout.js";
import { navigate, reload } from "../router.js";
import { clearCache, displayName, flash, invalidate, loadIdentity, refreshSession, state } from "../state.js";
import { avatar, button, card, chip, confirmDialog, createForm, liveRegion, notice, validators, withBusy } from "../ui.js";
import { activityCard } from "./audit.js";
import { resendSection } from "./links.js";

const SECTIONS = [
  ["profile", "Profile"],
  ["password", "Password"],
  ["sessions", "Sessions"],
  ["activity", "Activity"],
  ["about", "About this server"],
  ["danger-zone", "Delete account"],
];

/** Top-level entries of /api/v1/capabilities that core itself contributes; every other one is a plugin's. */
const CORE_CAPABILITIES = new Set(["core", "credits"]);

export async function accountPage(ctx) {
  await refreshSession();
  if (!state.session) return { redirect: "/auth/signin?redirect=%2Fme" };
  const me = await loadIdentity({ force: true });
  const user = state.session.user;
  const sessions = await api("/auth/list-sessions", { signal: ctx.signal }).catch((err) => ({ error: err }));
  const capabilities = await api("/api/v1/capabilities", { signal: ctx.signal }).catch((err) => ({ error: err }));
  const name = displayName();
  const header = h("div", { class: "page-header" },
    avatar(name, user.email, { size: "lg" }),
    h("div", { class: "page-header-text" },
      h("p", { class: "eyebrow" }, "Account"),
      h("h1", { class: "page-title" }, "Account settings"),
      h("p", { class: "muted" }, `Signed in as ${name || user.email}`)));
  const nav = h("nav", { class: "side-nav", "aria-label": "Account settings sections" },
    SECTIONS.map(([id, label]) => h("a", { href: `#${id}`, class: "side-nav-item" }, label)));
  return appLayout({ title: "Account settings", width: "wide" }, header,
    h("div", { class: "settings-layout" }, nav,
      h("div", { class: "section-stack" },
        profileCard(user, me),
        passwordCard(user),
        sessionsCard(sessions),
        await activityCard(ctx.signal),
        aboutCard(capabilities),
        deleteCard(user))));
}

function profileCard(user, me) {
  const settings = (me && me.settings) || {};
  const form = createForm({
    fields: [{
      name: "displayName",
      label: "Display name",
      autocomplete: "name",
      value: settings.displayName ?? user.name ?? "",
      hint: "Shown to members of your workspaces.",
      validate: (v) => (String(v).trim().length > 100 ? "Display name must be 100 characters or fewer" : null),
    }],
    submitLabel: "Save",
    busyLabel: "Saving…",
    block: false,
    fallbackError: "Could not save your display name.",
    onSubmit: async ({ displayName: value }) => {
      const saved = await api("/api/v1/me/settings", { method: "PUT", body: { displayName: value.trim() } });
      invalidate("me");
      if (state.me) state.me.settings = saved;
      form.showStatus("Display name saved.", "success");
      // The top bar shows initials from the name.
      document.querySelectorAll(".menu-user-name").forEach((el) => {
        el.textContent = value.trim() || user.email;
      });
    },
  });
  const verified = user.emailVerified;
  return card({ title: "Profile", id: "profile" },
    h("dl", { class: "details" },
      h("div", {}, h("dt", {}, "Email"), h("dd", {}, user.email)),
      h("div", {}, h("dt", {}, "Email status"), h("dd", {}, verified ? chip("Verified", "success") : chip("Not verified", "warning"))),
      h("div", {}, h("dt", {}, "Member since"), h("dd", {}, longDate(user.createdAt)))),
    verified ? null : h("div", { class: "subsection" }, h("p", { class: "muted small" }, "Didn't get the verification email?"), resendSection({ compact: true })),
    verified ? null : h("div", { class: "subsection" }, changeEmailForm(user).el),
    h("div", { class: "subsection" }, form.el));
}

/** While the address is unverified (a typo, or the desktop owner's placeholder), it can be changed. */
function changeEmailForm(user) {
  const form = createForm({
    fields: [{ name: "newEmail", label: "Change email address", type: "email", autocomplete: "email",
      placeholder: "you@example.com", hint: "Allowed until the address is verified. We send a verification link to the new one.",
      validate: validators.email }],
    submitLabel: "Change email",
    busyLabel: "Saving…",
    block: false,
    submitVariant: "secondary",
    fieldErrors: { USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL: "newEmail", EMAIL_IS_THE_SAME: "newEmail", INVALID_EMAIL: "newEmail" },
    errorOverrides: { EMAIL_IS_THE_SAME: "That is already your email address." },
    fallbackError: "Could not change your email address.",
    onSubmit: async ({ newEmail }) => {
      const address = newEmail.trim();
      await api("/auth/change-email", { method: "POST", body: { newEmail: address, callbackURL: "/auth/verify-email" } });
      invalidate("me");
      flash(`Your email address is now ${address}. We sent a verification link to it.`, "success");
      reload();
    },
  });
  form.fields.newEmail.input.value = user.email.endsWith("@localhost") ? "" : user.email;
  return form;
}

/**
 * Change the password; an account created without one (magic link, Google, the desktop owner) sets
 * one instead. The server says which applies, so a wrong first guess switches the form.
 */
function passwordCard(user) {
  const slot = h("div", {});
  const changeForm = () => createForm({
    fields: [
      { name: "currentPassword", label: "Current password", type: "password", autocomplete: "current-password",
        validate: validators.required("Current password is required") },
      { name: "newPassword", label: "New password", type: "password", autocomplete: "new-password",
        placeholder: "At least 8 characters", validate: validators.password },
      { name: "confirm", label: "Confirm new password", type: "password", autocomplete: "new-password",
        validate: validators.matches("newPassword") },
    ],
    submitLabel: "Change password",
    busyLabel: "Changing…",
    block: false,
    fallbackError: "Failed to change password",
    fieldErrors: {
      INVALID_PASSWORD: "currentPassword",
      INVALID_EMAIL_OR_PASSWORD: "currentPassword",
      WEAK_PASSWORD: "newPassword",
      PASSWORD_TOO_SHORT: "newPassword",
      PASSWORD_TOO_LONG: "newPassword",
    },
    errorOverrides: { INVALID_EMAIL_OR_PASSWORD: "The current password is incorrect." },
    onSubmit: async ({ currentPassword, newPassword }, form) => {
      try {
        await api("/auth/change-password", {
          method: "POST",
          body: { currentPassword, newPassword, revokeOtherSessions: true },
        });
      } catch (err) {
        if (err && err.code === "CREDENTIAL_ACCOUNT_NOT_FOUND") {
          show("set", "This account has no password yet. Set one below.");
          return;
        }
        throw err;
      }
      form.el.reset();
      form.showStatus("Password changed successfully. Your other sessions were signed out.", "success");
    },
  });
  const setForm = () => createForm({
    fields: [
      { name: "newPassword", label: "New password", type: "password", autocomplete: "new-password",
        placeholder: "At least 8 characters", validate: validators.password },
      { name: "confirm", label: "Confirm new password", type: "password", autocomplete: "new-password",
        validate: validators.matches("newPassword") },
    ],
    submitLabel: "Set password",
    busyLabel: "Saving…",
    block: false,
    fallbackError: "Failed to set the password",
    fieldErrors: { WEAK_PASSWORD: "newPassword", PASSWORD_TOO_SHORT: "newPassword", PASSWORD_TOO_LONG: "newPassword" },
    onSubmit: async ({ newPassword }, form) => {
      try {
        await api("/auth/set-password", { method: "POST", body: { newPassword } });
      } catch (err) {
        if (err && err.code === "USER_ALREADY_HAS_PASSWORD") {
          show("change", "This account already has a password. Change it below.");
          return;
        }
        throw err;
      }
      form.el.reset();
      show("change", "Password set. You can now sign in with your email and password.", "success");
    },
  });
  const show = (mode, message, kind = "info") => {
    const form = mode === "set" ? setForm() : changeForm();
    slot.replaceChildren(form.el);
    if (message) {
      form.showStatus(message, kind);
      Object.values(form.fields)[0].input.focus();
    }
  };
  // The desktop owner starts without a password; anyone else most likely has one.
  show(user.email.endsWith("@localhost") ? "set" : "change");
  return card({ title: "Password", id: "password", description: "Changing it signs out every other session." }, slot);
}

function sessionsCard(data) {
  const alert = liveRegion("error");
  const status = liveRegion("status");
  if (data && data.error) {
    return card({ title: "Sessions", id: "sessions" }, notice("error", `Could not load your sessions. ${errorMessage(data.error)}`));
  }
  const list = Array.isArray(data) ? data : (data && (data.sessions || data.data)) || [];
  const current = state.session && state.session.session;
  const isCurrent = (s) => current && ((s.id && s.id === current.id) || (s.token && s.token === current.token));
  const sorted = [...list].sort((a, b) => (isCurrent(b) ? 1 : 0) - (isCurrent(a) ? 1 : 0)
    || String(b.updatedAt || b.createdAt).localeCompare(String(a.updatedAt || a.createdAt)));
  const rows = h("ul", { class: "rows", "aria-label": "Sessions" }, sorted.map((s) => {
    const here = isCurrent(s);
    const revoke = here ? null : button("Revoke", { variant: "danger-ghost", size: "sm", "aria-label": `Revoke session: ${device(s.userAgent)}` });
    const li = h("li", { class: "row" },
      h("div", { class: "row-main" },
        h("span", { class: "row-title" }, device(s.userAgent), here ? chip("This device", "accent") : null),
        h("span", { class: "row-sub" }, [s.ipAddress, `Signed in ${relativeTime(s.createdAt)}`, `expires ${dateTime(s.expiresAt)}`].filter(Boolean).join(" · "))),
      h("div", { class: "row-actions" }, revoke));
    if (revoke) {
      revoke.addEventListener("click", async () => {
        alert.clear();
        try {
          await withBusy(revoke, "Revoking…", () => api("/auth/revoke-session", { method: "POST", body: { token: s.token || s.id } }));
          li.remove();
          status.show("Session revoked.", "success");
          rows.closest(".card").querySelector("h2").focus();
        } catch (err) {
          alert.show(errorMessage(err, "Could not revoke the session."), "error");
        }
      });
    }
    return li;
  }));
  const others = sorted.filter((s) => !isCurrent(s)).length;
  const revokeOthers = button("Sign out other sessions", { variant: "secondary", disabled: others === 0 });
  revokeOthers.addEventListener("click", async () => {
    alert.clear();
    try {
      await withBusy(revokeOthers, "Signing out…", () => api("/auth/revoke-other-sessions", { method: "POST", body: {} }));
      [...rows.children].forEach((li) => {
        if (li.querySelector("button")) li.remove();
      });
      revokeOthers.disabled = true;
      status.show("Other sessions were signed out.", "success");
    } catch (err) {
      alert.show(errorMessage(err, "Could not sign out the other sessions."), "error");
    }
  });
  const heading = card({ title: "Sessions", id: "sessions", description: "Devices where you are signed in." },
    alert.el, status.el, rows, h("div", { class: "form-actions" }, revokeOthers));
  heading.querySelector("h2").setAttribute("tabindex", "-1");
  return heading;
}

function deleteCard(user) {
  const del = button("Delete account", { variant: "danger" });
  del.addEventListener("click", () => confirmDialog({
    title: "Delete your account?",
    body: h("p", {}, "This permanently deletes your account and signs you out. Workspaces you own alone are deleted too, unless an editor can take them over. This cannot be undone."),
    confirmText: "DELETE",
    confirmFieldLabel: "Type DELETE to confirm",
    confirmLabel: "Delete my account",
    busyLabel: "Deleting…",
    onConfirm: async () => {
      try {
        await api("/api/v1/me", { method: "DELETE", body: { confirm: user.email } });
      } catch (err) {
        if (err.code === "last_owner" || /sole owner/i.test(err.message || "")) {
          throw "You are the only owner of a shared workspace. Transfer ownership or delete those workspaces first.";
        }
        throw err;
      }
      clearCache();
      await refreshSession().catch(() => null);
      flash("Your account was deleted.", "success");
      navigate("/auth/signin", { replace: true });
    },
  }));
  return card({ title: "Delete account", id: "danger-zone", className: "card-danger" },
    h("div", { class: "danger-row" },
      h("div", {}, h("h3", { class: "danger-title" }, "Delete your account"),
        h("p", { class: "muted small" }, "Your account, sessions and personal settings are removed.")),
      del));
}

/** What this server runs: core's contract version and each installed plugin with its capabilities. */
function aboutCard(capabilities) {
  if (capabilities.error) {
    return card({ title: "About this server", id: "about" },
      notice("error", `Could not load the server's capabilities. ${errorMessage(capabilities.error)}`));
  }
  const plugins = Object.entries(capabilities).filter(([name]) => !CORE_CAPABILITIES.has(name));
  const show = (value) => (typeof value === "object" && value !== null ? JSON.stringify(value) : String(value));
  return card({ title: "About this server", id: "about", description: `boring-core contract ${capabilities.core?.version ?? "?"}` },
    plugins.length
      ? h("ul", { class: "plugin-list", "aria-label": "Plugins" }, plugins.map(([name, caps]) => h("li", { class: "plugin-item" },
        h("h3", { class: "subheading" }, name, " ", chip("plugin", "accent")),
        caps && typeof caps === "object"
          ? h("dl", { class: "plugin-capabilities" }, Object.entries(caps).map(([key, value]) =>
            h("div", {}, h("dt", {}, key), h("dd", { class: "mono" }, show(value)))))
          : h("p", { class: "muted small" }, show(caps)))))
      : h("p", { class: "muted" }, "No plugins are installed."));
}
