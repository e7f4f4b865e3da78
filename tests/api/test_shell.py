"""Serving the bundled shell: a bare aiohttp app, one ``setup_shell`` call, no server code around it."""

from __future__ import annotations

import asyncio
import pathlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from localcore.http.security_headers import CSP_NONCE
from localcore.shell import serve_index, setup_shell

INDEX = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Shell</title>
<link rel="stylesheet" href="/styles.css">
<link rel="icon" href="/favicon.svg">
<script src="/js/theme-boot.js"></script>
<script type="module" src="/app.js"></script>
<style>body{margin:0}</style>
<script nonce="fixed" src="/already.js"></script>
</head>
<body><div id="app"></div></body>
</html>
"""


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
def web_root(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "web"
    (root / "js").mkdir(parents=True)
    (root / "index.html").write_text(INDEX, encoding="utf-8")
    (root / "app.js").write_text("export {};\n", encoding="utf-8")
    (root / "js" / "api.js").write_text("export const x = 1;\n", encoding="utf-8")
    (root / "styles.css").write_text("body{color:red}\n", encoding="utf-8")
    (root / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>", encoding="utf-8")
    (root / "app.0123abcd.js").write_text("export {};\n", encoding="utf-8")
    (root / "blob.bin").write_bytes(b"\x00\x01")
    (root / ".secret").write_text("no", encoding="utf-8")
    (tmp_path / "outside.txt").write_text("top secret", encoding="utf-8")
    (root / "escape.txt").symlink_to(tmp_path / "outside.txt")
    return root


def make_app(web_root: pathlib.Path, nonce: str | None = "n0nce+/=") -> web.Application:
    @web.middleware
    async def csp_nonce(request: web.Request, handler: Handler) -> web.StreamResponse:
        if nonce is not None:
            request[CSP_NONCE] = nonce
        return await handler(request)

    async def api_route(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def verify_email(request: web.Request) -> web.StreamResponse:
        # How the auth routes answer a browser navigation on a dual-mode path.
        if "text/html" in request.headers.get("Accept", ""):
            return await serve_index(request)
        return web.json_response({"status": True})

    app = web.Application(middlewares=[csp_nonce])
    app.router.add_get("/api/v1/config", api_route)
    app.router.add_post("/api/v1/config", api_route)
    app.router.add_get("/health", api_route)
    app.router.add_get("/auth/verify-email", verify_email)
    setup_shell(app, web_root)
    return app


@pytest.fixture
async def client(aiohttp_client: Any, web_root: pathlib.Path) -> Any:
    return await aiohttp_client(make_app(web_root))


async def test_index_carries_the_nonce_on_every_script_and_stylesheet(client: Any) -> None:
    resp = await client.get("/", headers={"Accept": "text/html"})
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    assert resp.headers["Cache-Control"] == "no-store"
    page = await resp.text()
    nonce = "n0nce+/="
    assert f'<meta name="boring-csp-nonce" content="{nonce}"></head>' in page
    assert page.count(f'nonce="{nonce}"') == 4  # stylesheet + 2 scripts + style
    assert '<link rel="icon" href="/favicon.svg">' in page
    assert '<script nonce="fixed" src="/already.js">' in page
    for tag in re.findall(r"<(?:script|style)\b[^>]*>", page):
        assert "nonce=" in tag


async def test_api_clients_get_a_404_for_unknown_paths_not_the_page(client: Any) -> None:
    resp = await client.get("/workspace/x", headers={"Accept": "application/json"})
    assert resp.status == 404


async def test_nonce_is_escaped_and_fresh_per_request(aiohttp_client: Any, web_root: pathlib.Path) -> None:
    client = await aiohttp_client(make_app(web_root, nonce='a"b<c'))
    page = await (await client.get("/workspace/x", headers={"Accept": "text/html"})).text()
    assert 'content="a&quot;b&lt;c"' in page
    assert 'a"b<c' not in page


async def test_without_a_nonce_from_a_middleware_the_page_makes_its_own(aiohttp_client: Any,
                                                                        web_root: pathlib.Path) -> None:
    client = await aiohttp_client(make_app(web_root, nonce=None))
    first = await (await client.get("/")).text()
    second = await (await client.get("/")).text()
    nonces = re.findall(r'<meta name="boring-csp-nonce" content="([^"]+)">', first + second)
    assert len(nonces) == 2 and nonces[0] != nonces[1]


async def test_index_is_read_once(client: Any, web_root: pathlib.Path) -> None:
    first = await (await client.get("/")).text()
    (web_root / "index.html").write_text("<html>changed</html>", encoding="utf-8")
    assert await (await client.get("/")).text() == first


@pytest.mark.parametrize("path", ["/workspace/abc/settings", "/auth-ish", "/me", "/invites/tok_123",
                                  "/dev/mail", "/credits/dev-checkout", "/js", "/apiary", "/healthy"])
async def test_spa_routes_get_the_shell(client: Any, path: str) -> None:
    resp = await client.get(path, headers={"Accept": "text/html"})
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<div id="app">' in await resp.text()


async def test_head_gets_the_headers_without_a_body(client: Any) -> None:
    resp = await client.head("/workspace/abc", headers={"Accept": "text/html"})
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    assert await resp.read() == b""


@pytest.mark.parametrize(("path", "content_type"), [
    ("/app.js", "text/javascript; charset=utf-8"),
    ("/js/api.js", "text/javascript; charset=utf-8"),
    ("/styles.css", "text/css; charset=utf-8"),
    ("/favicon.svg", "image/svg+xml"),
    ("/blob.bin", "application/octet-stream"),
])
async def test_static_files_have_their_type_and_revalidate(client: Any, path: str, content_type: str) -> None:
    resp = await client.get(path)
    assert resp.status == 200
    assert resp.headers["Content-Type"] == content_type
    assert resp.headers["Cache-Control"] == "no-cache"
    etag = resp.headers["ETag"]
    again = await client.get(path, headers={"If-None-Match": etag})
    assert again.status == 304


async def test_fingerprinted_files_are_immutable(client: Any) -> None:
    resp = await client.get("/app.0123abcd.js")
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"


async def test_a_missing_asset_is_404_not_html(client: Any) -> None:
    resp = await client.get("/js/missing.js")
    assert resp.status == 404


async def test_dot_files_are_not_served(client: Any) -> None:
    resp = await client.get("/.secret", headers={"Accept": "text/html"})
    assert await resp.text() != "no"
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"


async def _raw_get(client: Any, raw_path: str) -> tuple[int, bytes]:
    """Send ``raw_path`` byte for byte: the client library would normalise the dots away."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(f"GET {raw_path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.parametrize("raw_path", [
    "/..%2F..%2Fetc%2Fpasswd",
    "/js/..%2F..%2F..%2Fetc%2Fpasswd",
    "/%2e%2e%2foutside.txt",
    "/js%5C..%5C..%5Coutside.txt",
    "/a%00b",
])
async def test_traversal_is_refused(client: Any, raw_path: str) -> None:
    status, body = await _raw_get(client, raw_path)
    assert status == 400
    assert body == b'{"error": "invalid_path"}'


async def test_a_symlink_out_of_the_root_is_refused(client: Any) -> None:
    resp = await client.get("/escape.txt")
    assert resp.status == 400
    assert await resp.json() == {"error": "invalid_path"}


async def test_plain_dots_are_normalised_and_never_leave_the_root(client: Any) -> None:
    status, body = await _raw_get(client, "/../../outside.txt")
    assert b"top secret" not in body
    assert status in (200, 400, 404)


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api", "/health/x", "/auth", "/auth/get-session",
                                  "/auth/callback/google"])
