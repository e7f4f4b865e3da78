// /credits: balance, packs and checkout, recent activity; /credits/dev-checkout: the offline
// checkout a local server uses instead of a payment provider.

import { api, errorMessage, HttpError } from "../api.js";
import { h, uid } from "../dom.js";
import { dateTime, money, price } from "../format.js";
import { appLayout } from "../layout.js";
import { navigate, show } from "../router.js";
import { invalidate, sleep, state } from "../state.js";
import { button, card, chip, linkButton, liveRegion, notice, withBusy } from "../ui.js";

const BASELINE = "credits:checkout-baseline";

function net(balance) {
  return Number(balance.remainingMicros || 0) - Number(balance.debtMicros || 0);
}

function pageHeader(title, subtitle) {
  return h("div", { class: "page-header" },
    h("div", { class: "page-header-text" },
      h("p", { class: "eyebrow" }, "Billing"),
      h("h1", { class: "page-title" }, title),
      subtitle ? h("p", { class: "muted" }, subtitle) : null));
}

export async function creditsPage(ctx) {
  invalidate("credits:");
  let balance;
  try {
    balance = await api("/api/credits/balance", { signal: ctx.signal });
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    const message = err.status === 404
      ? "Credits are not available on this server."
      : errorMessage(err, "Could not load your balance.");
    return appLayout({ title: "Credits" }, pageHeader("Credits"), card({ title: "Balance" }, notice(err.status === 404 ? "info" : "error", message)));
  }
  if (!balance || balance.enabled === false) {
    return appLayout({ title: "Credits" }, pageHeader("Credits"), card({ title: "Balance" }, notice("info", "Credits are turned off on this server.")));
  }
  const returned = ctx.query.get("checkout");
  if (returned) {
    // One-shot marker: drop it from the address at once.
    const url = new URL(window.location.href);
    url.searchParams.delete("checkout");
    window.history.replaceState({}, "", url.pathname + url.search + url.hash);
  }
  const history = await api("/api/credits/history?limit=20", { signal: ctx.signal }).catch((err) => ({ error: err }));
  return appLayout({ title: "Credits" },
    pageHeader("Credits", "Credits pay for agent runs and other metered work."),
    returned ? checkoutReturnNotice(returned, balance) : null,
    h("div", { class: "section-stack" },
      balanceCard(balance),
      balance.checkoutEnabled ? buyCard(balance) : null,
      historyCard(history)));
}

function balanceCard(balance) {
  const debt = Number(balance.debtMicros || 0);
  const low = debt > 0 || Number(balance.remainingMicros || 0) <= 500_000;
  return card({ title: "Balance", id: "balance" },
    debt > 0 ? notice("error", "Your balance is negative. Top up to resume running the agent.")
      : low ? notice("warning", "You're low on credits. Top up to avoid interruptions.") : null,
    h("div", { class: "balance" },
      h("p", { class: "balance-label" }, debt > 0 ? "Amount owed" : "Remaining balance"),
      h("p", { class: ["balance-amount", "tabular", low && "balance-low"], "data-testid": "balance" },
        debt > 0 ? money(-debt) : money(balance.remainingMicros))),
    h("dl", { class: "stats" },
      h("div", {}, h("dt", {}, "Granted"), h("dd", { class: "tabular" }, money(balance.grantedMicros))),
      h("div", {}, h("dt", {}, "Used so far"), h("dd", { class: "tabular" }, money(balance.usedMicros))),
      h("div", {}, h("dt", {}, "Reserved"), h("dd", { class: "tabular" }, money(balance.activeReservedMicros))),
      h("div", {}, h("dt", {}, "Available now"), h("dd", { class: "tabular" }, money(balance.availableMicros)))));
}

