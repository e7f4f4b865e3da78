// Page frames: the auth card layout, the signed-in app frame (top bar with the workspace switcher,
// credits badge, theme toggle and user menu), and the full-page error screens.

import { api, errorMessage, requestIdOf } from "./api.js";
import { h, icon } from "./dom.js";
import { money } from "./format.js";
import { navigate } from "./router.js";
import {
  appName, cached, displayName, invalidate, refreshSession, signedIn, state, takeFlash, userEmail, workspaces,
} from "./state.js";
import { cycle, preference, setPreference, THEME_LABELS } from "./theme.js";
import { avatar, button, formDialog, initials, linkButton, menu, notice } from "./ui.js";

const THEME_ICONS = { light: "sun", dark: "moon", system: "monitor" };
const LAST_WORKSPACE = "localcore:last-workspace";

/**
 * The app's logo (config.appLogo) or its initial in a square. Always shown beside the app's name, so
 * decorative: the logo has empty alt text (the name would be read twice) and the initial is hidden.
 */
export function brandMark({ size = "md" } = {}) {
  const logo = state.config && state.config.appLogo;
  const fallback = h("span", { class: ["brand-mark", `brand-mark-${size}`], "aria-hidden": "true" },
    appName().trim().charAt(0).toUpperCase() || "L");
  if (!logo) return fallback;
  const img = h("img", { class: ["brand-logo", `brand-logo-${size}`], src: logo, alt: "" });
  img.addEventListener("error", () => img.replaceWith(fallback), { once: true });
  return img;
}

export function themeToggle() {
  const pref = preference();
  const btn = h("button", {
    type: "button",
    class: "icon-btn",
    "data-theme-toggle": "",
    title: `Theme: ${THEME_LABELS[pref]}`,
  });
  renderToggle(btn, pref);
  btn.addEventListener("click", () => cycle());
  return btn;
}

function renderToggle(btn, pref) {
  btn.replaceChildren(icon(THEME_ICONS[pref]), h("span", { class: "sr-only" }, `Theme: ${THEME_LABELS[pref]}`));
  btn.title = `Theme: ${THEME_LABELS[pref]} (click to change)`;
  btn.dataset.themePreference = pref;
}

/** Keep every theme control on the page in step (toggle buttons and menu radios). */
export function syncThemeControls(pref) {
  document.querySelectorAll("[data-theme-toggle]").forEach((btn) => renderToggle(btn, pref));
  document.querySelectorAll("[data-theme-option]").forEach((item) => {
    const on = item.dataset.themeOption === pref;
    item.setAttribute("aria-checked", String(on));
    if (on) item.dataset.current = "true";
    else delete item.dataset.current;
  });
}

function flashNotice() {
  const message = takeFlash();
  return message ? notice(message.kind, message.message) : null;
}

/** A centred card for the signed-out pages. `title` is the page's h1. */
export function authLayout({ title, description, footer = null, wide = false }, ...content) {
  const screen = h("div", { class: "auth-page" },
    h("div", { class: "auth-topbar" }, themeToggle()),
    h("main", { id: "main", class: "auth-main", tabindex: "-1" },
      h("a", { class: "auth-brand", href: "/" }, brandMark({ size: "lg" }), h("span", { class: "auth-brand-name" }, appName())),
      h("div", { class: ["card", "auth-card", wide && "auth-card-wide"] },
        h("div", { class: "card-header" }, h("div", { class: "card-heading" },
          h("h1", { class: "card-title" }, title),
          description ? h("p", { class: "card-desc" }, description) : null)),
        h("div", { class: "card-body" }, flashNotice(), content)),
      footer ? h("div", { class: "auth-footer-links" }, footer) : null),
    state.devMail
      ? h("footer", { class: "auth-footer" }, h("a", { href: "/dev/mail" }, icon("inbox", { size: 14 }), "Dev mailbox"))
      : null);
  screen.dataset.title = title;
  return screen;
}

/** The signed-in frame. `workspaceId`: the workspace this page is about (for the switcher). */
/** A wide page that anyone may open: the app layout when signed in, else a top bar with "Sign in". */
export async function publicWidePage(title, ...content) {
  if (signedIn()) return appLayout({ title, width: "wide" }, ...content);
  const screen = h("div", { class: "app" },
    h("header", { class: "topbar", "aria-label": "App top bar" },
      h("div", { class: "topbar-left" },
        h("a", { class: "topbar-brand", href: "/" }, brandMark({ size: "sm" }), h("span", { class: "topbar-name" }, appName()))),
      h("div", { class: "topbar-right" }, themeToggle(), h("a", { class: "btn btn-secondary btn-sm", href: "/auth/signin" }, h("span", { class: "btn-label" }, "Sign in")))),
    h("main", { id: "main", class: "main main-wide", tabindex: "-1" }, ...content));
  screen.dataset.title = title;
  return screen;
}

