"""JSON shapes of users and sessions as better-auth returns them (and small response helpers).

``get-session`` echoes the caller's own session token, as better-auth does; every other session is
shown by its id only (the server keeps no raw tokens to show).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from localcore.clock import iso
from localcore.http.request_context import client_ip
from localcore.store import Session, User


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "emailVerified": user.email_verified,
        "image": user.image,
        "createdAt": iso(user.created_at),
        "updatedAt": iso(user.updated_at),
    }


def session_json(session: Session, token: str | None = None) -> dict[str, Any]:
    """better-auth's session shape. ``token`` is the caller's own session token when it is known (from
    the cookie or just issued); for other sessions only the hash is stored, so the session id stands in
    as the handle ``/auth/revoke-session`` accepts."""
    return {
        "id": session.id,
        "token": token or session.id,
        "userId": session.user_id,
        "expiresAt": iso(session.expires_at),
        "createdAt": iso(session.created_at),
        "updatedAt": iso(session.updated_at),
        "ipAddress": session.ip_address,
        "userAgent": session.user_agent,
    }


def json_response(data: Any, *, status: int = 200) -> web.Response:
    """JSON that is never cached (auth answers are per-user)."""
    return web.Response(text=json.dumps(data), status=status, content_type="application/json",
                        headers={"Cache-Control": "no-store"})


def redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})


def wants_html(request: web.Request) -> bool:
    return "text/html" in request.headers.get("Accept", "")


def client_info(request: web.Request) -> tuple[str | None, str | None]:
    return client_ip(request) or None, request.headers.get("User-Agent")
