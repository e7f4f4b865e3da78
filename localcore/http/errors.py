"""Every error becomes an envelope; nothing internal ever reaches the client.

The shape is the route family's (``families.py``: core ``{error, code, message, requestId}``, better-auth's
``{code, message}``, or ``{error: {code, message}}``), declared by the feature that owns the path.
Rate limiting always uses the core envelope with ``Retry-After``. A storage that cannot be reached is
503 ``db_unavailable`` (a write lock held past the busy timeout: 503 ``db_busy``), with ``Retry-After``
and no stack trace: the backend logs each outage once. Anything else unexpected is logged with the
request id and answered ``500 internal_error`` "Internal server error".
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from localcore.contract.errors import StorageBusy, StorageUnavailable
from localcore.errors import LocalcoreError, RateLimited
from localcore.http.families import DEFAULT_FAMILY, family_of
from localcore.http.handler import Handler
from localcore.http.metrics import metrics_of, route_template
from localcore.http.request_context import request_id

log = logging.getLogger("localcore.http")
#: A storage outage is usually brief (a restart, a lock held by a migration).
RETRY_SOON = {"Retry-After": "2"}

_BUILTIN_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 408: "request_timeout", 411: "length_required",
    413: "ctp_body_too_large", 414: "uri_too_long", 415: "ctp_invalid_media_type",
    429: "rate_limited", 431: "request_header_fields_too_large",
}


def envelope(request: web.Request, status: int, code: str, message: str, *,
             builtin: bool = False, extra: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None, force_core: bool = False) -> web.Response:
    family = DEFAULT_FAMILY if force_core else family_of(request)
    body = family.error_body(code=code, message=message, request_id=request_id(request), builtin=builtin)
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
    body = family_of(request).not_found_body(message=message, request_id=request_id(request))
    return web.Response(status=404, text=json.dumps(body), content_type="application/json")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except StorageUnavailable:
        return envelope(request, 503, "db_unavailable", "Database unavailable", builtin=True,
                        headers=RETRY_SOON)
    except StorageBusy:
        return envelope(request, 503, "db_busy", "Database busy", builtin=True, headers=RETRY_SOON)
    except RateLimited as exc:
        metrics = metrics_of(request.app)
        if metrics is not None:
            metrics.rate_limited(route_template(request))
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