export async function appLayout({ title, workspaceId = null, width = "normal" }, ...content) {
  if (workspaceId) {
    try {
      window.sessionStorage.setItem(LAST_WORKSPACE, workspaceId);
    } catch {
      // Not remembered; the default workspace is used instead.
    }
  }
  const list = await workspaces().catch(() => null);
  const screen = h("div", { class: "app" },
    h("header", { class: "topbar", "aria-label": "App top bar" },
      h("div", { class: "topbar-left" },
        h("a", { class: "topbar-brand", href: "/" }, brandMark({ size: "sm" }), h("span", { class: "topbar-name" }, appName())),
        h("span", { class: "topbar-sep", "aria-hidden": "true" }, "/"),
        workspaceSwitcher(list, workspaceId || rememberedWorkspace(list))),
      h("div", { class: "topbar-right" }, creditsBadge(), themeToggle(), userMenu())),
    h("main", { id: "main", class: ["main", `main-${width}`], tabindex: "-1" }, flashNotice(), content));
  screen.dataset.title = title;
  return screen;
}

function rememberedWorkspace(list) {
  let id = null;
  try {
    id = window.sessionStorage.getItem(LAST_WORKSPACE);
  } catch {
    id = null;
  }
  if (list && id && list.some((w) => w.id === id)) return id;
  const fallback = list && (list.find((w) => w.isDefault) || list[0]);
  return fallback ? fallback.id : null;
}

function workspaceSwitcher(list, currentId) {
  if (!list) return h("span", { class: "topbar-muted" }, "Workspaces unavailable");
  if (!list.length) {
    return button("Create your first workspace", { variant: "secondary", size: "sm", iconName: "plus", onClick: openCreateWorkspace });
  }
  const current = list.find((w) => w.id === currentId);
  const name = current ? current.name : "Select workspace";
  // The accessible name starts with the visible name (WCAG 2.5.3: a speech user says what they see).
  // The initial is drawn by CSS from data-initial: a decorative badge, not part of the label.
  const initial = (current ? current.name : "W").trim().charAt(0).toUpperCase() || "W";
  const trigger = h("button", { type: "button", class: "switcher", "aria-label": `${name}, workspace menu` },
    h("span", { class: "switcher-initial", "aria-hidden": "true", "data-initial": initial }),
    h("span", { class: "switcher-name" }, name),
    icon("chevrons", { size: 14, className: "switcher-chevron" }));
  const base = current ? `/workspace/${encodeURIComponent(current.id)}` : null;
  return menu({
    trigger,
    label: "Workspaces",
    items: [
      { heading: "Workspaces" },
      ...list.map((w) => ({
        label: w.name,
        href: `/workspace/${encodeURIComponent(w.id)}`,
        current: w.id === currentId,
        description: w.isDefault ? "Default" : undefined,
      })),
      { separator: true },
      { label: "Create workspace", description: "Start a clean project space", iconName: "plus", onSelect: openCreateWorkspace },
      base && { label: "Members", iconName: "users", href: `${base}/members` },
      base && { label: "Invites", iconName: "mail", href: `${base}/invites` },
      base && { label: "Workspace settings", description: "Rename, secrets, deletion", iconName: "settings", href: `${base}/settings` },
    ],
  }).el;
}

export function openCreateWorkspace() {
  formDialog({
    title: "Create workspace",
    description: "Choose a name for your new workspace.",
    submitLabel: "Create workspace",
    busyLabel: "Creating…",
    fields: [{
      name: "name",
      label: "Name",
      placeholder: "Default workspace",
      autocomplete: "off",
      hint: "Up to 100 characters.",
      validate: (v) => {
        const name = String(v).trim();
        if (!name) return "Workspace name is required";
        if (name.length > 100) return "Workspace name must be 100 characters or fewer";
        return null;
      },
    }],
    fallbackError: "Unable to create workspace.",
    onSubmit: async ({ name }) => {
      const data = await api("/api/v1/workspaces", { method: "POST", body: { name: name.trim() } });
      invalidate("workspaces");
      navigate(`/workspace/${encodeURIComponent(data.workspace.id)}`);
    },
  });
}

