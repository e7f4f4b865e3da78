// Members (roles, remove, leave) and invites (send, list, revoke) of one workspace.

import { api, errorMessage } from "../api.js";
import { h, uid } from "../dom.js";
import { shortDate } from "../format.js";
import { navigate } from "../router.js";
import { feature, flash, invalidate, state } from "../state.js";
import { avatar, button, card, chip, confirmDialog, createForm, liveRegion, notice, validators } from "../ui.js";
import { atLeast, ROLE_LABELS, workspaceScreen } from "./workspace.js";

const ROLES = ["owner", "editor", "viewer"];

function wsPath(id, rest = "") {
  return `/api/v1/workspaces/${encodeURIComponent(id)}${rest}`;
}

// --- members ------------------------------------------------------------------------------------

export async function membersPage(ctx) {
  return workspaceScreen(ctx, "members", async ({ workspace, role }) => {
    const data = await api(wsPath(workspace.id, "/members"), { signal: ctx.signal }).catch((err) => ({ error: err }));
    if (data.error) return card({ title: "Members" }, notice("error", `Failed to load members. ${errorMessage(data.error)}`));
    const me = state.session.user.id;
    const isOwner = role === "owner";
    const alert = liveRegion("error");
    const status = liveRegion("status");
    const count = h("span", {});
    const list = h("ul", { class: "rows", "aria-label": "Members" });
    const setCount = () => {
      const n = list.children.length;
      count.textContent = `${workspace.name} · ${n} member${n === 1 ? "" : "s"}`;
    };

    const row = (member) => {
      const user = member.user || { email: member.userId, name: "" };
      const name = user.name || user.email;
      const self = member.userId === me;
      const selectId = uid("role");
      const select = h("select", { id: selectId, class: "input input-sm", disabled: !isOwner || self },
        ROLES.map((r) => h("option", { value: r, selected: r === member.role }, ROLE_LABELS[r])));
      select.addEventListener("change", async () => {
        alert.clear();
        status.clear();
        const previous = member.role;
        select.disabled = true;
        try {
          const res = await api(wsPath(workspace.id, `/members/${encodeURIComponent(member.userId)}/role`), {
            method: "PATCH",
            body: { role: select.value },
          });
          member.role = (res && res.member && res.member.role) || select.value;
          status.show(`${name} is now ${ROLE_LABELS[member.role].toLowerCase()}.`, "success");
        } catch (err) {
          select.value = previous;
          alert.show(errorMessage(err, "Could not change the role.", { last_owner: "Cannot demote: workspace would have no owners." }), "error");
        } finally {
          select.disabled = false;
          select.focus();
        }
      });
      const remove = (isOwner || self)
        ? button(self ? "Leave" : "Remove", { variant: "danger-ghost", size: "sm", "aria-label": self ? "Leave workspace" : `Remove ${name}` })
        : null;
      const li = h("li", { class: "row" },
        avatar(user.name, user.email),
        h("div", { class: "row-main" },
          h("span", { class: "row-title" }, name, self ? h("span", { class: "muted" }, " (you)") : null),
          h("span", { class: "row-sub" }, user.email)),
        h("div", { class: "row-actions" },
          h("label", { class: "sr-only", for: selectId }, `Role for ${name}`), select, remove));
      if (remove) {
        remove.addEventListener("click", () => confirmDialog({
          title: self ? "Leave workspace?" : `Remove ${name}?`,
          body: self ? "You will lose access to this workspace." : "This member will lose access to the workspace.",
          confirmLabel: self ? "Leave" : "Remove",
          busyLabel: "Removing…",
          onConfirm: async () => {
            try {
              await api(wsPath(workspace.id, `/members/${encodeURIComponent(member.userId)}`), { method: "DELETE" });
            } catch (err) {
              throw errorMessage(err, "Could not remove the member.", { last_owner: "Cannot remove: workspace would have no owners." });
            }
            if (self) {
              invalidate("workspaces");
              invalidate(`workspace:${workspace.id}`);
              flash(`You left ${workspace.name}.`, "success");
              navigate("/", { replace: true });
              return;
            }
            li.remove();
            setCount();
            status.show(`${name} was removed from the workspace.`, "success");
          },
        }));
      }
      return li;
    };

    list.append(...data.members.map(row));
    setCount();
    return card({ title: "Members", description: count }, alert.el, status.el, list,
      isOwner ? null : h("p", { class: "muted small card-note" }, "Only owners can change roles or remove other members."));
  });
}

// --- invites ------------------------------------------------------------------------------------

function inviteStatus(invite) {
  if (invite.acceptedAt) return "accepted";
  if (invite.expiresAt && new Date(invite.expiresAt).getTime() < Date.now()) return "expired";
  return "pending";
}

