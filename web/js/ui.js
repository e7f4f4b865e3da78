// Shared components: buttons, notices, accessible form fields and forms, cards, dialogs, menus.

import { errorMessage, HttpError } from "./api.js";
import { h, icon, uid } from "./dom.js";

export function button(label, { variant = "primary", size, iconName, type = "button", block = false, onClick, ...attrs } = {}) {
  return h("button", {
    type,
    class: ["btn", `btn-${variant}`, size && `btn-${size}`, block && "btn-block"],
    onClick,
    ...attrs,
  }, iconName ? icon(iconName) : null, label ? h("span", { class: "btn-label" }, label) : null);
}

export function linkButton(label, href, { variant = "secondary", iconName, block = false, ...attrs } = {}) {
  return h("a", { href, class: ["btn", `btn-${variant}`, block && "btn-block"], ...attrs },
    iconName ? icon(iconName) : null, h("span", { class: "btn-label" }, label));
}

/** Run `work` with `btn` disabled and relabelled; focus comes back to it (or stays where moved). */
export async function withBusy(btn, busyLabel, work) {
  const label = btn.querySelector(".btn-label");
  const idle = label ? label.textContent : btn.textContent;
  const hadFocus = document.activeElement === btn;
  btn.disabled = true;
  btn.setAttribute("aria-busy", "true");
  if (label && busyLabel) label.textContent = busyLabel;
  try {
    return await work();
  } finally {
    btn.disabled = false;
    btn.removeAttribute("aria-busy");
    if (label) label.textContent = idle;
    if (hadFocus && btn.isConnected && (document.activeElement === document.body || !document.activeElement)) {
      btn.focus();
    }
  }
}

const NOTICE_ICONS = { error: "alert", success: "checkCircle", info: "info", warning: "alert" };

/** A message box. Errors are `role="alert"` (announced at once); everything else `role="status"`. */
export function notice(kind, ...content) {
  return h("div", { class: ["notice", `notice-${kind}`], role: kind === "error" ? "alert" : "status" },
    icon(NOTICE_ICONS[kind] || "info", { className: "notice-icon" }), h("div", { class: "notice-body" }, content));
}

/**
 * A live region that exists before anything is announced (so screen readers pick the change up).
 * `kind` "error" → role=alert; otherwise role=status.
 */
export function liveRegion(kind = "error") {
  const el = h("div", {
    class: "live-region",
    id: uid("live"),
    role: kind === "error" ? "alert" : "status",
    "aria-live": kind === "error" ? "assertive" : "polite",
  });
  return {
    el,
    show(message, as = kind) {
      el.replaceChildren(notice(as, message));
      el.firstChild.removeAttribute("role");
    },
    clear() {
      el.replaceChildren();
    },
  };
}

/**
 * A labelled input. Errors go under the field, are tied with aria-describedby and set aria-invalid.
 * options: {name, label, type, autocomplete, placeholder, hint, value, options (select), labelExtra}
 */
export function field(opts) {
  const id = uid(`f-${opts.name}`);
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const type = opts.type || "text";
  let input;
  if (type === "select") {
    input = h("select", { id, name: opts.name, class: "input", disabled: opts.disabled },
      (opts.options || []).map((o) => h("option", { value: o.value, selected: o.value === opts.value }, o.label)));
  } else if (type === "textarea") {
    input = h("textarea", { id, name: opts.name, class: "input", rows: opts.rows || 4, placeholder: opts.placeholder, disabled: opts.disabled });
    input.value = opts.value || "";
  } else {
    input = h("input", {
      id,
      name: opts.name,
      type,
      class: type === "checkbox" ? "checkbox" : "input",
      autocomplete: opts.autocomplete,
      placeholder: opts.placeholder,
      value: type === "checkbox" ? undefined : opts.value,
      checked: type === "checkbox" ? opts.value : undefined,
      spellcheck: type === "email" || type === "password" ? "false" : undefined,
      autocapitalize: type === "email" ? "none" : undefined,
      maxlength: opts.maxLength,
      disabled: opts.disabled,
      inputmode: opts.inputMode,
    });
    if (opts.mono) input.classList.add("mono");
  }
  const hint = opts.hint ? h("p", { class: "field-hint", id: hintId }, opts.hint) : null;
  const error = h("p", { class: "field-error", id: errorId, hidden: true });
  const describe = (withError) => {
    const ids = [hint ? hintId : null, withError ? errorId : null].filter(Boolean);
    if (ids.length) input.setAttribute("aria-describedby", ids.join(" "));
    else input.removeAttribute("aria-describedby");
  };
  describe(false);
  const label = h("label", { for: id, class: "label" }, opts.label);
  const el = type === "checkbox"
    ? h("div", { class: "field field-check" }, input, label, hint, error)
    : h("div", { class: "field" },
      opts.labelExtra ? h("div", { class: "label-row" }, label, opts.labelExtra) : label, input, hint, error);
  return {
    el,
    input,
    name: opts.name,
    validate: opts.validate,
    value() {
      if (type === "checkbox") return input.checked;
      return input.value;
    },
    /** aria-invalid without a text of its own: the message is elsewhere (`describedBy`). */
    markInvalid(describedBy) {
      input.setAttribute("aria-invalid", "true");
      const ids = [hint ? hintId : null, describedBy].filter(Boolean);
      input.setAttribute("aria-describedby", ids.join(" "));
    },
    setError(message) {
      error.replaceChildren(icon("alert", { size: 14 }), message);
      error.hidden = false;
      input.setAttribute("aria-invalid", "true");
      describe(true);
    },
    clearError() {
      error.hidden = true;
      error.replaceChildren();
      input.removeAttribute("aria-invalid");
      describe(false);
    },
  };
}

