// /dev/mail: what the console mail transport "sent". The page itself is public (you need it to read a
// password-reset mail while signed out), but the mail is not: /api/dev/mail answers only a browser
// holding the mailbox cookie, set by the "Dev mailbox:" link the server prints at start-up (it carries
// a secret token). Without it, and with any transport other than console://, the answer is 404.

import { api, errorMessage, HttpError } from "../api.js";
import { h, icon, uid } from "../dom.js";
import { dateTime, relativeTime } from "../format.js";
import { publicWidePage } from "../layout.js";
import { button, confirmDialog, liveRegion, notice } from "../ui.js";

const POLL_MS = 4000;
const HOUR = 3600;
const DAY = 24 * HOUR;

/** "2 days 3 hours ahead" for the dev clock's offset in seconds. */
function describeOffset(seconds) {
  if (!seconds) return "on the wall clock";
  const parts = [];
  const days = Math.floor(seconds / DAY);
  const hours = Math.floor((seconds % DAY) / HOUR);
  const minutes = Math.floor((seconds % HOUR) / 60);
  const rest = seconds % 60;
  if (days) parts.push(`${days} day${days === 1 ? "" : "s"}`);
  if (hours) parts.push(`${hours} hour${hours === 1 ? "" : "s"}`);
  if (minutes) parts.push(`${minutes} minute${minutes === 1 ? "" : "s"}`);
  if (rest && !days) parts.push(`${rest} second${rest === 1 ? "" : "s"}`);
  return `${parts.join(" ")} ahead`;
}

/**
 * The dev clock (POST /api/dev/clock, same secret as the mailbox): how far the server's clock is ahead
 * and buttons to move it, so an invite or a reservation can be watched expiring. Null when the server's
 * clock cannot move (the route answers 404).
 */
async function devClockPanel(signal, status) {
  let clock;
  try {
    clock = await api("/api/dev/clock", { signal });
  } catch (err) {
    if (err instanceof HttpError && err.status === 404) return null;
    throw err;
  }
  const offset = h("span", { class: "dev-clock-offset" });
  const now = h("span", { class: "muted" });
  const show = (c) => {
    offset.textContent = `Server clock: ${describeOffset(c.offsetSeconds)}`;
    now.textContent = `(server time ${dateTime(c.now)})`;
  };
  const change = (body, label) => async () => {
    try {
      const moved = await api("/api/dev/clock", { method: "POST", body });
      show(moved);
      status.show(`Server clock ${label}.`, "info");
    } catch (err) {
      status.show(errorMessage(err, "Could not move the server clock."), "error");
    }
  };
  show(clock);
  return h("div", { class: "dev-clock", role: "group", "aria-label": "Dev clock" },
    offset, now,
    h("div", { class: "button-row" },
      button("+1 hour", { variant: "secondary", size: "sm", onClick: change({ advanceSeconds: HOUR }, "moved 1 hour ahead") }),
      button("+1 day", { variant: "secondary", size: "sm", onClick: change({ advanceSeconds: DAY }, "moved 1 day ahead") }),
      button("+7 days", { variant: "secondary", size: "sm", onClick: change({ advanceSeconds: 7 * DAY }, "moved 7 days ahead") }),
      button("Reset", { variant: "ghost", size: "sm", onClick: change({ reset: true }, "back on the wall clock") })));
}

function frame(...content) {
  return publicWidePage("Dev mailbox", ...content);
}

/** Why there is nothing to show: /api/dev/mail answered 404 (no mailbox cookie, or not console mail). */
function closedNotice({ hadToken = false } = {}) {
  return h("div", { class: "mail-closed" },
    notice("info",
      h("p", {}, "The dev mailbox is private to the person who started the server. Open the ",
        h("strong", {}, "“Dev mailbox:”"),
        " link printed in the terminal where localcore is running (it contains a secret token)."),
      hadToken
        ? h("p", {}, "The token in the link you opened was not accepted: copy the link again from the terminal of the server you are using.")
        : null,
      h("p", { class: "muted small" }, "It looks like ", h("code", {}, `Dev mailbox: ${window.location.origin}/dev/mail?token=…`),
        ". Opening it once lets this browser read the mailbox; other browsers and other people still cannot.")),
    h("p", { class: "muted small" }, "A server whose mail transport is not console:// sends real mail and has no dev mailbox."));
}