function buyCard(balance) {
  const packs = balance.packs || [];
  const alert = liveRegion("error");
  const name = uid("pack");
  const initial = packs.find((p) => p.isDefault) || packs[0];
  const options = packs.map((p) => {
    const id = uid("pack-opt");
    const text = p.custom ? `Custom · from ${price(p.priceMinor, p.currency)}` : `${p.label || price(p.priceMinor, p.currency)} · ${money(p.creditMicros)} in credits`;
    return h("div", { class: "radio-option" },
      h("input", { type: "radio", id, name, value: p.id, checked: initial && p.id === initial.id, class: "radio" }),
      h("label", { for: id }, text));
  });
  const buy = button(initial ? buyLabel(initial) : "Buy credits", { iconName: "card" });
  const group = packs.length
    ? h("fieldset", { class: "fieldset" }, h("legend", { class: "label" }, "Credit pack"), h("div", { class: "radio-group", role: "radiogroup" }, options))
    : null;
  if (group) {
    group.addEventListener("change", () => {
      const chosen = packs.find((p) => p.id === group.querySelector("input:checked").value);
      buy.querySelector(".btn-label").textContent = buyLabel(chosen);
    });
  }
  buy.addEventListener("click", async () => {
    alert.clear();
    const pack = group ? group.querySelector("input:checked")?.value : undefined;
    try {
      const res = await withBusy(buy, "Opening checkout…", () => api("/api/credits/checkout", { method: "POST", body: pack ? { pack } : {} }));
      if (!res || !res.url) throw new HttpError({ status: 500, code: "checkout_failed", message: "Checkout is not available right now." });
      try {
        window.sessionStorage.setItem(BASELINE, JSON.stringify({ net: net(balance), ts: Date.now(), userId: state.session.user.id }));
      } catch {
        // Without a baseline the first poll after returning serves as one.
      }
      navigate(res.url);
    } catch (err) {
      alert.show(errorMessage(err, "Could not start checkout. Please try again."), "error");
    }
  });
  return card({ title: "Buy credits", id: "buy", description: "Top up your balance. Checkout opens on the payment page." },
    alert.el, group, h("div", { class: "form-actions" }, buy));
}

function buyLabel(pack) {
  return pack.custom ? "Choose amount" : `Buy ${pack.label || price(pack.priceMinor, pack.currency)}`;
}