/**
 * A form with a page-level alert, labelled fields, client validation and a busy submit button.
 * onSubmit(values, form) may throw; `fail` maps the error to a field or to the alert.
 */
export function createForm({ fields, submitLabel, busyLabel, onSubmit, footer = null, fieldErrors = {},
  errorOverrides = {}, fallbackError, focusOnError, submitVariant = "primary", block = true, intro = null }) {
  const alert = liveRegion("error");
  const status = liveRegion("status");
  const items = fields.map((f) => (f.el ? f : field(f)));
  const byName = Object.fromEntries(items.map((f) => [f.name, f]));
  const submit = button(submitLabel, { type: "submit", variant: submitVariant, block });
  const el = h("form", { class: "form", novalidate: true }, alert.el, status.el, intro,
    items.map((f) => f.el), h("div", { class: "form-actions" }, submit), footer);
  let busy = false;

  const form = {
    el,
    submit,
    fields: byName,
    values() {
      return Object.fromEntries(items.map((f) => [f.name, f.value()]));
    },
    clear() {
      alert.clear();
      status.clear();
      items.forEach((f) => f.clearError());
    },
    reset() {
      el.reset();
      form.clear();
    },
    setFieldError(name, message, { focus = true } = {}) {
      const f = byName[name];
      if (!f) return form.showError(message);
      f.setError(message);
      if (focus) f.input.focus();
      return undefined;
    },
    showError(message) {
      alert.show(message, "error");
    },
    showStatus(message, kind = "success") {
      status.show(message, kind);
    },
    fail(err) {
      const message = typeof err === "string" ? err : errorMessage(err, fallbackError, errorOverrides);
      form.showError(message);
      // A server error about one field: the alert says it, the field is marked and focused.
      const target = err instanceof HttpError ? byName[fieldErrors[err.code]] : null;
      if (target) target.markInvalid(alert.el.id);
      const focusField = target || byName[focusOnError] || items.find((f) => !f.input.disabled);
      if (focusField) {
        focusField.input.focus();
        if (typeof focusField.input.select === "function" && focusField.input.type === "password") focusField.input.select();
      }
    },
  };

  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy) return;
    form.clear();
    const values = form.values();
    let firstInvalid = null;
    for (const f of items) {
      const message = f.validate ? f.validate(values[f.name], values) : null;
      if (message) {
        f.setError(message);
        firstInvalid = firstInvalid || f;
      }
    }
    if (firstInvalid) {
      firstInvalid.input.focus();
      return;
    }
    busy = true;
    el.setAttribute("aria-busy", "true");
    try {
      await withBusy(submit, busyLabel, () => onSubmit(values, form));
    } catch (err) {
      if (err && err.name === "AbortError") return;
      if (!(err instanceof HttpError)) console.error(err);
      form.fail(err);
    } finally {
      busy = false;
      el.removeAttribute("aria-busy");
    }
  });
  return form;
}

// --- validators ---------------------------------------------------------------------------------

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
export const validators = {
  email: (v) => (EMAIL.test(String(v).trim()) ? null : "Please enter a valid email"),
  required: (message) => (v) => (String(v).trim() ? null : message),
  password: (v) => {
    if (String(v).length < 8) return "Password must be at least 8 characters";
    if (String(v).length > 128) return "Password must be 128 characters or fewer";
    return null;
  },
  matches: (other, message = "Passwords do not match") => (v, values) => (v === values[other] ? null : message),
};