async def test_server_paths_are_never_the_shell(client: Any, path: str) -> None:
    resp = await client.get(path, headers={"Accept": "text/html"})
    assert resp.status == 404


async def test_unknown_methods_on_unknown_paths_are_404(client: Any) -> None:
    assert (await client.post("/api/v1/nope")).status == 404
    assert (await client.delete("/workspace/x")).status == 404


async def test_registered_routes_win_over_the_fallback(client: Any) -> None:
    assert await (await client.get("/api/v1/config")).json() == {"ok": True}
    assert await (await client.post("/api/v1/config")).json() == {"ok": True}
    assert await (await client.get("/health")).json() == {"ok": True}


async def test_auth_routes_decide_which_navigations_get_the_page(client: Any) -> None:
    page = await client.get("/auth/verify-email?token=t", headers={"Accept": "text/html"})
    assert '<div id="app">' in await page.text()
    api = await client.get("/auth/verify-email?token=t", headers={"Accept": "application/json"})
    assert await api.json() == {"status": True}


@pytest.mark.parametrize("path", ["/auth/signin", "/auth/signup", "/auth/forgot-password",
                                  "/auth/reset-password", "/auth/magic-link/verify", "/auth/bootstrap",
                                  "/auth/error"])
async def test_unclaimed_auth_pages_fall_back_to_the_shell_for_browsers(client: Any, path: str) -> None:
    page = await client.get(path, headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.status == 200
    assert '<div id="app">' in await page.text()
    api = await client.get(path, headers={"Accept": "application/json"})
    assert api.status == 404


async def test_missing_index_is_503(aiohttp_client: Any, tmp_path: pathlib.Path) -> None:
    client = await aiohttp_client(make_app(tmp_path / "nowhere"))
    resp = await client.get("/workspace/x", headers={"Accept": "text/html"})
    assert resp.status == 503
    assert await resp.json() == {
        "error": "frontend_not_built",
        "message": "Build the frontend before starting in production mode.",
    }


async def test_serve_index_without_setup_is_503(aiohttp_client: Any) -> None:
    app = web.Application()
    app.router.add_get("/page", serve_index)
    client = await aiohttp_client(app)
    resp = await client.get("/page")
    assert resp.status == 503
    assert (await resp.json())["error"] == "frontend_not_built"


async def test_the_real_web_root_has_an_index_and_its_assets() -> None:
    root = pathlib.Path(__file__).resolve().parents[2] / "web"
    index = (root / "index.html").read_text(encoding="utf-8")
    for ref in re.findall(r'(?:src|href)="(/[^"]+)"', index):
        assert (root / ref.lstrip("/")).is_file(), ref
    assert "<script>" not in index  # every script is an external file (CSP: no inline scripts)
