// Workspace settings: rename (editor+), secrets by key (values are write-only), runtime, deletion
// (owner).

import { api, errorMessage, HttpError } from "../api.js";
import { h } from "../dom.js";
import { dateTime, shortDate } from "../format.js";
import { navigate, reload } from "../router.js";
import { flash, invalidate } from "../state.js";
import { button, card, chip, confirmDialog, createForm, liveRegion, notice, withBusy } from "../ui.js";
import { atLeast, workspaceScreen } from "./workspace.js";

function wsPath(id, rest = "") {
  return `/api/v1/workspaces/${encodeURIComponent(id)}${rest}`;
}

export async function workspaceSettingsPage(ctx) {
  return workspaceScreen(ctx, "settings", async ({ workspace, role }) => {
    const [secrets, runtime] = await Promise.all([
      api(wsPath(workspace.id, "/settings"), { signal: ctx.signal }).catch((err) => ({ error: err })),
      api(wsPath(workspace.id, "/runtime"), { signal: ctx.signal }).catch(() => null),
    ]);
    return [
      generalCard(workspace, role),
      secretsCard(workspace, role, secrets),
      runtime && runtime.runtime ? runtimeCard(workspace, role, runtime.runtime) : null,
      dangerCard(workspace, role),
    ];
  });
}

function generalCard(workspace, role) {
  const canEdit = atLeast(role, "editor");
  const form = createForm({
    fields: [{
      name: "name",
      label: "Workspace name",
      value: workspace.name,
      autocomplete: "off",
      disabled: !canEdit,
      hint: canEdit ? "Editors and owners can rename this workspace." : "Viewers can see these settings but cannot rename the workspace.",
      validate: (v) => {
        if (!String(v).trim()) return "Workspace name is required";
        if (String(v).trim().length > 100) return "Workspace name must be 100 characters or fewer";
        return null;
      },
    }],
    submitLabel: "Save changes",
    busyLabel: "Saving…",
    block: false,
    fallbackError: "Could not rename the workspace.",
    onSubmit: async ({ name }) => {
      await api(wsPath(workspace.id), { method: "PUT", body: { name: name.trim() } });
      invalidate("workspaces");
      invalidate(`workspace:${workspace.id}`);
      flash("Workspace renamed.", "success");
      reload();
    },
  });
  const input = form.fields.name.input;
  const resetBtn = button("Reset", { variant: "ghost", hidden: true });
  resetBtn.addEventListener("click", () => {
    input.value = workspace.name;
    sync();
    input.focus();
  });
  form.el.querySelector(".form-actions").append(resetBtn);
  const sync = () => {
    const edited = input.value !== workspace.name;
    resetBtn.hidden = !edited;
    form.submit.disabled = !canEdit || !edited || !input.value.trim();
  };
  input.addEventListener("input", sync);
  sync();
  return card({ title: "General", id: "general" }, form.el);
}

function secretsCard(workspace, role, data) {
  const canEdit = atLeast(role, "editor");
  const listSlot = h("div", {});
  const renderList = (settings) => {
    if (!settings.length) {
      listSlot.replaceChildren(h("p", { class: "empty" }, "No secrets yet."));
      return;
    }
    listSlot.replaceChildren(h("ul", { class: "rows", "aria-label": "Configured keys" }, settings.map((s) => h("li", { class: "row" },
      h("div", { class: "row-main" },
        h("code", { class: "row-title mono" }, s.key),
        h("span", { class: "row-sub" }, `Updated ${dateTime(s.updated_at || s.updatedAt)}`)),
      h("div", { class: "row-actions" }, chip(s.configured === false ? "Not set" : "Set", s.configured === false ? "muted" : "success"))))));
  };
  if (data.error) listSlot.append(notice("error", `Failed to load settings. ${errorMessage(data.error)}`));
  else renderList(data.settings || []);

  const form = canEdit ? createForm({
    fields: [
      { name: "key", label: "Key", autocomplete: "off", placeholder: "OPENAI_API_KEY", mono: true, maxLength: 128,
        validate: (v) => (String(v).trim() ? null : "Key is required") },
      { name: "value", label: "Value", type: "password", autocomplete: "new-password", maxLength: 10000,
        hint: "Encrypted at rest. It is never shown again; saving an existing key replaces its value.",
        validate: (v) => (String(v) ? null : "Value is required") },
    ],
    submitLabel: "Save secret",
    busyLabel: "Saving…",
    block: false,
    fallbackError: "Could not save the setting.",
    onSubmit: async ({ key, value }) => {
      const res = await api(wsPath(workspace.id, "/settings"), { method: "PUT", body: { [key.trim()]: value } });
      renderList((res && res.settings) || []);
      form.el.reset();
      form.showStatus(`Saved ${key.trim()}.`, "success");
      form.fields.key.input.focus();
    },
  }) : null;
  return card({
    title: "Secrets",
    id: "secrets",
    description: "Keys for integrations, stored encrypted. Only the keys are listed; values are write-only.",
  }, listSlot, form ? h("div", { class: "subsection" }, h("h3", { class: "subheading" }, "Add or replace a secret"), form.el)
    : h("p", { class: "muted small card-note" }, "Viewers can see which keys are set, but not change them."));
}