function creditsBadge() {
  const slot = h("span", { class: "credits-slot" });
  cached("credits:balance", () => api("/api/credits/balance"), { ttl: 30_000 })
    .then((balance) => {
      if (!balance || balance.enabled === false) return;
      const debt = Number(balance.debtMicros || 0);
      const amount = debt > 0 ? -debt : Number(balance.remainingMicros || 0);
      const low = debt > 0 || amount <= 500_000;
      slot.replaceWith(h("a", {
        class: ["credits-badge", low && "credits-badge-low"],
        href: "/credits",
        "data-low": String(low),
        "data-debt": String(debt > 0),
        "aria-label": debt > 0 ? `Credits: ${money(amount)} owed` : `Credits: ${money(amount)} remaining`,
      }, icon("card", { size: 14 }), h("span", { class: "tabular" }, money(amount))));
    })
    .catch(() => {
      // Credits off or unavailable: no badge.
    });
  return slot;
}

function userMenu() {
  const name = displayName();
  const email = userEmail();
  // The visible label is the avatar's initials: the accessible name starts with them (WCAG 2.5.3).
  const trigger = h("button", { type: "button", class: "user-trigger", "aria-label": `${initials(name, email)}, user menu` },
    avatar(name, email, { size: "sm" }), icon("chevronDown", { size: 14 }));
  const pref = preference();
  return menu({
    trigger,
    align: "end",
    label: "User menu",
    items: [
      { node: h("div", { class: "menu-user", role: "presentation" }, avatar(name, email),
        h("div", { class: "menu-user-text" }, h("span", { class: "menu-user-name" }, name || "Signed in"),
          h("span", { class: "menu-user-email" }, email))) },
      { separator: true },
      { heading: "Theme" },
      ...["light", "dark", "system"].map((value) => ({
        label: THEME_LABELS[value],
        iconName: THEME_ICONS[value],
        checked: value === pref,
        keepOpen: true,
        dataset: { themeOption: value },
        onSelect: () => setPreference(value),
      })),
      { separator: true },
      { label: "Account settings", description: "Profile, password and sessions", iconName: "user", href: "/me" },
      { label: "Credits", description: "Balance and top-ups", iconName: "card", href: "/credits" },
      state.devMail ? { label: "Dev mailbox", description: "Mail sent by this server", iconName: "inbox", href: "/dev/mail" } : null,
      { separator: true },
      { label: "Sign out", iconName: "logOut", danger: true, onSelect: () => signOut() },
    ],
  }).el;
}

export async function signOut() {
  try {
    await api("/auth/sign-out", { method: "POST", body: {} });
  } catch {
    // Navigate to sign-in regardless; the session check there is authoritative.
  }
  await refreshSession().catch(() => null);
  navigate("/auth/signin");
}

/**
 * A page-level error card: workspace not found, unavailable, cannot reach server… `standalone`: the
 * whole screen (no app frame around it), so it is the page's main landmark and the skip link's target.
 */
export function errorCard({ title, message, requestId, actions = [], standalone = false }) {
  const landmark = standalone ? { id: "main", tabindex: "-1" } : {};
  return h(standalone ? "main" : "div", { class: "error-screen", ...landmark },
    h("div", { class: "card error-card" },
      h("div", { class: "error-icon", "aria-hidden": "true" }, icon("alert", { size: 22 })),
      h("h1", { class: "card-title" }, title),
      message ? h("p", { class: "card-desc" }, message) : null,
      requestId ? h("p", { class: "request-id" }, "Request ID: ", h("code", {}, requestId)) : null,
      actions.length ? h("div", { class: "error-actions" }, actions) : null));
}

/** Shown when /api/v1/config never answered: nothing else can render without it. */
export function cannotReachServer(err, onRetry) {
  const screen = errorCard({
    title: "Cannot reach server",
    message: errorMessage(err, "Failed to load config"),
    requestId: requestIdOf(err),
    actions: [button("Retry", { iconName: "refresh", onClick: onRetry })],
    standalone: true,
  });
  screen.dataset.title = "Cannot reach server";
  return screen;
}

export function somethingWentWrong(err) {
  const screen = errorCard({
    title: "Something went wrong",
    message: err && err.message ? err.message : "An unexpected error occurred.",
    actions: [button("Reload page", { iconName: "refresh", onClick: () => window.location.reload() })],
    standalone: true,
  });
  screen.dataset.title = "Something went wrong";
  return screen;
}

export function notFoundScreen() {
  const screen = errorCard({
    title: "Page not found",
    message: "There is nothing at this address.",
    actions: [linkButton("Go home", "/", { variant: "primary" })],
    standalone: true,
  });
  screen.dataset.title = "Page not found";
  return screen;
}


