"""Request parsing with pydantic: one call per handler, errors in the route family's envelope.

Messages follow upstream's zod style: ``"<path.to.field>: <message>"`` joined by ``"; "``; unknown keys
read ``": Unrecognized key(s) in object: 'admin'"``. Malformed JSON is a 400, never a 500.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from localcore.errors import LocalcoreError

M = TypeVar("M", bound=BaseModel)


def validation_message(exc: ValidationError) -> str:
    unknown: list[str] = []
    parts: list[str] = []
    for issue in exc.errors(include_url=False):
        loc = [str(p) for p in issue["loc"]]
        if issue["type"] == "extra_forbidden":
            unknown.append(loc[-1] if loc else "?")
            continue
        path = ".".join(loc)
        message = str(issue["msg"]).removeprefix("Value error, ")
        parts.append(f"{path}: {message}" if path else message)
    if unknown:
        parts.insert(0, ": Unrecognized key(s) in object: " + ", ".join(f"'{k}'" for k in unknown))
    return "; ".join(parts) or "Invalid request"


class BadRequest(LocalcoreError):
    def __init__(self, message: str, code: str = "validation_failed") -> None:
        super().__init__(400, code, message)


async def read_json(request: web.Request, *, allow_empty: bool = False) -> Any:
    """The decoded JSON body (form bodies are accepted on ``/auth/*`` as upstream)."""
    content_type = request.content_type
    if content_type == "application/x-www-form-urlencoded" and request.path.startswith("/auth/"):
        return dict(await request.post())
    raw = await request.read()
    if not raw.strip():
        if allow_empty:
            return None
        raise BadRequest("Request body is required")
    if content_type not in ("application/json", "text/plain", "application/octet-stream", "") and \
            not content_type.endswith("+json"):
        raise LocalcoreError(415, "ctp_invalid_media_type", f"Unsupported Media Type: {content_type}")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("Body is not valid JSON", code="invalid_json") from None


async def parse_body(request: web.Request, model: type[M], *, allow_empty: bool = False,
                     code: str = "validation_failed") -> M:
    data = await read_json(request, allow_empty=allow_empty)
    if data is None:
        data = {}
    return validate(model, data, code=code)


def validate(model: type[M], data: Any, *, code: str = "validation_failed") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(validation_message(exc), code=code) from None


def parse_query(request: web.Request, model: type[M], *, code: str = "validation_failed") -> M:
    return validate(model, dict(request.query), code=code)
