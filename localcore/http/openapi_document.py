"""Building the OpenAPI document from the catalog's routes (``RouteCatalog.document``).

The shared answers are declared here once: the three error envelopes (``components/schemas``), the
answers every route of a kind gets from its route family and traits (``components/responses``), and every
error example (``components/examples``). Each status of an operation merges what the traits and the route
contribute; a shared answer that is alone at its status is a reference to its component.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter

from localcore.http.families import DEFAULT_FAMILY, RouteFamilies, RouteFamily
from localcore.http.openapi import Answer, Problem, RawBody, RouteSpec

_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
_JSON = "application/json"
_FORM = "application/x-www-form-urlencoded"
_HTML = "text/html"
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
EXAMPLE_REQUEST_ID = "5f0c6b1e-2d4a-4c8e-9a57-3b1f0e6d2c90"


# ----------------------------------------------------------------------------- the shared answers

_ENVELOPES: dict[str, dict[str, Any]] = {
    "CoreError": {
        "type": "object", "required": ["error", "code", "message", "requestId"],
        "description": "The core error envelope. `error` is the message for application errors and the code "
                       "for the server's own (rate limits, outages).",
        "properties": {"error": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"},
                       "requestId": {"type": "string", "description": "Also in the x-request-id header"}},
    },
    "AuthError": {
        "type": "object", "required": ["code", "message"],
        "description": "better-auth's error envelope (every /auth/* route).",
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
    },
    "NestedError": {
        "type": "object", "required": ["error"],
        "description": "The credits routes' error envelope.",
        "properties": {"error": {"type": "object", "required": ["code", "message"],
                                 "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}},
    },
}
_ENVELOPE_SCHEMA = {"core": "CoreError", "auth": "AuthError", "nested": "NestedError"}
_NOT_BUILT_SCHEMA = {
    "type": "object", "required": ["error", "message"],
    "properties": {"error": {"const": "frontend_not_built"}, "message": {"type": "string"}},
}
#: The code a body or query that fails its model gets, by envelope (better-auth's on /auth/*).
_SCHEMA_FAILURE = {"core": Problem(400, "validation_failed", "name: Field required"),
                   "auth": Problem(400, "VALIDATION_ERROR", "email: Field required"),
                   "nested": None}
_INVALID_JSON = Problem(400, "invalid_json", "Body is not valid JSON")
_BAD_TEXT = Problem(400, "validation_failed", "Strings must not contain NUL characters")
_RETRY_AFTER = {"Retry-After": "Seconds to wait before retrying"}
#: On the answers of rate-limited routes while limits are on (``LOCALCORE_RATE_LIMITS=off`` drops them).
_RATE_LIMIT_HEADERS = {
    name: {"description": text, "required": False, "schema": {"type": "integer"}}
    for name, text in (("x-ratelimit-limit", "Requests allowed per window"),
                       ("x-ratelimit-remaining", "Requests left in this window"),
                       ("x-ratelimit-reset", "Seconds until the window resets"))}
_STORAGE = (Problem(503, "db_unavailable", "Database unavailable", builtin=True, headers=_RETRY_AFTER),
            Problem(503, "db_busy", "Database busy", builtin=True, headers=_RETRY_AFTER))
_RATE_LIMITED = Problem(429, "rate_limited", "Too many requests. Retry after 42 seconds.", builtin=True,
                        headers=_RETRY_AFTER)
_UNAUTHORIZED = {"core": Problem(401, "unauthorized", "Authentication required"),
                 "auth": Problem(401, "UNAUTHORIZED", "Unauthorized"),
                 "nested": Problem(401, "unauthorized", "authentication required")}


def _shared(kind: str, family: RouteFamily) -> tuple[str, tuple[Problem, ...]]:
    """The description and problems of a shared answer of ``family``."""
    if kind == "InvalidBody":
        failure = _SCHEMA_FAILURE[family.envelope]
        problems = tuple(p for p in (failure, _INVALID_JSON, _BAD_TEXT) if p is not None)
        unique = tuple({p.code: p for p in problems}.values())
        return "The body is not valid JSON (or form data), or does not match the schema", unique
    if kind == "InvalidQuery":
        failure = _SCHEMA_FAILURE[family.envelope] or _SCHEMA_FAILURE["core"]
        assert failure is not None
        return "The query string does not match the schema", (failure,)
    if kind == "Unauthorized":
        return "No valid session", (_UNAUTHORIZED[family.envelope],)
    if kind == "OriginRefused":
        refused = [Problem(403, family.origin_code, "Invalid origin")]
        if family.login_csrf:
            refused.append(Problem(403, "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED", "Cross-site navigation login blocked"))
        return ("A browser write from an origin that is not allowed (CSRF defence; on sign-in routes even "
                "without a session cookie)"), tuple(refused)
    if kind == "PayloadTooLarge":
        return "The body is larger than BODY_LIMIT_BYTES", (
            Problem(413, "ctp_body_too_large", "Request body is too large (limit 1048576 bytes)"),)
    if kind == "UnsupportedMediaType":
        return "The body's media type is not JSON", (
            Problem(415, "ctp_invalid_media_type", "Unsupported Media Type: application/xml"),)
    if kind == "StorageUnavailable":
        return "The database cannot be reached (db_unavailable) or stays write-locked (db_busy)", _STORAGE
    raise KeyError(kind)


# ----------------------------------------------------------------------------- the document


@dataclass
class _Part:
    """One contribution to a status of an operation: a media type with a schema and examples."""

    description: str
    media_type: str | None = None
    schema: dict[str, Any] | None = None
    examples: dict[str, dict[str, Any]] = field(default_factory=dict)
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)
    component: str | None = None  # a shared answer under components/responses, used as is when alone


class DocumentBuilder:
    def __init__(self, families: RouteFamilies | None, rate_limited: frozenset[tuple[str, str]],
                 cookie_name: str) -> None:
        self.families = families
        self.rate_limited = rate_limited
        self.cookie_name = cookie_name
        self.schemas: dict[str, Any] = {}
        self.responses: dict[str, Any] = {}
        self.examples: dict[str, Any] = {}
        self._example_names: dict[str, str] = {}

    # -- schemas and examples

    def schema_of(self, model: Any) -> dict[str, Any]:
        ref = "#/components/schemas/{model}"
        if isinstance(model, type) and issubclass(model, BaseModel):
            schema = model.model_json_schema(ref_template=ref, by_alias=True)
            self.schemas.update(schema.pop("$defs", {}))
            self.schemas[model.__name__] = schema
            return {"$ref": ref.format(model=model.__name__)}
        schema = TypeAdapter(model).json_schema(ref_template=ref, by_alias=True)
        self.schemas.update(schema.pop("$defs", {}))
        return schema

    def envelope_ref(self, family: RouteFamily) -> dict[str, Any]:
        name = _ENVELOPE_SCHEMA[family.envelope]
        self.schemas[name] = _ENVELOPES[name]
        return {"$ref": f"#/components/schemas/{name}"}

    def example(self, family: RouteFamily, problem: Problem) -> str:
        """The name of the example of ``problem`` in ``family``'s envelope under components/examples."""
        core = problem.status == 429  # rate limiting always answers in the core envelope
        shape = DEFAULT_FAMILY if core else family
        value = shape.error_body(code=problem.code, message=problem.message, request_id=EXAMPLE_REQUEST_ID,
                                 builtin=problem.builtin)
        value.update(problem.extra)
        key = repr(sorted(value.items(), key=lambda item: item[0]))
        prefix = "core" if core else family.name
        if key not in self._example_names:
            base = name = f"{prefix}.{problem.code}"
            n = 2
            while name in self.examples:
                name, n = f"{base}.{n}", n + 1
            self.examples[name] = {"summary": f"{problem.code}: {problem.message}", "value": value}
            self._example_names[key] = name
        return self._example_names[key]

    def problems_part(self, family: RouteFamily, description: str, problems: Sequence[Problem],
                      component: str | None = None) -> _Part:
        core = bool(problems) and all(p.status == 429 for p in problems)
        part = _Part(description, _JSON, self.envelope_ref(DEFAULT_FAMILY if core else family))
        for problem in problems:
            name = self.example(family, problem)
            part.examples[name.split(".", 1)[1]] = {"$ref": f"#/components/examples/{name}"}
            for header, text in problem.headers.items():
                part.headers[header] = {"description": text, "required": True, "schema": {"type": "integer"}}
        part.component = component
        return part

    def shared(self, kind: str, family: RouteFamily) -> tuple[int, _Part]:
        """A shared answer: declared once under components/responses, referenced by every route."""
        problems: tuple[Problem, ...]
        if kind == "RateLimited":
            name, status = "RateLimited", 429
            description, problems = "Too many requests; retry after Retry-After seconds", (_RATE_LIMITED,)
        else:
            description, problems = _shared(kind, family)
            name, status = f"{family.name}.{kind}", problems[0].status
        part = self.problems_part(family, description, problems, component=name)
        if name not in self.responses:
            self.responses[name] = self.render([part])
        return status, part

    def answer_part(self, answer: Answer) -> _Part:
        part = _Part(answer.description, answer.media_type)
        if answer.model is not None:
            part.media_type = answer.media_type or _JSON
            part.schema = self.schema_of(answer.model)
        for header, text in answer.headers.items():
            part.headers[header] = {"description": text, "required": True, "schema": {"type": "string"}}
        return part

    def render(self, parts: Sequence[_Part]) -> dict[str, Any]:
        """One response object from the parts of a status: a shared answer alone is a reference."""
        if len(parts) == 1 and parts[0].component is not None and parts[0].component in self.responses:
            return {"$ref": f"#/components/responses/{parts[0].component}"}
        response: dict[str, Any] = {"description": "; ".join(dict.fromkeys(p.description for p in parts))}
        content: dict[str, dict[str, Any]] = {}
        schemas: dict[str, list[dict[str, Any]]] = {}
        for part in parts:
            if part.media_type is None:
                continue
            media = content.setdefault(part.media_type, {})
            if part.schema is not None and part.schema not in schemas.setdefault(part.media_type, []):
                schemas[part.media_type].append(part.schema)
            if part.examples:
                media.setdefault("examples", {}).update(part.examples)
        for media_type, options in schemas.items():
            if options:
                content[media_type]["schema"] = options[0] if len(options) == 1 else {"anyOf": options}
        if content:
            response["content"] = content
        headers: dict[str, dict[str, Any]] = {}
        for part in parts:
            for name, header in part.headers.items():
                headers.setdefault(name, dict(header))
        for name, header in headers.items():  # required only if every answer of this status sends it
            header["required"] = all(part.headers.get(name, {}).get("required", False) for part in parts)
        if headers:
            response["headers"] = headers
        return response

    # -- operations

    def family_of(self, path: str) -> RouteFamily:
        return self.families.for_path(path) if self.families is not None else DEFAULT_FAMILY

    def operation(self, spec: RouteSpec, openapi_path: str) -> dict[str, Any]:
        family = self.family_of(spec.path)
        operation: dict[str, Any] = {
            "summary": spec.summary,
            "tags": [spec.tag],
            "operationId": f"{spec.method.lower()}_{re.sub(r'[^a-zA-Z0-9]+', '_', openapi_path).strip('_')}",
        }
        params: list[dict[str, Any]] = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                                        for n in _PARAM.findall(spec.path)]
        query_can_fail = False
        if spec.query is not None:
            query_schema = spec.query.model_json_schema(ref_template="#/components/schemas/{model}")
            required = set(query_schema.get("required", []))
            query_can_fail = bool(required) or spec.query.model_config.get("extra") == "forbid"
            for name, prop in query_schema.get("properties", {}).items():
                params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
        for param in spec.params:
            params.append({"name": param.name, "in": param.where, "required": param.required,
                           "description": param.description, "schema": {"type": "string"}})
        if params:
            operation["parameters"] = params

        by_status: dict[int, list[_Part]] = {}

        def add(status: int, part: _Part) -> None:
            by_status.setdefault(status, []).append(part)

        # The success answer.
        ok = _Part({201: "Created", 204: "No content", 302: "Redirect"}.get(spec.status, "Success"))
        if spec.response is not None:
            ok.media_type = _JSON
            ok.schema = self.schema_of(spec.response)
            if spec.nullable:
                ok.schema = {"anyOf": [ok.schema, {"type": "null"}]}
        if spec.shell_page:
            add(spec.status, _Part("The shell page; the client router renders it", _HTML))
        if spec.response is not None or not (spec.shell_page or spec.status in spec.responses):
            add(spec.status, ok)

        # The body.
        if isinstance(spec.body, RawBody):
            operation["requestBody"] = {"required": True, "description": spec.body.description,
                                        "content": {spec.body.media_type: {"schema": {"type": "object"}}}}
            add(*self.shared("PayloadTooLarge", family))
        elif spec.body is not None:
            schema = self.schema_of(spec.body)
            content = {_JSON: {"schema": schema}}
            if family.form_bodies:
                content[_FORM] = {"schema": schema}
            operation["requestBody"] = {"required": True, "content": content}
            for kind in ("InvalidBody", "PayloadTooLarge", "UnsupportedMediaType"):
                add(*self.shared(kind, family))
        if query_can_fail and spec.body is None:
            add(*self.shared("InvalidQuery", family))

        # The traits.
        gated = spec.auth or (family.needs_session and spec.path not in family.public)
        if gated:
            operation["security"] = [{"sessionCookie": []}]
            add(*self.shared("Unauthorized", family))
        if spec.method in _WRITE_METHODS:
            add(*self.shared("OriginRefused", family))
        if (spec.method, _PARAM.sub(r":\1", spec.path)) in self.rate_limited:
            add(*self.shared("RateLimited", family))
            ok.headers.update(_RATE_LIMIT_HEADERS)
        if spec.storage:
            add(*self.shared("StorageUnavailable", family))
        if spec.shell_page:
            add(503, _Part("The shell is not built (no index.html)", _JSON,
                           {"$ref": "#/components/schemas/ShellNotBuilt"}))
            self.schemas["ShellNotBuilt"] = _NOT_BUILT_SCHEMA

        # What the route states.
        route_problems: dict[int, list[Problem]] = {}
        for error in spec.raises:
            problem = Problem.of(error)
            route_problems.setdefault(problem.status, []).append(problem)
        for status, problems in route_problems.items():
            codes = ", ".join(dict.fromkeys(p.code for p in problems))
            add(status, self.problems_part(family, codes, problems))
        for status, given in spec.responses.items():
            answers = [given] if isinstance(given, (str, Answer)) else list(given)
            for answer in answers:
                if isinstance(answer, str):
                    part = (self.problems_part(family, answer, []) if status >= 400 else _Part(answer))
                    add(status, part)
                else:
                    add(status, self.answer_part(answer))

        operation["responses"] = {str(status): self.render(parts) for status, parts in sorted(by_status.items())}
        return operation

    def build(self, routes: Sequence[RouteSpec], title: str, version: str) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        tags: dict[str, None] = {}
        for spec in sorted(routes, key=lambda r: (r.path, r.method)):
            openapi_path = _PARAM.sub(r"{\1}", spec.path)
            paths.setdefault(openapi_path, {})[spec.method.lower()] = self.operation(spec, openapi_path)
            tags[spec.tag] = None
        return {
            "openapi": "3.1.0",
            "info": {"title": title, "version": version,
                     "description": "Errors answer in the route family's envelope: `CoreError` under /api and "
                                    "elsewhere, `AuthError` under /auth, `NestedError` under /api/credits "
                                    "(rate limiting always answers `CoreError`). The shared answers are under "
                                    "components/responses."},
            "tags": [{"name": tag} for tag in tags],
            "paths": paths,
            "components": {
                "schemas": dict(sorted(self.schemas.items())),
                "responses": dict(sorted(self.responses.items())),
                "examples": dict(sorted(self.examples.items())),
                "securitySchemes": {"sessionCookie": {"type": "apiKey", "in": "cookie", "name": self.cookie_name}},
            },
        }
