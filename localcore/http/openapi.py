"""The route catalog and the OpenAPI 3.1 document generated from it.

Every route is registered through :meth:`RouteCatalog.add` with the pydantic models that validate its body
and query, so ``GET /api/openapi.json`` cannot drift from what the handlers accept. A route states only what
is specific to it:

- ``raises``: the errors its handler and the services it calls raise, as the very objects they raise
  (``auth_error("INVALID_EMAIL")``, ``NotFound("Workspace not found")``, a :class:`Problem`): each becomes
  an example of its status in the route family's error envelope;
- ``responses``: its other answers (:func:`redirect_to`, :func:`html_page`, :func:`no_content`, a JSON
  :class:`Answer` with its own model), by status;
- a few traits: ``auth`` (a session is required), ``storage=False`` (never touches the database),
  ``shell_page`` (answers the shell's ``index.html``), ``params`` (headers and query parameters read
  without a model).

The answers every route of a kind shares are derived, never restated: from the route family of the path
(its envelope, its origin-refusal code, its session gate) and from what the route does — a body: 400
invalid body, 413, 415; a query model that can fail: 400; a session: 401; a write: 403 origin refusal; a
rate-limit rule (the limiter's rules are passed to :meth:`RouteCatalog.document`): 429 with
``Retry-After``; storage: 503 ``db_unavailable``/``db_busy`` with ``Retry-After``. Those shared answers are
declared once, under ``components/responses``; every error example once, under ``components/examples``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel

from localcore.errors import LocalcoreError
from localcore.http.families import RouteFamilies
from localcore.http.handler import Handler

_JSON = "application/json"
_HTML = "text/html"

__all__ = ["Answer", "Param", "Problem", "RawBody", "RouteCatalog", "RouteSpec", "html_page", "no_content",
           "redirect_to"]


# ----------------------------------------------------------------------------- what a route states


@dataclass(frozen=True, slots=True)
class Problem:
    """An error answer in the route family's envelope. ``builtin``: the core envelope's ``error`` is the
    code (the error middleware's own answers) rather than the message; ``headers``: name → description."""

    status: int
    code: str
    message: str
    builtin: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, error: LocalcoreError | Problem) -> Problem:
        if isinstance(error, Problem):
            return error
        return cls(error.status, error.code, error.message, headers={name: f"Sent with {error.code}"
                                                                     for name in error.headers},
                   extra=dict(error.extra))


@dataclass(frozen=True, slots=True)
class Answer:
    """A non-envelope answer: a redirect, an empty body, an HTML page, or JSON of its own model."""

    description: str
    media_type: str | None = None
    model: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


def redirect_to(description: str) -> Answer:
    return Answer(description, headers={"Location": "Where the browser goes next"})


def html_page(description: str) -> Answer:
    return Answer(description, media_type=_HTML)


def no_content(description: str) -> Answer:
    return Answer(description)


@dataclass(frozen=True, slots=True)
class Param:
    """A header, query or cookie parameter the handler reads without a model."""

    name: str
    where: Literal["query", "header", "cookie"]
    description: str
    required: bool = False


@dataclass(frozen=True, slots=True)
class RawBody:
    """A body the handler reads as raw bytes (a webhook verifies its signature before parsing), so the
    validation layer's 400/415 do not apply. Documented as a JSON object, which every provider event is."""

    description: str
    media_type: str = _JSON


@dataclass(frozen=True, slots=True)
class RouteSpec:
    method: str
    path: str
    summary: str
    tag: str
    body: Any = None
    query: type[BaseModel] | None = None
    response: Any = None
    auth: bool = False
    responses: Mapping[int, str | Answer | Sequence[Answer]] = field(default_factory=dict)
    status: int = 200
    raises: tuple[LocalcoreError | Problem, ...] = ()
    nullable: bool = False
    storage: bool = True
    shell_page: bool = False
    params: tuple[Param, ...] = ()


class RouteCatalog:
    def __init__(self) -> None:
        self.routes: list[RouteSpec] = []

    def add(self, router: web.UrlDispatcher, method: str, path: str, handler: Handler, *, summary: str,
            tag: str, body: Any = None, query: type[BaseModel] | None = None, response: Any = None,
            auth: bool = False, responses: Mapping[int, str | Answer | Sequence[Answer]] | None = None,
            raises: Iterable[LocalcoreError | Problem] = (), name: str | None = None, status: int = 200,
            nullable: bool = False, storage: bool = True, shell_page: bool = False,
            params: Iterable[Param] = ()) -> None:
        """Register ``handler`` and describe it. ``status`` is the success code (201 for creations, 302
        for a route that always redirects, 204 for an empty answer); ``body``/``response`` are pydantic
        models (or any type pydantic can describe; ``body`` may be a :class:`RawBody`); ``nullable``: the
        success body may be ``null``. See the module docstring for the rest."""
        router.add_route(method, path, handler, name=name)
        self.routes.append(RouteSpec(method.upper(), path, summary, tag, body, query, response, auth,
                                     dict(responses or {}), status, tuple(raises), nullable, storage,
                                     shell_page, tuple(params)))

    def document(self, *, title: str, version: str, families: RouteFamilies | None = None,
                 rate_limited: Iterable[tuple[str, str]] = (), cookie_name: str = "session_token") -> dict[str, Any]:
        """The OpenAPI document. ``families``: the app's route families (envelopes, session gates);
        ``rate_limited``: the ``(METHOD, /path/:param)`` keys of the rate limiter's rules."""
        from localcore.http.openapi_document import DocumentBuilder

        return DocumentBuilder(families, frozenset(rate_limited), cookie_name).build(self.routes, title, version)
