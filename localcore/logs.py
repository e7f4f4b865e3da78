"""Logging set-up: one line per event, secrets never written.

- The access log records method, path WITHOUT the query string (tokens travel in query strings on the
  link routes), status, duration and request id.
- ``RedactingFilter`` masks anything that looks like a credential in every log record: values of
  ``token=``/``password=``/``secret=`` pairs, bearer tokens and URL passwords.
- ``LOG_FORMAT=json`` writes one JSON object per line: ``time``, ``level``, ``logger``, ``message`` and,
  on access lines, ``requestId``, ``method``, ``route`` (the template, never the raw path), ``path``,
  ``status``, ``durationMs`` and ``userId`` when the caller was identified. Never a token or secret: the
  message is redacted first and no header, query or body is ever a field.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError

from localcore.http.identity import resolved_user_id

_PATTERNS = (
    (re.compile(r"(?i)((?:invite_)?token|password|secret|code|key)=([^&\s\"']+)"), r"\1=[REDACTED]"),
    (re.compile(r"(?i)(bearer\s+)[a-z0-9._~+/=-]+"), r"\1[REDACTED]"),
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^:/\s@]+:)([^@\s]+)(@)"), r"\1***\3"),
    (re.compile(r"(/auth/reset-password/|/invites/)[A-Za-z0-9_-]{8,}"), r"\1[REDACTED]"),
)


def redact_text(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


#: The structured fields an access line carries (the JSON formatter emits them when present).
ACCESS_FIELDS = ("requestId", "method", "route", "path", "status", "durationMs", "userId")


class MalformedRequestFilter(logging.Filter):
    """aiohttp answers an unparseable request (a bad header, a NUL byte) with 400 itself and logs the
    parser's exception with a stack trace, once per request: a client could fill the log. Keep one short
    line without the trace (and without the raw bytes, which a client chose)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg, record.args, record.exc_info, record.exc_text = (
                "malformed HTTP request refused (%s)", (type(exc).__name__,), None, None)
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


class AccessLogger(AbstractAccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        request_id = response.headers.get("x-request-id", "-")
        match_info = getattr(request, "match_info", None)
        resource = match_info.route.resource if match_info is not None else None
        user = resolved_user_id(request)
        self.logger.info(
            "%s %s %s %.1fms rid=%s", request.method, request.path, response.status, time * 1000, request_id,
            extra={"requestId": request_id, "method": request.method, "path": redact_text(request.path),
                   "route": resource.canonical if resource is not None else None, "status": response.status,
                   "durationMs": round(time * 1000, 1), **({"userId": user} if user else {})},
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


_LEVELS = {"fatal": logging.CRITICAL, "error": logging.ERROR, "warn": logging.WARNING, "info": logging.INFO,
           "debug": logging.DEBUG, "trace": logging.DEBUG}


class JsonFormatter(logging.Formatter):
    """One JSON object per record (``LOG_FORMAT=json``)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
        }
        for name in ACCESS_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "info", stream: Any = None, *, log_format: str = "text") -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json"
                         else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(_LEVELS.get(level, logging.INFO))
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequestFilter) for f in server_log.filters):
        server_log.addFilter(MalformedRequestFilter())
    logging.getLogger("aiohttp.access").setLevel(
        logging.WARNING if level in ("info", "warn", "error", "fatal") else logging.INFO)
