"""``/api/dev/mail``: the dev mailbox over HTTP, only while the transport is ``console://``.

With any other transport the route answers exactly as an unknown route does (404 in the core envelope),
so a production server does not even reveal that it exists.
"""

from __future__ import annotations

from aiohttp import web

from localcore.errors import NotFound
from localcore.http.openapi import RouteCatalog
from localcore.mail.devmailbox import DevMailbox
from localcore.mail.mailer import Mailer

PATH = "/api/dev/mail"


def setup_dev_mail_routes(app: web.Application, mailer_key: web.AppKey[Mailer],
                          catalog: RouteCatalog | None = None) -> None:
    def mailbox_of(request: web.Request) -> DevMailbox:
        mailer = request.config_dict.get(mailer_key)
        mailbox = mailer.dev_mailbox if mailer is not None else None
        if mailbox is None:
            raise NotFound(f"Route {request.method}:{PATH} not found")
        return mailbox

    async def list_messages(request: web.Request) -> web.Response:
        """``{messages: [...]}`` newest first."""
        mailbox = mailbox_of(request)
        return web.json_response({"messages": mailbox.messages()}, headers={"Cache-Control": "no-store"})

    async def clear_messages(request: web.Request) -> web.Response:
        mailbox_of(request).clear()
        return web.Response(status=204)

    if catalog is None:
        app.router.add_get(PATH, list_messages, allow_head=False)
        app.router.add_delete(PATH, clear_messages)
        return
    catalog.add(app.router, "GET", PATH, list_messages, tag="dev",
                summary="Dev mailbox: messages sent through console:// mail, newest first",
                responses={404: "mail transport is not console://"})
    catalog.add(app.router, "DELETE", PATH, clear_messages, tag="dev", summary="Empty the dev mailbox",
                responses={204: "emptied", 404: "mail transport is not console://"})
