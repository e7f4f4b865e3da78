"""The bundled shell: the static files of ``web/`` and the single-page-app fallback.

The shell is plain files (no build step), so this module only has to do what a CDN would: serve each
file with the right type and caching, refuse paths that leave the web root, and answer every browser
route with ``index.html`` so the client router can take over. It keeps the rules by which upstream serves
its frontend:

- ``/api``, ``/health`` and ``/auth`` (and below) are never the shell: they are the server's. The auth
  routes decide which ``/auth/*`` HTML navigations get the page (they call :func:`serve_index`); as a
  fallback, a browser GET of one of :data:`SHELL_AUTH_PAGES` that no route claimed gets it here too.
- A path that resolves outside the web root is 400 ``{error: "invalid_path"}``.
- ``index.html`` is read once and kept in memory; each response carries the request's CSP nonce
  (``request["csp_nonce"]``, set by the security middleware) on every script and stylesheet tag and in
  ``<meta name="boring-csp-nonce">``. It is never cached by the browser, so a new nonce always applies.
- Static files revalidate (ETag / Last-Modified) unless their name carries a content hash, in which
  case they are immutable for a year.

:func:`setup_shell` registers one catch-all route; the app factory calls it after every other route so
that API routes always win.
"""

from __future__ import annotations

import html
import pathlib
import re
from dataclasses import dataclass, field

from aiohttp import hdrs, web

from localcore.http.security_headers import csp_nonce

__all__ = ["SHELL_AUTH_PAGES", "Shell", "serve_index", "setup_shell", "shell_key"]

#: Client-rendered auth pages: a browser navigation there gets the shell when no server route took it.
SHELL_AUTH_PAGES = frozenset({
    "/auth/signin",
    "/auth/signup",
    "/auth/forgot-password",
    "/auth/reset-password",
    "/auth/verify-email",
    "/auth/magic-link/verify",
    "/auth/bootstrap",
    "/auth/error",
})

# Path prefixes that belong to the server; a miss there is the server's 404, never the shell.
_SERVER_PREFIXES = ("/api", "/health", "/auth")

# Upstream's extension table, plus the module and font types a no-build shell needs.
_CONTENT_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".ico": "image/x-icon",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
    ".woff2": "font/woff2",
}
_DEFAULT_CONTENT_TYPE = "application/octet-stream"

# `app.3f9a1c2b.js`: a fingerprinted name never changes content, so it may be cached forever.
_FINGERPRINTED = re.compile(r"\.[0-9a-f]{8,}\.[A-Za-z0-9]+$")
_IMMUTABLE = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"

_NOT_BUILT = {
    "error": "frontend_not_built",
    "message": "Build the frontend before starting in production mode.",
}

# Placeholder for the per-request nonce inside the prepared index template. NUL cannot occur in an
# HTML file that is served as text, so it never collides with real content.
_NONCE_SLOT = "\x00csp-nonce\x00"
_NONCE_TAG = re.compile(r"<(script|style|link)\b([^>]*)>", re.IGNORECASE)
_HAS_NONCE = re.compile(r"\snonce\s*=", re.IGNORECASE)
_LINK_REL = re.compile(r"""\srel\s*=\s*["']?([^"'\s>]+)""", re.IGNORECASE)
_NONCED_LINK_RELS = {"stylesheet", "modulepreload", "preload"}
_HEAD_END = re.compile(r"</head\s*>", re.IGNORECASE)
_META_NAME = "boring-csp-nonce"


def _with_nonce_slots(page: str) -> str:
    """``page`` with a nonce slot on every script/style/stylesheet tag and a nonce meta in the head."""

    def tag(match: re.Match[str]) -> str:
        name, attrs = match.group(1), match.group(2)
        if _HAS_NONCE.search(attrs):
            return match.group(0)
        if name.lower() == "link":
            rel = _LINK_REL.search(attrs)
            if rel is None or rel.group(1).lower() not in _NONCED_LINK_RELS:
                return match.group(0)
        return f'<{name} nonce="{_NONCE_SLOT}"{attrs}>'

    page = _NONCE_TAG.sub(tag, page)
    if f'name="{_META_NAME}"' not in page:
        meta = f'<meta name="{_META_NAME}" content="{_NONCE_SLOT}">'
        head_end = _HEAD_END.search(page)
        page = (page[: head_end.start()] + meta + page[head_end.start():]) if head_end else meta + page
    return page


