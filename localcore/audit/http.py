"""The guard that makes the request's client known to ``audit_record`` (see ``localcore.audit.context``)."""

from __future__ import annotations

from aiohttp import web

from localcore.audit.context import RequestFacts, set_request_facts
from localcore.http.request_context import client_ip, request_id


async def request_context_guard(request: web.Request) -> None:
    """Never refuses; costs one ContextVar set (the facts are read only when an event is built)."""

    def facts() -> RequestFacts:
        return RequestFacts(ip=client_ip(request) or None, user_agent=request.headers.get("User-Agent"),
                            request_id=request_id(request))

    set_request_facts(facts)
