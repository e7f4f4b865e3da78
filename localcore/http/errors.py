"""Every error becomes an envelope; nothing internal ever reaches the client.

Three shapes, chosen by path (the contract of each route family):
- core (``/health``, ``/api/v1/*``, everything else): ``{error, code, message, requestId}``, where
  ``error`` is the message for application errors and the code for built-in ones (upstream's asymmetry);
- ``/auth/*``: better-auth's ``{code, message}``;
- ``/api/credits/*``: ``{error: {code, message}}``.
Rate limiting always uses the core envelope with ``Retry-After``. Unexpected exceptions are logged with
the request id and answered ``500 internal_error`` "Internal server error".
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from localcore.errors import LocalcoreError, RateLimited
from localcore.http.handler import Handler
from localcore.http.request_context import request_id

log = logging.getLogger("localcore.http")

_BUILTIN_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 408: "request_timeout", 411: "length_required",
    413: "ctp_body_too_large", 414: "uri_too_long", 415: "ctp_invalid_media_type",
    429: "rate_limited", 431: "request_header_fields_too_large",
}


def envelope(request: web.Request, status: int, code: str, message: str, *,
             builtin: bool = False, extra: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None, force_core: bool = False) -> web.Response:
    path = request.path
    body: dict[str, Any]
    if path.startswith("/auth/") and not force_core:
        body = {"code": code, "message": message}
    elif path.startswith("/api/credits/") and not force_core:
        body = {"error": {"code": code, "message": message}}
    else:
        body = {"error": code if builtin else message, "code": code, "message": message,
                "requestId": request_id(request)}
    if extra:
        body.update(extra)
    return web.Response(status=status, text=json.dumps(body), content_type="application/json",
                        headers=headers)


def _framework_error(request: web.Request, exc: web.HTTPException) -> web.StreamResponse:
    status = exc.status
    if status == 404:
        return _not_found(request)
    if status == 405:
        return envelope(request, 405, "method_not_allowed",
                        f"Method {request.method} not allowed for {request.path}", builtin=True)
    if status == 413:
        return envelope(request, 413, "ctp_body_too_large", "Request body is too large", builtin=False)
    code = _BUILTIN_CODES.get(status, f"http_{status}")
    return envelope(request, status, code, exc.reason or code, builtin=True)


def _not_found(request: web.Request) -> web.Response:
    message = f"Route {request.method}:{request.path} not found"
    body = {"error": "Not found", "code": "not_found", "message": message, "requestId": request_id(request)}
    if request.path.startswith("/auth/"):
        body = {"code": "NOT_FOUND", "message": message}
    return web.Response(status=404, text=json.dumps(body), content_type="application/json")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RateLimited as exc:
        return envelope(request, 429, exc.code, exc.message, builtin=True, headers=exc.headers,
                        force_core=True)
    except LocalcoreError as exc:
        return envelope(request, exc.status, exc.code, exc.message, extra=exc.extra, headers=exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:  # redirects and other non-error exceptions pass through unchanged
            raise
        return _framework_error(request, exc)
    except Exception:
        log.exception("unhandled error", extra={"requestId": request_id(request), "path": request.path})
        return envelope(request, 500, "internal_error", "Internal server error", builtin=True)
