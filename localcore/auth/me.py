"""``/api/v1/me``: who am I, my per-app settings, and deleting my account.

``user`` carries ``emailVerified`` and ``image`` besides upstream's ``{id, email, name}`` (see
docs/compatibility.md, "Small changes on the wire"). ``PUT /settings`` overlays ``displayName`` and replaces
the ``settings`` map; ``email`` is not writable. ``DELETE`` needs ``confirm`` equal to the session's email,
runs the account-deletion cascade (``delete_user_completely``, one atomic step on every backend; see
docs/contract.md, "The stores, briefly") and expires the session cookie; the sessions went with the user.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from localcore.appkeys import BACKEND, CONFIG
from localcore.audit import audit_record
from localcore.auth import models as m
from localcore.auth.cookies import request_cache_view
from localcore.auth.keys import IDENTITY_CACHE, SESSION_COOKIES
from localcore.auth.views import json_response
from localcore.errors import ValidationFailed
from localcore.http.identity import forget_identity, require_identity
from localcore.http.openapi import RouteCatalog
from localcore.http.validation import parse_body
from localcore.store import UserSettings

log = logging.getLogger("localcore.auth")
TAG = "me"


def _settings_json(settings: UserSettings) -> dict[str, object]:
    return {"displayName": settings.display_name, "email": settings.email, "settings": settings.settings}


async def get_me(request: web.Request) -> web.Response:
    user = (await require_identity(request)).user
    users, app_id = request.app[BACKEND].users, request.app[CONFIG].app_id
    view = request_cache_view(request) or await request.app[IDENTITY_CACHE].view()
    settings = await view.get_or_load(("settings", user.id, app_id), lambda: users.get_user_settings(user.id, app_id))
    assert settings is not None  # get_user_settings always answers
    return json_response({
        "user": {"id": user.id, "email": user.email, "name": user.name, "emailVerified": user.email_verified,
                 "image": user.image},
        "settings": _settings_json(settings),
    })


async def put_settings(request: web.Request) -> web.Response:
    user = (await require_identity(request)).user
    body = await parse_body(request, m.MeSettingsBody)
    saved = await request.app[BACKEND].users.put_user_settings(
        user.id, request.app[CONFIG].app_id, display_name=body.displayName, settings=body.settings)
    return json_response(_settings_json(saved))


async def delete_me(request: web.Request) -> web.Response:
    identity = await require_identity(request)
    body = await parse_body(request, m.DeleteMeBody, allow_empty=True)
    if body.confirm != identity.user.email:
        raise ValidationFailed("confirm must match the signed-in email")
    started = time.perf_counter()
    log.info("user.delete.start user=%s", identity.user.id)
    await request.app[BACKEND].users.delete_user_completely(identity.user.id, audit=audit_record(
        "account.delete", actor_id=identity.user.id))
    request.app[SESSION_COOKIES].clear(request)
    forget_identity(request)
    log.info("user.delete.complete user=%s durationMs=%d", identity.user.id,
             int((time.perf_counter() - started) * 1000))
    return json_response({"deleted": True})


def setup_me_routes(app: web.Application, catalog: RouteCatalog) -> None:
    r = app.router
    catalog.add(r, "GET", "/api/v1/me", get_me, tag=TAG, response=m.MeOut, auth=True,
                summary="The signed-in user and their settings for this app")
    catalog.add(r, "PUT", "/api/v1/me/settings", put_settings, tag=TAG, body=m.MeSettingsBody,
                response=m.MeSettings, auth=True,
                summary="Update the display name and/or replace the settings map (strict body)")
    catalog.add(r, "DELETE", "/api/v1/me", delete_me, tag=TAG, body=m.DeleteMeBody, response=m.DeletedOut,
                auth=True, summary="Delete the account (confirm = own email) with the full cascade",
                raises=[ValidationFailed("confirm must match the signed-in email")])