// --- layout pieces ------------------------------------------------------------------------------

export function card({ title, description, level = 2, headerExtra = null, className = "", id, labelledBy = true }, ...body) {
  const titleId = id ? `${id}-title` : uid("card-title");
  const heading = title ? h(`h${level}`, { class: "card-title", id: titleId }, title) : null;
  return h(labelledBy && title ? "section" : "div",
    { class: ["card", className], id, "aria-labelledby": labelledBy && title ? titleId : undefined },
    title || description ? h("div", { class: "card-header" },
      h("div", { class: "card-heading" }, heading, description ? h("p", { class: "card-desc" }, description) : null),
      headerExtra) : null,
    h("div", { class: "card-body" }, body));
}

export function chip(text, kind = "neutral", attrs = {}) {
  return h("span", { class: ["chip", `chip-${kind}`], ...attrs }, text);
}

/** Up to two initials from a name, else the first two letters of the email. */
export function initials(name, email = "") {
  const words = String(name || "").trim().split(/\s+/).filter(Boolean);
  if (words.length >= 2) return (words[0][0] + words[1][0]).toUpperCase();
  if (words.length === 1) return words[0].slice(0, 2).toUpperCase();
  return String(email || "?").slice(0, 2).toUpperCase();
}

export function avatar(name, email, { size = "md" } = {}) {
  return h("span", { class: ["avatar", `avatar-${size}`], "aria-hidden": "true" }, initials(name, email));
}

// --- dialogs ------------------------------------------------------------------------------------

/**
 * A modal confirmation on the native <dialog> (focus is contained, Escape closes, focus returns to
 * the opener). `confirmText`: the exact text to type before the confirm button enables.
 * onConfirm() may throw: the error shows inside the dialog.
 */
