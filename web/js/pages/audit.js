// The audit log: a workspace's events (owners, a tab on the workspace page) and the signed-in user's
// own activity (a card in account settings). Both read the same paged shape: {events, nextCursor}.

import { api, errorMessage } from "../api.js";
import { h } from "../dom.js";
import { dateTime, money } from "../format.js";
import { button, card, chip, liveRegion, notice, withBusy } from "../ui.js";
import { atLeast, workspaceScreen } from "./workspace.js";

const PAGE = 25;

const ACTION_LABELS = {
  "workspace.create": "Workspace created",
  "workspace.update": "Workspace renamed",
  "workspace.delete": "Workspace deleted",
  "member.add": "Member added",
  "member.role_change": "Role changed",
  "member.remove": "Member removed",
  "invite.create": "Invite sent",
  "invite.revoke": "Invite revoked",
  "invite.accept": "Invite accepted",
  "settings.update": "Settings updated",
  "settings.delete": "Setting deleted",
  "runtime.retry": "Provisioning retried",
  "auth.sign_up": "Account created",
  "auth.sign_in": "Signed in",
  "auth.sign_in_failed": "Failed sign-in",
  "auth.sign_out": "Signed out",
  "auth.password_change": "Password changed",
  "auth.password_reset": "Password reset",
  "auth.email_verify": "Email verified",
  "auth.session_revoke": "Session revoked",
  "account.delete": "Account deleted",
  "credits.grant": "Credits granted",
  "credits.purchase": "Credits purchased",
  "credits.refund": "Credits refunded",
};

function actor(e) {
  if (e.actorEmail) return e.actorEmail;
  if (e.actorDeleted) return "Deleted user";
  if (e.actorId) return "Unknown user";
  return e.action === "auth.sign_in_failed" ? "Unknown" : "System"; // who tried is not known
}

/** A one-line summary of the event's details (roles, keys, amounts); never values. */
function summary(e) {
  const d = e.details || {};
  const parts = [];
  if (d.oldRole && d.newRole) parts.push(`${d.oldRole} → ${d.newRole}`);
  else if (d.role) parts.push(`role ${d.role}`);
  if (d.email) parts.push(d.email);
  if (d.oldName && d.newName) parts.push(`“${d.oldName}” → “${d.newName}”`);
  else if (d.name) parts.push(`“${d.name}”`);
  if (Array.isArray(d.keys)) parts.push(d.keys.join(", "));
  if (d.key) parts.push(d.key);
  if (typeof d.amountMicros === "number") parts.push(money(d.amountMicros));
  if (d.method) parts.push(`via ${String(d.method).replace("_", " ")}`);
  if (d.scope) parts.push(d.scope === "all" ? "all sessions" : "other sessions");
  return parts.join(" · ");
}

function rowOf(e) {
  return h("tr", { "data-action": e.action },
    h("td", { class: "muted nowrap" }, h("time", { datetime: e.createdAt }, dateTime(e.createdAt))),
    h("td", {}, ACTION_LABELS[e.action] || e.action, " ",
      e.action === "auth.sign_in_failed" ? chip("attention", "outline") : null),
    h("td", {}, actor(e)),
    h("td", { class: "muted" }, [summary(e), e.ip].filter(Boolean).join(" · ") || "—"));
}

/** The events table with a "Load more" button that follows `nextCursor`. */
function eventLog(path, first, { label }) {
  const alert = liveRegion("error");
  const status = liveRegion("status");
  const body = h("tbody", {}, first.events.map(rowOf));
  // The wrapper scrolls sideways on a narrow screen: focusable, so a keyboard can scroll it too.
  const table = h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": `${label} (scrolls)` },
    h("table", { class: "table", "aria-label": label },
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "When"), h("th", { scope: "col" }, "What"),
      h("th", { scope: "col" }, "Who"), h("th", { scope: "col" }, "Details"))),
    body));
  let cursor = first.nextCursor;
  const more = button("Load more", { variant: "secondary", hidden: !cursor });
  more.addEventListener("click", async () => {
    alert.clear();
    try {
      const next = await withBusy(more, "Loading…", () => api(`${path}?limit=${PAGE}&before=${encodeURIComponent(cursor)}`));
      body.append(...next.events.map(rowOf));
      cursor = next.nextCursor;
      more.hidden = !cursor;
      status.show(`${next.events.length} more events loaded.`, "info");
    } catch (err) {
      alert.show(errorMessage(err, "Could not load more events."), "error");
    }
  });
  if (!first.events.length) return [h("p", { class: "empty" }, "Nothing recorded yet.")];
  return [alert.el, status.el, table, h("div", { class: "form-actions" }, more)];
}

async function firstPage(path, signal) {
  return api(`${path}?limit=${PAGE}`, { signal }).catch((err) => ({ error: err }));
}

export async function workspaceAuditPage(ctx) {
  return workspaceScreen(ctx, "audit", async ({ workspace, role }) => {
    if (!atLeast(role, "owner")) {
      return notice("info", "Only owners of this workspace can see its audit log.");
    }
    const path = `/api/v1/workspaces/${encodeURIComponent(workspace.id)}/audit`;
    const first = await firstPage(path, ctx.signal);
    if (first.error) return notice("error", `Could not load the audit log. ${errorMessage(first.error)}`);
    return card({ title: "Audit log", id: "audit", description: "Who changed what in this workspace, newest first." },
      ...eventLog(path, first, { label: "Workspace audit log" }));
  });
}

/** Account settings: the signed-in user's own activity. */
export async function activityCard(signal) {
  const path = "/api/v1/me/activity";
  const first = await firstPage(path, signal);
  if (first.error) {
    return card({ title: "Activity", id: "activity" }, notice("error", `Could not load your activity. ${errorMessage(first.error)}`));
  }
  return card({ title: "Activity", id: "activity", description: "Sign-ins and changes to your account, newest first." },
    ...eventLog(path, first, { label: "Your account activity" }));
}