function runtimeCard(workspace, role, runtime) {
  const alert = liveRegion("error");
  const stateKind = runtime.state === "ready" ? "success" : runtime.state === "error" ? "danger" : "muted";
  const retry = runtime.state === "error" && runtime.lastErrorOp === "provision"
    ? button("Retry provisioning", { variant: "secondary", disabled: role !== "owner" })
    : null;
  if (retry) {
    retry.addEventListener("click", async () => {
      alert.clear();
      try {
        await withBusy(retry, "Retrying…", () => api(wsPath(workspace.id, "/runtime/retry"), { method: "POST", body: {} }));
        flash("Provisioning retried.", "success");
        reload();
      } catch (err) {
        alert.show(errorMessage(err, "Retry failed."), "error");
      }
    });
  }
  return card({ title: "Runtime", id: "runtime", headerExtra: chip(runtime.state, stateKind) },
    alert.el,
    runtime.state === "ready" && runtime.volumePath
      ? h("div", { class: "details" }, h("div", {}, h("dt", {}, "Volume"), h("dd", {}, h("code", { class: "mono" }, runtime.volumePath))))
      : null,
    runtime.state === "error" ? notice("error", runtime.lastError || "Provisioning failed.") : null,
    runtime.state === "error" && runtime.lastErrorOp === "destroy"
      ? h("p", { class: "muted small" }, "Deleting the workspace failed while tearing down its runtime. Delete it again below to retry.")
      : null,
    retry);
}

function dangerCard(workspace, role) {
  const isOwner = role === "owner";
  const del = button("Delete workspace", { variant: "danger", disabled: !isOwner });
  del.addEventListener("click", () => confirmDialog({
    title: "Delete workspace?",
    body: h("p", {}, "This removes ", h("strong", {}, workspace.name), " for every member. Type its name to confirm."),
    confirmText: workspace.name,
    confirmFieldLabel: "Workspace name",
    confirmLabel: "Delete workspace",
    busyLabel: "Deleting…",
    onConfirm: async () => {
      try {
        await api(wsPath(workspace.id), { method: "DELETE" });
      } catch (err) {
        if (err instanceof HttpError && err.code === "destroy_failed") throw `Destroy failed: ${err.message}. Try again.`;
        throw err;
      }
      invalidate("workspaces");
      invalidate(`workspace:${workspace.id}`);
      flash(`Workspace “${workspace.name}” was deleted.`, "success");
      navigate("/", { replace: true });
    },
  }));
  return card({ title: "Danger zone", id: "danger-zone", className: "card-danger" },
    h("div", { class: "danger-row" },
      h("div", {}, h("h3", { class: "danger-title" }, "Delete workspace"),
        h("p", { class: "muted small" }, isOwner
          ? `Created ${shortDate(workspace.createdAt)}. Members lose access immediately.`
          : "Only workspace owners can delete this workspace.")),
      del));
}