export function confirmDialog({ title, body, confirmLabel, busyLabel, danger = true, confirmText, confirmFieldLabel,
  onConfirm, fallbackError = "Something went wrong. Please try again." }) {
  const opener = document.activeElement;
  const titleId = uid("dialog-title");
  const descId = uid("dialog-desc");
  const alert = liveRegion("error");
  const confirm = button(confirmLabel, { variant: danger ? "danger" : "primary" });
  const cancel = button("Cancel", { variant: "secondary" });
  let typed = null;
  if (confirmText !== undefined) {
    typed = field({ name: "confirm", label: confirmFieldLabel || `Type ${confirmText} to confirm`, autocomplete: "off", placeholder: confirmText });
    confirm.disabled = true;
    typed.input.addEventListener("input", () => {
      confirm.disabled = typed.input.value !== confirmText;
    });
  }
  const dialog = h("dialog", { class: "dialog", "aria-labelledby": titleId, "aria-describedby": descId },
    h("h2", { class: "dialog-title", id: titleId }, title),
    h("div", { class: "dialog-desc", id: descId }, body),
    alert.el,
    typed ? typed.el : null,
    h("div", { class: "dialog-actions" }, cancel, confirm));
  const close = () => {
    dialog.close();
  };
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (opener && opener.isConnected && typeof opener.focus === "function") opener.focus();
  });
  cancel.addEventListener("click", close);
  confirm.addEventListener("click", async () => {
    alert.clear();
    try {
      await withBusy(confirm, busyLabel, () => onConfirm());
      close();
    } catch (err) {
      alert.show(typeof err === "string" ? err : errorMessage(err, fallbackError), "error");
      if (typed) confirm.disabled = typed.input.value !== confirmText;
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  (typed ? typed.input : cancel).focus();
  return { dialog, close, showError: (m) => alert.show(m, "error") };
}

/**
 * A form inside a modal dialog. fields/submitLabel/onSubmit as createForm; returns when opened.
 */
export function formDialog({ title, description, ...formOptions }) {
  const opener = document.activeElement;
  const titleId = uid("dialog-title");
  let dialog;
  const form = createForm({
    ...formOptions,
    block: false,
    onSubmit: async (values, f) => {
      await formOptions.onSubmit(values, f);
      dialog.close();
    },
  });
  const cancel = button("Cancel", { variant: "secondary", onClick: () => dialog.close() });
  form.el.querySelector(".form-actions").prepend(cancel);
  dialog = h("dialog", { class: "dialog", "aria-labelledby": titleId },
    h("h2", { class: "dialog-title", id: titleId }, title),
    description ? h("p", { class: "dialog-desc" }, description) : null,
    form.el);
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (opener && opener.isConnected && typeof opener.focus === "function") opener.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  const first = Object.values(form.fields)[0];
  if (first) first.input.focus();
  return { dialog, form };
}

// --- menus --------------------------------------------------------------------------------------

/**
 * A menu button: the trigger toggles a role="menu" list; arrows/Home/End move, Escape and Tab close,
 * focus returns to the trigger. items: [{label, description?, iconName?, href?, onSelect?, current?,
 * checked? (menuitemradio), keepOpen?, danger?} | {separator:true} | {heading:"text"} | {node}]
 */
export function menu({ trigger, items, align = "start", label }) {
  const menuId = uid("menu");
  trigger.setAttribute("aria-haspopup", "menu");
  trigger.setAttribute("aria-expanded", "false");
  trigger.setAttribute("aria-controls", menuId);
  const list = h("div", { class: ["menu", `menu-${align}`], role: "menu", id: menuId, hidden: true, "aria-label": label });
  const wrapper = h("div", { class: "menu-wrap" }, trigger, list);

  const entries = () => [...list.querySelectorAll('[role^="menuitem"]:not([aria-disabled="true"])')];
  const open = (focusWhich = "first") => {
    list.hidden = false;
    trigger.setAttribute("aria-expanded", "true");
    const all = entries();
    const current = all.find((e) => e.dataset.current === "true");
    const target = focusWhich === "last" ? all[all.length - 1] : (current || all[0]);
    if (target) target.focus();
    document.addEventListener("pointerdown", onOutside, true);
  };
  const close = ({ focusTrigger = true } = {}) => {
    if (list.hidden) return;
    list.hidden = true;
    trigger.setAttribute("aria-expanded", "false");
    document.removeEventListener("pointerdown", onOutside, true);
    if (focusTrigger) trigger.focus();
  };
  const onOutside = (event) => {
    if (!wrapper.contains(event.target)) close({ focusTrigger: false });
  };

  for (const item of items) {
    if (!item) continue;
    if (item.separator) list.append(h("div", { class: "menu-sep", role: "separator" }));
    else if (item.heading) list.append(h("div", { class: "menu-heading", role: "presentation" }, item.heading));
    else if (item.node) list.append(item.node);
    else {
      const role = item.checked === undefined ? "menuitem" : "menuitemradio";
      const content = [
        item.iconName ? icon(item.iconName) : null,
        // No aria-label: the name is the visible text (label, then description), so it always contains it.
        h("span", { class: "menu-text" }, h("span", { class: "menu-label" }, item.label),
          item.description ? h("span", { class: "menu-desc" }, item.description) : null),
        item.checked !== undefined || item.current ? icon("check", { className: "menu-check" }) : null,
      ];
      const attrs = {
        role,
        tabindex: "-1",
        class: ["menu-item", item.danger && "menu-item-danger"],
        "aria-checked": item.checked === undefined ? undefined : String(Boolean(item.checked)),
        "aria-current": item.current ? "true" : undefined,
        dataset: { ...(item.dataset || {}), ...(item.current || item.checked ? { current: "true" } : {}) },
      };
      const el = item.href
        ? h("a", { ...attrs, href: item.href }, content)
        : h("button", { ...attrs, type: "button" }, content);
      el.addEventListener("click", (event) => {
        if (item.onSelect) {
          if (!item.href) event.preventDefault();
          item.onSelect(event, el);
        }
        if (!item.keepOpen) close({ focusTrigger: !item.href });
      });
      list.append(el);
    }
  }

  trigger.addEventListener("click", () => (list.hidden ? open() : close()));
  trigger.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      open(event.key === "ArrowUp" ? "last" : "first");
    }
  });
  list.addEventListener("keydown", (event) => {
    const all = entries();
    const index = all.indexOf(document.activeElement);
    const move = (i) => all[(i + all.length) % all.length]?.focus();
    if (event.key === "ArrowDown") move(index + 1);
    else if (event.key === "ArrowUp") move(index - 1);
    else if (event.key === "Home") move(0);
    else if (event.key === "End") move(all.length - 1);
    else if (event.key === "Escape") close();
    else if (event.key === "Tab") {
      close({ focusTrigger: false });
      return;
    } else if (event.key.length === 1 && /\S/.test(event.key)) {
      const from = index + 1;
      const order = [...all.slice(from), ...all.slice(0, from)];
      const hit = order.find((e) => e.textContent.trim().toLowerCase().startsWith(event.key.toLowerCase()));
      if (hit) hit.focus();
    } else return;
    event.preventDefault();
  });
  return { el: wrapper, open, close, list };
}