/** The message HTML for a sandboxed srcdoc: links open in a new tab (no scripts can run). */
function srcdoc(html) {
  const base = '<base target="_blank">';
  if (/<head[^>]*>/i.test(html)) return html.replace(/<head[^>]*>/i, (m) => m + base);
  return base + html;
}

export async function devMailPage(ctx) {
  const header = h("div", { class: "page-header" },
    h("span", { class: "ws-avatar", "aria-hidden": "true" }, icon("inbox", { size: 20 })),
    h("div", { class: "page-header-text" },
      h("p", { class: "eyebrow" }, "Development"),
      h("h1", { class: "page-title" }, "Dev mailbox"),
      h("p", { class: "muted" }, "Mail this server sent with the console transport, newest first. Nothing here left your machine.")));
  // The server trades a valid ?token= for the cookie and redirects here without it; a token still in
  // the address bar did not open the mailbox. Keep it out of the history either way.
  const hadToken = ctx.query.has("token");
  if (hadToken) {
    const url = new URL(window.location.href);
    url.searchParams.delete("token");
    window.history.replaceState({}, "", url.pathname + url.search + url.hash);
  }
  let first;
  try {
    first = await api("/api/dev/mail", { signal: ctx.signal });
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    if (err.status === 404) return frame(header, closedNotice({ hadToken }));
    return frame(header, notice("error", errorMessage(err, "Could not load the mailbox.")));
  }

  const status = liveRegion("status");
  const alert = liveRegion("error");
  const clockPanel = await devClockPanel(ctx.signal, status);
  const listEl = h("ul", { class: "mail-list", "aria-label": "Messages" });
  const viewer = h("section", { class: "mail-viewer", "aria-label": "Message" });
  const count = h("p", { class: "muted small mail-count" });
  let messages = first.messages || [];
  let selected = messages.length ? messages[0].id : null;
  let view = "html";

  const renderList = () => {
    count.textContent = messages.length ? `${messages.length} message${messages.length === 1 ? "" : "s"}` : "";
    listEl.replaceChildren(...messages.map((m) => {
      const btn = h("button", {
        type: "button",
        class: ["mail-item", m.id === selected && "mail-item-active"],
        "aria-current": m.id === selected ? "true" : undefined,
      },
      h("span", { class: "mail-item-top" }, h("span", { class: "mail-item-to" }, m.to), h("span", { class: "mail-item-time" }, relativeTime(m.createdAt))),
      h("span", { class: "mail-item-subject" }, m.subject));
      btn.addEventListener("click", () => {
        selected = m.id;
        renderList();
        renderViewer();
        viewer.querySelector("h2").focus();
      });
      return h("li", {}, btn);
    }));
    if (!messages.length) {
      listEl.replaceChildren(h("li", { class: "empty" }, "No mail yet. Sign up, reset a password or send an invite, and the message shows up here."));
    }
  };

  const renderViewer = () => {
    const m = messages.find((x) => x.id === selected);
    if (!m) {
      viewer.replaceChildren(h("div", { class: "mail-empty" }, icon("mail", { size: 28 }), h("p", { class: "muted" }, "Select a message to read it.")));
      return;
    }
    const tabHtml = button("HTML", { variant: view === "html" ? "secondary" : "ghost", size: "sm", "aria-pressed": String(view === "html") });
    const tabText = button("Text", { variant: view === "text" ? "secondary" : "ghost", size: "sm", "aria-pressed": String(view === "text") });
    tabHtml.addEventListener("click", () => { view = "html"; renderViewer(); viewer.querySelector("[aria-pressed=true]").focus(); });
    tabText.addEventListener("click", () => { view = "text"; renderViewer(); viewer.querySelector("[aria-pressed=true]").focus(); });
    const body = view === "html" && m.html
      ? h("iframe", {
        class: "mail-frame",
        title: `Message: ${m.subject}`,
        sandbox: "allow-popups allow-popups-to-escape-sandbox",
        referrerpolicy: "no-referrer",
        srcdoc: srcdoc(m.html),
      })
      : h("pre", { class: "mail-text" }, m.text);
    const linksId = uid("links");
    viewer.replaceChildren(
      h("h2", { class: "mail-subject", tabindex: "-1" }, m.subject),
      h("dl", { class: "mail-meta" },
        h("div", {}, h("dt", {}, "From"), h("dd", {}, m.from)),
        h("div", {}, h("dt", {}, "To"), h("dd", {}, m.to)),
        h("div", {}, h("dt", {}, "Date"), h("dd", {}, dateTime(m.createdAt)))),
      m.links && m.links.length
        ? h("div", { class: "mail-links" }, h("h3", { class: "subheading", id: linksId }, "Links"),
          h("ul", { "aria-labelledby": linksId }, m.links.map((link) => h("li", {},
            // data-native: a full navigation, so the server sees it (a reset link redirects there).
            h("a", { href: link, "data-native": "", class: "mono" }, link)))))
        : null,
      h("div", { class: "mail-tabs", role: "group", "aria-label": "Format" }, tabHtml, tabText),
      body);
  };

  const refresh = async ({ announceIt = false } = {}) => {
    try {
      const data = await api("/api/dev/mail");
      const fresh = data.messages || [];
      const changed = fresh.map((m) => m.id).join() !== messages.map((m) => m.id).join();
      alert.clear();
      if (changed) {
        const newer = fresh.length - messages.length;
        messages = fresh;
        if (!messages.some((m) => m.id === selected)) selected = messages.length ? messages[0].id : null;
        renderList();
        renderViewer();
        if (newer > 0) status.show(`${newer} new message${newer === 1 ? "" : "s"}.`, "info");
      } else if (announceIt) status.show("No new mail.", "info");
    } catch (err) {
      alert.show(err instanceof HttpError && err.status === 404
        ? "This browser can no longer read the dev mailbox (its cookie is gone, or the server now runs with another data directory). Open the “Dev mailbox:” link from the terminal again."
        : errorMessage(err, "Could not refresh the mailbox."), "error");
    }
  };

  const refreshBtn = button("Refresh", { variant: "secondary", size: "sm", iconName: "refresh", onClick: () => refresh({ announceIt: true }) });
  const clearBtn = button("Clear", { variant: "ghost", size: "sm", iconName: "trash" });
  clearBtn.addEventListener("click", () => confirmDialog({
    title: "Clear the mailbox?",
    body: "Every message in the dev mailbox is removed.",
    confirmLabel: "Clear",
    busyLabel: "Clearing…",
    onConfirm: async () => {
      await api("/api/dev/mail", { method: "DELETE" });
      messages = [];
      selected = null;
      renderList();
      renderViewer();
      status.show("Mailbox cleared.", "success");
    },
  }));

  renderList();
  renderViewer();
  const timer = window.setInterval(() => {
    if (ctx.signal.aborted) {
      window.clearInterval(timer);
      return;
    }
    if (listEl.isConnected && !document.hidden) refresh();
  }, POLL_MS);

  return frame(header, status.el, alert.el, clockPanel,
    h("div", { class: "mailbox" },
      h("div", { class: "mail-side" },
        h("div", { class: "mail-toolbar" }, count, h("div", { class: "button-row" }, refreshBtn, clearBtn)),
        listEl),
      viewer));
}
