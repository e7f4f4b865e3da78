"""Logging set-up: one line per event, secrets never written.

- The access log records method, path WITHOUT the query string (tokens travel in query strings on the
  link routes), status, duration and request id.
- ``RedactingFilter`` masks anything that looks like a credential in every log record: values of
  ``token=``/``password=``/``secret=`` pairs, bearer tokens and URL passwords.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

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


class AccessLogger(AbstractAccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %.1fms rid=%s", request.method, request.path, response.status, time * 1000,
            response.headers.get("x-request-id", "-"),
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


_LEVELS = {"fatal": logging.CRITICAL, "error": logging.ERROR, "warn": logging.WARNING, "info": logging.INFO,
           "debug": logging.DEBUG, "trace": logging.DEBUG}


def configure_logging(level: str = "info", stream: Any = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(_LEVELS.get(level, logging.INFO))
    logging.getLogger("aiohttp.access").setLevel(
        logging.WARNING if level in ("info", "warn", "error", "fatal") else logging.INFO)
