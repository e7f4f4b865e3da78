// A History API router. A route's page is an async function that loads what it needs and returns
// the screen; the router swaps it in only when it is still the current navigation, then moves focus
// to the page heading so keyboard and screen-reader users land at the top of the new page.

import { appName } from "./state.js";

const routes = [];
let root = null;
let guard = null;
let navSeq = 0;
let controller = null;
let notFoundPage = null;
let errorPage = null;

/** `path` like "/workspace/:id/members"; `page(ctx)` returns a Node or {redirect}. */
export function route(path, page, { isPublic = false } = {}) {
  const names = [];
  const pattern = path.replace(/:([A-Za-z]+)/g, (_, name) => {
    names.push(name);
    return "([^/]+)";
  });
  routes.push({ path, page, isPublic, names, regex: new RegExp(`^${pattern}/?$`) });
}

export function notFound(page) {
  notFoundPage = page;
}

function match(pathname) {
  for (const r of routes) {
    const m = r.regex.exec(pathname);
    if (m) {
      const params = {};
      r.names.forEach((name, i) => {
        params[name] = decodeURIComponent(m[i + 1]);
      });
      return { route: r, params };
    }
  }
  return null;
}

/** Only same-site paths: "/x" yes; "//evil", "https://…", control or quote characters no. */
export function safeRedirect(value, fallback = "/") {
  if (typeof value !== "string" || !value.startsWith("/") || value.startsWith("//")) return fallback;
  if (/[\u0000-\u001f\u007f<>"'`\\]/.test(value)) return fallback;
  return value;
}

export function navigate(to, { replace = false } = {}) {
  const url = new URL(to, window.location.origin);
  if (url.origin !== window.location.origin) {
    window.location.assign(url.href);
    return;
  }
  const target = url.pathname + url.search + url.hash;
  if (replace) window.history.replaceState({}, "", target);
  else window.history.pushState({}, "", target);
  render();
}

/** Re-run the current route (after sign-in, a mutation that changes the page, …). */
export function reload() {
  render();
}

export function startRouter({ mount, beforeRoute, onError }) {
  root = mount;
  guard = beforeRoute;
  errorPage = onError;
  window.addEventListener("popstate", () => render());
  document.addEventListener("click", onLinkClick);
  return render();
}

function onLinkClick(event) {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = event.target instanceof Element ? event.target.closest("a[href]") : null;
  if (!link || link.target || link.hasAttribute("download") || link.dataset.native !== undefined) return;
  const url = new URL(link.href, window.location.origin);
  if (url.origin !== window.location.origin) return;
  // In-page anchors (#password) are the browser's job.
  if (url.pathname === window.location.pathname && url.search === window.location.search && url.hash) return;
  event.preventDefault();
  navigate(url.pathname + url.search + url.hash);
}

async function render() {
  navSeq += 1;
  const seq = navSeq;
  if (controller) controller.abort();
  controller = new AbortController();
  const { signal } = controller;
  const location = window.location;
  const found = match(location.pathname);
  const ctx = {
    path: location.pathname,
    query: new URLSearchParams(location.search),
    hash: location.hash,
    params: found ? found.params : {},
    signal,
    isCurrent: () => seq === navSeq,
  };
  const redirect = guard ? guard({ ...ctx, isPublic: found ? found.route.isPublic : true }) : null;
  if (redirect) {
    navigate(redirect, { replace: true });
    return;
  }
  document.documentElement.classList.add("is-navigating");
  let screen;
  try {
    const page = found ? found.route.page : notFoundPage;
    screen = await page(ctx);
  } catch (err) {
    if (err && err.name === "AbortError") return;
    if (!err || err.name !== "HttpError") console.error(err);
    if (!errorPage) throw err;
    screen = errorPage(err);
  } finally {
    if (seq === navSeq) document.documentElement.classList.remove("is-navigating");
  }
  if (seq !== navSeq) return;
  if (screen && screen.redirect) {
    navigate(screen.redirect, { replace: true });
    return;
  }
  show(screen, { hash: location.hash });
}

/** Swap the whole screen (a page changing state, e.g. a form replaced by "Check your inbox"). */
export function show(screen, { hash = "" } = {}) {
  const title = screen.dataset && screen.dataset.title;
  document.title = title ? `${title} · ${appName()}` : appName();
  root.replaceChildren(screen);
  root.removeAttribute("aria-busy");
  focusHeading(hash);
}

function focusHeading(hash) {
  const target = hash ? document.getElementById(decodeURIComponent(hash.slice(1))) : null;
  if (target) {
    target.scrollIntoView();
    return;
  }
  window.scrollTo(0, 0);
  const heading = root.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}
