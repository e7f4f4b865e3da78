// Home (→ the default workspace) and the workspace overview, plus the frame every workspace page
// shares: identity check, header with role, and the section tabs.

import { errorMessage, HttpError } from "../api.js";
import { h, icon } from "../dom.js";
import { longDate } from "../format.js";
import { appLayout, errorCard, openCreateWorkspace } from "../layout.js";
import { state, workspaceDetail, workspaces } from "../state.js";
import { button, card, chip, linkButton, notice } from "../ui.js";
import { resendSection } from "./links.js";

export const ROLE_LABELS = { owner: "Owner", editor: "Editor", viewer: "Viewer" };
const ROLE_LEVEL = { viewer: 0, editor: 1, owner: 2 };

export function atLeast(role, minimum) {
  return (ROLE_LEVEL[role] ?? -1) >= ROLE_LEVEL[minimum];
}

export async function homePage() {
  const list = await workspaces({ force: true });
  const target = list.find((w) => w.isDefault) || list[0];
  if (target) return { redirect: `/workspace/${encodeURIComponent(target.id)}` };
  return appLayout({ title: "Workspaces" },
    h("div", { class: "empty-state" },
      h("h1", {}, "No workspace yet"),
      h("p", { class: "muted" }, "Workspaces hold your projects, members and settings."),
      button("Create your first workspace", { iconName: "plus", onClick: openCreateWorkspace })));
}

const SECTIONS = [
  { id: "overview", label: "Overview", path: "" },
  { id: "members", label: "Members", path: "/members" },
  { id: "invites", label: "Invites", path: "/invites" },
  { id: "settings", label: "Settings", path: "/settings" },
  { id: "audit", label: "Audit log", path: "/audit", minRole: "owner" },
];

function workspaceError(err) {
  if (!(err instanceof HttpError)) throw err;
  if (err.status === 404 || err.code === "not_found") {
    return { title: "Workspace not found", message: errorMessage(err, "Workspace not found") };
  }
  if (err.status === 403 || err.code === "forbidden" || err.code === "not_member") {
    return { title: "Workspace unavailable", message: errorMessage(err, "Not a member of this workspace") };
  }
  if (err.status === 400 && err.code === "validation_failed") {
    return { title: "Workspace not found", message: "This is not a valid workspace address." };
  }
  return { title: "Workspace failed to open", message: errorMessage(err) };
}

/**
 * Load the workspace of the route, then build the page with `build({workspace, role})`.
 * Errors (not found, not a member…) become a full-page card inside the app frame.
 */
export async function workspaceScreen(ctx, section, build) {
  const id = ctx.params.id;
  let detail;
  try {
    detail = await workspaceDetail(id, { force: true });
  } catch (err) {
    const { title, message } = workspaceError(err);
    return appLayout({ title }, errorCard({
      title,
      message,
      requestId: err.requestId,
      actions: [linkButton("Go home", "/", { variant: "primary" })],
    }));
  }
  const { workspace, role } = detail;
  const base = `/workspace/${encodeURIComponent(workspace.id)}`;
  const current = SECTIONS.find((s) => s.id === section);
  const header = h("div", { class: "page-header" },
    h("span", { class: "ws-avatar", "aria-hidden": "true" }, workspace.name.trim().charAt(0).toUpperCase() || "W"),
    h("div", { class: "page-header-text" },
      h("p", { class: "eyebrow" }, "Workspace"),
      h("h1", { class: "page-title" }, section === "overview" ? workspace.name : `${current.label}`),
      h("div", { class: "chips" },
        section === "overview" ? null : h("span", { class: "muted" }, workspace.name),
        chip(ROLE_LABELS[role] || role, role === "owner" ? "accent" : "neutral", { "data-role": role }),
        workspace.isDefault ? chip("Default", "outline") : null)));
  const tabs = h("nav", { class: "tabs", "aria-label": "Workspace sections" },
    SECTIONS.filter((s) => !s.minRole || atLeast(role, s.minRole) || s.id === section).map((s) => h("a", {
      class: ["tab", s.id === section && "tab-active"],
      href: base + s.path,
      "aria-current": s.id === section ? "page" : undefined,
    }, s.label)));
  const content = await build(detail, ctx);
  const title = section === "overview" ? workspace.name : `${current.label} · ${workspace.name}`;
  return appLayout({ title, workspaceId: workspace.id }, header, tabs, h("div", { class: "section-stack" }, content));
}

export async function workspacePage(ctx) {
  return workspaceScreen(ctx, "overview", ({ workspace, role }) => {
    const base = `/workspace/${encodeURIComponent(workspace.id)}`;
    const user = state.session && state.session.user;
    const verify = user && user.emailVerified === false
      ? notice("warning",
        h("p", {}, h("strong", {}, "Verify your email address. "), `${user.email} is not verified yet. Use the link we mailed, or `,
          h("a", { href: "/me#profile" }, "change the address"), "."),
        resendSection({ compact: true }))
      : null;
    const shortcut = (href, iconName, title, text) => h("a", { class: "link-card", href },
      h("span", { class: "link-card-icon", "aria-hidden": "true" }, icon(iconName, { size: 18 })),
      h("span", { class: "link-card-text" }, h("span", { class: "link-card-title" }, title), h("span", { class: "link-card-desc" }, text)));
    return [
      verify,
      h("div", { class: "link-grid" },
        shortcut(`${base}/members`, "users", "Members", "See who has access and manage their roles."),
        shortcut(`${base}/invites`, "mail", "Invites", atLeast(role, "owner") ? "Invite people by email." : "Pending invitations."),
        shortcut(`${base}/settings`, "settings", "Settings", "Rename, secrets and deletion.")),
      card({ title: "Details" },
        h("dl", { class: "details" },
          h("div", {}, h("dt", {}, "Name"), h("dd", {}, workspace.name)),
          h("div", {}, h("dt", {}, "Your role"), h("dd", {}, ROLE_LABELS[role] || role)),
          h("div", {}, h("dt", {}, "Created"), h("dd", {}, longDate(workspace.createdAt))),
          h("div", {}, h("dt", {}, "Workspace ID"), h("dd", {}, h("code", { class: "mono" }, workspace.id))))),
    ];
  });
}