function idempotencyKey() {
  if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
  const bytes = window.crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function shareLink(url, email) {
  const inputId = uid("share");
  const input = h("input", { id: inputId, class: "input mono", readonly: true, value: url });
  const copy = button("Copy link", { variant: "secondary", size: "sm", iconName: "copy" });
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(url);
      copy.querySelector(".btn-label").textContent = "Copied";
    } catch {
      input.select();
    }
  });
  return notice("warning",
    h("p", {}, `Mail is not configured, so no email was sent. Share this link with ${email}:`),
    h("div", { class: "share" }, h("label", { class: "sr-only", for: inputId }, "Invite link"), input, copy));
}

export async function invitesPage(ctx) {
  return workspaceScreen(ctx, "invites", async ({ workspace, role }) => {
    if (!atLeast(role, "owner")) {
      return card({ title: "Access denied" }, h("p", { class: "muted" }, "Only workspace owners can manage invites."));
    }
    const pendingBody = h("div", {});
    const pendingDesc = h("span", {});
    const listAlert = liveRegion("error");
    const listStatus = liveRegion("status");
    const shareSlot = h("div", {});

    const loadInvites = async () => {
      let invites;
      try {
        invites = (await api(wsPath(workspace.id, "/invites"))).invites || [];
      } catch (err) {
        pendingBody.replaceChildren(notice("error", `Failed to load invites. ${errorMessage(err)}`));
        return;
      }
      pendingDesc.textContent = invites.length ? `${invites.length} invite${invites.length === 1 ? "" : "s"}` : "No invites yet";
      if (!invites.length) {
        pendingBody.replaceChildren(h("p", { class: "empty" }, "Invites you send appear here until they are accepted."));
        return;
      }
      pendingBody.replaceChildren(h("ul", { class: "rows", "aria-label": "Invites" }, invites.map((invite) => {
        const stat = inviteStatus(invite);
        const revoke = stat === "pending"
          ? button("Revoke", { variant: "danger-ghost", size: "sm", "aria-label": `Revoke invite for ${invite.email}` })
          : null;
        const li = h("li", { class: "row" },
          avatar("", invite.email),
          h("div", { class: "row-main" },
            h("span", { class: "row-title" }, invite.email),
            h("span", { class: "row-sub" }, `${ROLE_LABELS[invite.role] || invite.role} · expires ${shortDate(invite.expiresAt)}`)),
          h("div", { class: "row-actions" }, chip(stat, stat === "pending" ? "accent" : stat === "accepted" ? "success" : "muted"), revoke));
        if (revoke) {
          revoke.addEventListener("click", async () => {
            listAlert.clear();
            revoke.disabled = true;
            try {
              await api(wsPath(workspace.id, `/invites/${encodeURIComponent(invite.id)}`), { method: "DELETE" });
              listStatus.show(`Invite for ${invite.email} revoked.`, "success");
              await loadInvites();
              // The focused button is gone with its row: put focus on the list's heading.
              const heading = pendingBody.closest(".card").querySelector("h2");
              heading.setAttribute("tabindex", "-1");
              heading.focus();
            } catch (err) {
              revoke.disabled = false;
              listAlert.show(errorMessage(err, "Could not revoke the invite."), "error");
            }
          });
        }
        return li;
      })));
    };

    const enabled = feature("invitesEnabled") || !state.config.features || state.config.features.invitesEnabled === undefined;
    const form = createForm({
      fields: [
        { name: "email", label: "Email address", type: "email", autocomplete: "off", placeholder: "colleague@example.com",
          validate: (v) => (String(v).trim() ? validators.email(v) : "Email is required"), disabled: !enabled },
        { name: "role", label: "Role", type: "select", value: "editor", disabled: !enabled,
          options: [{ value: "editor", label: "Editor" }, { value: "viewer", label: "Viewer" }, { value: "owner", label: "Owner" }] },
      ],
      submitLabel: "Send invite",
      busyLabel: "Sending…",
      block: false,
      fallbackError: "Could not send the invite.",
      fieldErrors: { validation_failed: "email" },
      onSubmit: async ({ email, role: inviteRole }) => {
        const address = email.trim();
        const res = await api(wsPath(workspace.id, "/invites"), {
          method: "POST",
          body: { email: address, role: inviteRole },
          headers: { "Idempotency-Key": idempotencyKey() },
        });
        form.el.reset();
        form.fields.role.input.value = "editor";
        const mailOff = res && res.warning === "mail_disabled";
        form.showStatus(mailOff ? `Invite created for ${address}.` : `Invite sent to ${address}`, "success");
        shareSlot.replaceChildren(mailOff && res.acceptUrl ? shareLink(res.acceptUrl, address) : "");
        await loadInvites();
        form.fields.email.input.focus();
      },
    });
    form.submit.disabled = !enabled;
    await loadInvites();
    return [
      card({ title: "Invite a member", description: "They get an email with a link to join this workspace." },
        enabled ? null : notice("info", "Invites are turned off on this server."),
        form.el, shareSlot),
      card({ title: "Pending invites", description: pendingDesc }, listAlert.el, listStatus.el, pendingBody),
    ];
  });
}
