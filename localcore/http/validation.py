"""Request parsing with pydantic: one call per handler, errors in the route family's envelope.

Messages follow upstream's zod style: ``"<path.to.field>: <message>"`` joined by ``"; "``; unknown keys
read ``": Unrecognized key(s) in object: 'admin'"``. Malformed JSON is a 400, never a 500.
"""

from __future__ import annotations

import json
import math
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from localcore.errors import LocalcoreError
from localcore.http.families import family_of

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


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to inf, which no JSON consumer can read back
        raise ValueError("number out of range")
    return value


def _check_text(value: Any) -> None:
    """Refuse what no store can keep faithfully: lone surrogates and NUL characters in any string."""
    if isinstance(value, str):
        if "\x00" in value:
            raise BadRequest("Strings must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest("Strings must be valid Unicode (no lone surrogates)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list):
        for item in value:
            _check_text(item)


def decode_json(raw: bytes) -> Any:
    """Strict JSON: no NaN/Infinity, bounded nesting, valid Unicode; any failure is a 400 ``invalid_json``."""
    try:
        value = json.loads(raw, parse_constant=_no_constants, parse_float=_finite)
        _check_text(value)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, ValueError):
        raise BadRequest("Body is not valid JSON", code="invalid_json") from None
    return value


async def read_json(request: web.Request, *, allow_empty: bool = False) -> Any:
    """The decoded JSON body (form bodies too, on route families that accept them: the auth routes, as
    upstream)."""
    content_type = request.content_type
    if content_type == "application/x-www-form-urlencoded" and family_of(request).form_bodies:
        try:
            form = dict(await request.post())
        except (UnicodeDecodeError, ValueError):
            raise BadRequest("Form body is not valid UTF-8", code="invalid_json") from None
        _check_text(form)
        return form
    raw = await request.read()
    if not raw.strip():
        if allow_empty:
            return None
        raise BadRequest("Request body is required")
    if content_type not in ("application/json", "text/plain", "application/octet-stream", "") and \
            not content_type.endswith("+json"):
        raise LocalcoreError(415, "ctp_invalid_media_type", f"Unsupported Media Type: {content_type}")
    return decode_json(raw)


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