@dataclass
class Shell:
    """The web root and the in-memory ``index.html`` (read on first use, then kept)."""

    root: pathlib.Path
    _page: str | None = field(default=None, init=False, repr=False)
    _template: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.root = self.root.resolve()

    def _load(self) -> bool:
        if self._page is None:
            try:
                page = (self.root / "index.html").read_text(encoding="utf-8")
            except FileNotFoundError:
                return False
            self._page, self._template = page, _with_nonce_slots(page)
        return True

    def index(self, nonce: str | None) -> str | None:
        """The page for one response, or None while ``index.html`` does not exist."""
        if not self._load():
            return None
        if not nonce:
            return self._page
        assert self._template is not None
        return self._template.replace(_NONCE_SLOT, html.escape(nonce, quote=True))

    def resolve(self, path: str) -> pathlib.Path | None:
        """The file under the root that ``path`` names, or None. Raises ``ValueError`` when it escapes."""
        if "\x00" in path or "\\" in path:
            raise ValueError("invalid path")
        parts = [part for part in path.split("/") if part]
        if ".." in parts:
            raise ValueError("invalid path")
        candidate = self.root.joinpath(*parts).resolve()
        if not candidate.is_relative_to(self.root):
            # A symlink that points outside the web root.
            raise ValueError("invalid path")
        # Dot files (editor swap files, .gitkeep) are not part of the shell.
        if any(part.startswith(".") for part in parts) or not candidate.is_file():
            return None
        return candidate


shell_key = web.AppKey("localcore.shell", Shell)


def _nonce(request: web.Request) -> str | None:
    """This request's CSP nonce, set by the security-headers middleware."""
    return csp_nonce(request)


async def serve_index(request: web.Request) -> web.Response:
    """``index.html`` with this request's CSP nonce; 503 ``frontend_not_built`` when it is missing."""
    shell = request.config_dict.get(shell_key)
    page = shell.index(_nonce(request)) if shell is not None else None
    if page is None:
        return web.json_response(_NOT_BUILT, status=503, headers={hdrs.CACHE_CONTROL: "no-store"})
    return web.Response(
        text=page,
        content_type="text/html",
        charset="utf-8",
        headers={hdrs.CACHE_CONTROL: "no-store"},
    )


def _is_server_path(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in _SERVER_PREFIXES)


def _wants_html(request: web.Request) -> bool:
    return "text/html" in request.headers.get(hdrs.ACCEPT, "")


async def _not_a_page(request: web.Request) -> web.HTTPException:
    """A non-GET that reached the catch-all: 405 if another route owns the path, else 404."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource.name != "shell":
            allowed |= (await resource.resolve(request))[1]
    return web.HTTPMethodNotAllowed(request.method, allowed) if allowed else web.HTTPNotFound()


async def _shell_or_file(request: web.Request) -> web.StreamResponse:
    path = request.path
    if request.method not in (hdrs.METH_GET, hdrs.METH_HEAD):
        raise await _not_a_page(request)
    if _is_server_path(path):
        if path in SHELL_AUTH_PAGES and _wants_html(request):
            return await serve_index(request)
        raise web.HTTPNotFound()
    if path in ("/", "/index.html"):
        return await serve_index(request)
    shell = request.config_dict[shell_key]
    try:
        file = shell.resolve(path)
    except ValueError:
        return web.json_response({"error": "invalid_path"}, status=400)
    if file is None:
        if pathlib.PurePosixPath(path).suffix.lower() in _CONTENT_TYPES or not _wants_html(request):
            # A missing asset, or an API client (no text/html in Accept), gets the 404 envelope rather
            # than a page of HTML; browsers navigating to a client-side route get the shell.
            raise web.HTTPNotFound()
        return await serve_index(request)
    cache = _IMMUTABLE if _FINGERPRINTED.search(file.name) else _REVALIDATE
    content_type = _CONTENT_TYPES.get(file.suffix.lower(), _DEFAULT_CONTENT_TYPE)
    return web.FileResponse(
        file, headers={hdrs.CONTENT_TYPE: content_type, hdrs.CACHE_CONTROL: cache}
    )


def setup_shell(app: web.Application, web_root: pathlib.Path) -> None:
    """Serve the shell from ``web_root``. Call after every other route: this adds the catch-all."""
    app[shell_key] = Shell(web_root)
    app.router.add_route("*", "/{path:.*}", _shell_or_file, name="shell")
