"""The route catalog and the OpenAPI 3.1 document generated from it.

Every route is registered through ``RouteCatalog.add`` with the pydantic models that validate its body and
query, so ``GET /api/openapi.json`` cannot drift from what the handlers accept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from localcore.http.handler import Handler

_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")


@dataclass(frozen=True, slots=True)
class RouteSpec:
    method: str
    path: str
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    auth: bool = False
    responses: dict[int, str] = field(default_factory=dict)
    status: int = 200


class RouteCatalog:
    def __init__(self) -> None:
        self.routes: list[RouteSpec] = []

    def add(self, router: web.UrlDispatcher, method: str, path: str, handler: Handler, *, summary: str,
            tag: str, body: type[BaseModel] | None = None, query: type[BaseModel] | None = None,
            response: type[BaseModel] | None = None, auth: bool = False,
            responses: dict[int, str] | None = None, name: str | None = None, status: int = 200) -> None:
        """Register ``handler`` and describe it; ``status`` is the success code (201 for creations)."""
        router.add_route(method, path, handler, name=name)
        self.routes.append(RouteSpec(method.upper(), path, summary, tag, body, query, response, auth,
                                     responses or {}, status))

    def document(self, *, title: str, version: str) -> dict[str, Any]:
        schemas: dict[str, Any] = {}
        paths: dict[str, dict[str, Any]] = {}
        ref = "#/components/schemas/{model}"

        def schema_of(model: type[BaseModel]) -> dict[str, Any]:
            schema = model.model_json_schema(ref_template=ref, by_alias=True)
            for name, definition in schema.pop("$defs", {}).items():
                schemas[name] = definition
            schemas[model.__name__] = schema
            return {"$ref": ref.format(model=model.__name__)}

        for spec in sorted(self.routes, key=lambda r: (r.path, r.method)):
            openapi_path = _PARAM.sub(r"{\1}", spec.path)
            operation: dict[str, Any] = {
                "summary": spec.summary,
                "tags": [spec.tag],
                "operationId": f"{spec.method.lower()}_{re.sub(r'[^a-zA-Z0-9]+', '_', openapi_path).strip('_')}",
                "responses": {},
            }
            params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                      for n in _PARAM.findall(spec.path)]
            if spec.query is not None:
                query_schema = spec.query.model_json_schema(ref_template=ref)
                required = set(query_schema.get("required", []))
                for name, prop in query_schema.get("properties", {}).items():
                    params.append({"name": name, "in": "query", "required": name in required,
                                   "schema": prop})
            if params:
                operation["parameters"] = params
            if spec.body is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": schema_of(spec.body)}},
                }
            ok: dict[str, Any] = {"description": "Created" if spec.status == 201 else "Success"}
            if spec.response is not None:
                ok["content"] = {"application/json": {"schema": schema_of(spec.response)}}
            operation["responses"][str(spec.status)] = ok
            for status, description in spec.responses.items():
                if status != spec.status:
                    operation["responses"][str(status)] = {"description": description}
            if spec.auth:
                operation["security"] = [{"sessionCookie": []}]
                operation["responses"].setdefault("401", {"description": "Authentication required"})
            paths.setdefault(openapi_path, {})[spec.method.lower()] = operation
        return {
            "openapi": "3.1.0",
            "info": {"title": title, "version": version},
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {"sessionCookie": {"type": "apiKey", "in": "cookie",
                                                      "name": "session_token"}},
            },
        }
