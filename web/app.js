// Boot: config (with retries) → session → router. The route table and the session gate live here.

import { HttpError } from "./js/api.js";
import { replace } from "./js/dom.js";
import { cannotReachServer, notFoundScreen, somethingWentWrong, syncThemeControls } from "./js/layout.js";
import { accountPage } from "./js/pages/account.js";
import { workspaceAuditPage } from "./js/pages/audit.js";
import { forgotPasswordPage, authErrorPage, resetPasswordPage, signInPage, signUpPage } from "./js/pages/auth.js";
import { creditsPage, devCheckoutPage } from "./js/pages/credits.js";
import { devMailPage } from "./js/pages/devmail.js";
import { invitePage } from "./js/pages/invite.js";
import { bootstrapPage, magicLinkPage, verifyEmailPage } from "./js/pages/links.js";
import { invitesPage, membersPage } from "./js/pages/members.js";
import { homePage, workspacePage } from "./js/pages/workspace.js";
import { workspaceSettingsPage } from "./js/pages/workspace-settings.js";
import { notFound, route, safeRedirect, startRouter } from "./js/router.js";
import { clearCache, loadConfig, probeDevMail, refreshSession, signedIn, state } from "./js/state.js";
import { initTheme, onThemeChange } from "./js/theme.js";

const PUBLIC = { isPublic: true };

route("/auth/signin", signInPage, PUBLIC);
route("/auth/signup", signUpPage, PUBLIC);
route("/auth/forgot-password", forgotPasswordPage, PUBLIC);
route("/auth/reset-password", resetPasswordPage, PUBLIC);
route("/auth/verify-email", verifyEmailPage, PUBLIC);
route("/auth/magic-link/verify", magicLinkPage, PUBLIC);
route("/auth/bootstrap", bootstrapPage, PUBLIC);
route("/auth/error", authErrorPage, PUBLIC);
route("/invites/:token", invitePage, PUBLIC);
route("/dev/mail", devMailPage, PUBLIC);
route("/api/docs", async (ctx) => (await import("./js/pages/apidocs.js")).apiDocsPage(ctx), PUBLIC);
route("/", homePage);
route("/workspace/:id", workspacePage);
route("/workspace/:id/members", membersPage);
route("/workspace/:id/invites", invitesPage);
route("/workspace/:id/settings", workspaceSettingsPage);
route("/workspace/:id/audit", workspaceAuditPage);
// Upstream's short form.
route("/w/:id", (ctx) => ({ redirect: `/workspace/${encodeURIComponent(ctx.params.id)}` }));
route("/w/:id/:section", (ctx) => ({
  redirect: `/workspace/${encodeURIComponent(ctx.params.id)}/${encodeURIComponent(ctx.params.section)}`,
}));
route("/me", accountPage);
route("/credits", creditsPage);
route("/credits/dev-checkout", devCheckoutPage);
notFound(async () => notFoundScreen());

/** The session gate: signed-out visitors of private pages go to sign-in, and back afterwards. */
function beforeRoute({ path, query, hash, isPublic }) {
  if (signedIn() && (path === "/auth/signin" || path === "/auth/signup")) {
    const invite = query.get("invite_token");
    if (invite) return `/invites/${encodeURIComponent(invite)}`;
    return safeRedirect(query.get("redirect"));
  }
  if (!isPublic && !signedIn()) {
    const here = path + (query.toString() ? `?${query}` : "") + hash;
    return `/auth/signin?redirect=${encodeURIComponent(here)}`;
  }
  return null;
}

/** A page failed to load. A 401 means the session ended meanwhile: back to sign-in, then here. */
function onPageError(err) {
  if (err instanceof HttpError && err.status === 401) {
    state.session = null;
    state.me = null;
    clearCache();
    const here = window.location.pathname + window.location.search;
    return { redirect: `/auth/signin?redirect=${encodeURIComponent(here)}` };
  }
  return somethingWentWrong(err);
}

async function boot() {
  const mount = document.getElementById("app");
  initTheme();
  onThemeChange((pref) => syncThemeControls(pref));
  try {
    await loadConfig();
  } catch (err) {
    replace(mount, cannotReachServer(err, () => {
      mount.setAttribute("aria-busy", "true");
      boot();
    }));
    mount.removeAttribute("aria-busy");
    const heading = mount.querySelector("h1");
    heading.setAttribute("tabindex", "-1");
    heading.focus();
    return;
  }
  try {
    await Promise.all([refreshSession(), probeDevMail()]);
    await startRouter({ mount, beforeRoute, onError: onPageError });
  } catch (err) {
    console.error(err);
    replace(mount, somethingWentWrong(err));
    mount.removeAttribute("aria-busy");
  }
}

window.addEventListener("unhandledrejection", (event) => {
  if (event.reason && event.reason.name === "AbortError") event.preventDefault();
});

boot();