function historyCard(data) {
  if (data && data.error) {
    return card({ title: "Recent activity", id: "activity" }, notice("error", "Could not load activity. Try again."));
  }
  const entries = (data && (data.entries || data.items)) || [];
  if (!entries.length) return card({ title: "Recent activity", id: "activity" }, h("p", { class: "empty" }, "No credit activity yet."));
  return card({ title: "Recent activity", id: "activity" },
    h("div", { class: "table-wrap" }, h("table", { class: "table" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Description"), h("th", { scope: "col" }, "Date"), h("th", { scope: "col", class: "num" }, "Amount"))),
      h("tbody", {}, entries.map((e) => h("tr", {},
        h("td", {}, e.description || e.kind, " ", chip(e.kind, "muted")),
        h("td", { class: "muted" }, dateTime(e.createdAt)),
        h("td", { class: ["num", "tabular", Number(e.amountMicros) < 0 ? "negative" : "positive"] }, money(e.amountMicros, { signed: true }))))))));
}

/** After a checkout: never claim success from the URL alone; wait for the balance to rise. */
function checkoutReturnNotice(kind, balance) {
  const region = liveRegion("status");
  if (kind === "cancelled") {
    try {
      window.sessionStorage.removeItem(BASELINE);
    } catch {
      // Nothing stored.
    }
    region.show("Checkout cancelled — no charge was made.", "info");
    return region.el;
  }
  let baseline = null;
  try {
    const stored = JSON.parse(window.sessionStorage.getItem(BASELINE) || "null");
    if (stored && stored.userId === state.session.user.id && Date.now() - stored.ts < 3_600_000) baseline = stored.net;
  } catch {
    baseline = null;
  }
  if (baseline !== null && net(balance) > baseline) {
    region.show("Credits added — thank you!", "success");
    window.sessionStorage.removeItem(BASELINE);
    return region.el;
  }
  region.show("Checking your payment…", "info");
  const start = baseline === null ? net(balance) : baseline;
  (async () => {
    for (const wait of [1500, 1500, 3000, 4000, 5000, 7000, 8000, 15000, 15000]) {
      await sleep(wait);
      if (!region.el.isConnected) return;
      const fresh = await api("/api/credits/balance").catch(() => null);
      if (fresh && net(fresh) > start) {
        window.sessionStorage.removeItem(BASELINE);
        invalidate("credits:");
        region.show("Credits added — thank you! Reload to see the new balance.", "success");
        return;
      }
    }
    region.show("Your purchase is still being confirmed. Refresh this page in a minute.", "info");
  })();
  return region.el;
}

// --- offline dev checkout -----------------------------------------------------------------------

const STATUS_KIND = { open: "accent", paid: "success", refunded: "muted" };

function checkoutPrice(checkout) {
  if (typeof checkout.priceMinor === "number") return price(checkout.priceMinor, checkout.currency || "EUR");
  if (typeof checkout.price === "string") return checkout.price;
  if (typeof checkout.price === "number") return price(checkout.price, checkout.currency || "EUR");
  return "—";
}

function packName(pack) {
  if (pack && typeof pack === "object") return String(pack.label || pack.id || "—");
  return pack === undefined || pack === null ? "—" : String(pack);
}

export async function devCheckoutPage(ctx) {
  const id = ctx.query.get("checkout");
  if (!id) {
    return appLayout({ title: "Test checkout" }, pageHeader("Test checkout"),
      card({ title: "No checkout" }, notice("error", "This address has no checkout id."), linkButton("Back to credits", "/credits")));
  }
  let checkout;
  try {
    checkout = await api(`/api/credits/dev/checkouts/${encodeURIComponent(id)}`, { signal: ctx.signal });
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    return appLayout({ title: "Test checkout" }, pageHeader("Test checkout"),
      card({ title: "Checkout unavailable" }, notice("error", err.status === 404 ? "This checkout does not exist, or the offline checkout is not enabled." : errorMessage(err)),
        linkButton("Back to credits", "/credits")));
  }
  return devCheckoutScreen(checkout);
}

function devCheckoutScreen(checkout, message = null) {
  const alert = liveRegion("error");
  const path = `/api/credits/dev/checkouts/${encodeURIComponent(checkout.id)}`;
  const act = (btn, busy, suffix, done) => btn.addEventListener("click", async () => {
    alert.clear();
    try {
      const updated = await withBusy(btn, busy, () => api(`${path}/${suffix}`, { method: "POST", body: {} }));
      invalidate("credits:");
      show(await devCheckoutScreen({ ...checkout, ...(updated || {}), status: (updated && updated.status) || done }, done));
    } catch (err) {
      alert.show(errorMessage(err, "The test payment failed."), "error");
    }
  });
  const pay = checkout.status === "open" ? button(`Pay ${checkoutPrice(checkout)}`, { iconName: "card" }) : null;
  const refund = checkout.status === "paid" ? button("Refund", { variant: "secondary", iconName: "refresh" }) : null;
  if (pay) act(pay, "Paying…", "complete", "paid");
  if (refund) act(refund, "Refunding…", "refund", "refunded");
  const result = message === "paid"
    ? notice("success", `Payment complete. ${money(checkout.amountMicros)} in credits were added to your balance.`)
    : message === "refunded" ? notice("info", "Payment refunded. The credits were taken back.") : null;
  return appLayout({ title: "Test checkout" },
    pageHeader("Test checkout", "An offline stand-in for the payment page. No money moves."),
    card({ title: "Order", headerExtra: chip(checkout.status, STATUS_KIND[checkout.status] || "muted", { "data-status": checkout.status }) },
      result,
      alert.el,
      h("dl", { class: "details" },
        h("div", {}, h("dt", {}, "Pack"), h("dd", {}, typeof checkout.price === "string" ? `${checkout.price} pack` : packName(checkout.pack))),
        h("div", {}, h("dt", {}, "Credits"), h("dd", { class: "tabular" }, money(checkout.amountMicros))),
        h("div", {}, h("dt", {}, "Price"), h("dd", { class: "tabular" }, checkoutPrice(checkout))),
        h("div", {}, h("dt", {}, "Checkout"), h("dd", {}, h("code", { class: "mono" }, checkout.id)))),
      h("div", { class: "button-row" }, pay, refund,
        linkButton("Back to credits", checkout.status === "paid" ? "/credits?checkout=return" : "/credits", { variant: pay || refund ? "ghost" : "primary" }))));
}

