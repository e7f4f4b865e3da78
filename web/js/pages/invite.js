// Accept an invite: /invites/:token (public path; the invite email links here).

import { api, errorMessage, HttpError } from "../api.js";
import { h } from "../dom.js";
import { longDate } from "../format.js";
import { authLayout } from "../layout.js";
import { navigate } from "../router.js";
import { flash, invalidate, signedIn, userEmail } from "../state.js";
import { button, linkButton, liveRegion, notice, withBusy } from "../ui.js";

const ROLE_LABELS = { owner: "Owner", editor: "Editor", viewer: "Viewer" };

const RESOLVE_ERRORS = {
  404: "This invite is no longer valid. It may have been revoked, already used, or never existed.",
  410: "This invite has expired.",
  423: "This invite is temporarily locked after too many failed attempts. Try again later.",
};

const ACCEPT_ERRORS = {
  invite_email_mismatch: "This invite was sent to a different email address. Sign in with that account to accept it.",
  403: "This invite was sent to a different email address. Sign in with that account to accept it.",
  invite_already_accepted: "This invite has already been accepted.",
  409: "This invite has already been accepted.",
  410: "This invite has expired.",
  423: "This invite is temporarily locked after too many failed attempts. Try again later.",
  429: "Too many attempts. Please wait a minute.",
};

export async function invitePage(ctx) {
  const token = ctx.params.token;
  const here = `/invites/${encodeURIComponent(token)}`;
  if (!signedIn()) {
    return authLayout({
      title: "Sign in to accept this invite",
      description: "You need to sign in with the invited email address to join the workspace.",
      footer: ["New here? ", h("a", { href: `/auth/signup?invite_token=${encodeURIComponent(token)}` }, "Create an account")],
    }, linkButton("Sign in", `/auth/signin?redirect=${encodeURIComponent(here)}`, { variant: "primary", block: true }));
  }
  let invite;
  try {
    invite = await api("/api/v1/invites/resolve", { method: "POST", body: { token }, signal: ctx.signal });
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    return authLayout({ title: "Invite unavailable", description: `Signed in as ${userEmail()}.` },
      notice("error", RESOLVE_ERRORS[err.status] || errorMessage(err)),
      linkButton("Go home", "/", { variant: "secondary", block: true }));
  }
  const alert = liveRegion("error");
  const accept = button("Accept invite", { block: true });
  accept.addEventListener("click", async () => {
    alert.clear();
    try {
      const data = await withBusy(accept, "Accepting…", () => api("/api/v1/invites/accept", { method: "POST", body: { token } }));
      invalidate("workspaces");
      invalidate("workspace:");
      const workspace = data && data.workspace;
      flash(`You joined ${workspace ? workspace.name : invite.workspaceName}.`, "success");
      navigate(workspace ? `/workspace/${encodeURIComponent(workspace.id)}` : "/", { replace: true });
    } catch (err) {
      alert.show(ACCEPT_ERRORS[err && err.code] || ACCEPT_ERRORS[err && err.status] || errorMessage(err), "error");
    }
  });
  const role = ROLE_LABELS[invite.role] || invite.role;
  return authLayout({ title: "You've been invited", description: `Signed in as ${userEmail()}.` },
    h("p", { class: "invite-summary" }, "Join ", h("strong", {}, invite.workspaceName), " as ", h("strong", {}, role), "."),
    invite.expiresAt ? h("p", { class: "muted small" }, `This invite expires on ${longDate(invite.expiresAt)}.`) : null,
    alert.el,
    h("div", { class: "button-row" }, linkButton("Decline", "/", { variant: "secondary" }), accept));
}
