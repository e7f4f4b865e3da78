"""The baselines: a bare aiohttp app with one JSON handler and nothing else, or, with ``--postgres DSN``, the
same plus ``GET /api/v1/me`` answering from one indexed asyncpg SELECT per request (a session row looked up
by the token in the ``bench_session`` cookie, as a session lookup would be).

    python bench/bare_server.py PORT [--postgres DSN]

The asyncpg pool is sized as localcore's (``max_size=10``) and asyncpg prepares the statement once per
connection, so this is what a minimal Postgres-backed handler costs on this machine.
"""

from __future__ import annotations

import argparse
from typing import Any

from aiohttp import web

SESSIONS = 1_000
COOKIE = "bench_session"
TOKEN = "t42"


async def health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def postgres_app(dsn: str) -> web.Application:
    import asyncpg

    app = web.Application()
    pools: list[Any] = []

    async def open_pool(app: web.Application) -> None:
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=10)
        async with pool.acquire() as conn:
            await conn.execute("CREATE TABLE IF NOT EXISTS bench_bare_sessions (token text PRIMARY KEY, "
                               "user_id text NOT NULL, expires_at timestamptz NOT NULL)")
            await conn.execute("INSERT INTO bench_bare_sessions SELECT 't' || n, 'user-' || n, "
                               "now() + interval '1 day' FROM generate_series(0, $1::int - 1) AS n "
                               "ON CONFLICT DO NOTHING", SESSIONS)
            await conn.execute("ANALYZE bench_bare_sessions")
        pools.append(pool)

    async def close_pool(app: web.Application) -> None:
        for pool in pools:
            await pool.close()

    async def me(request: web.Request) -> web.Response:
        row = await pools[0].fetchrow("SELECT user_id, expires_at FROM bench_bare_sessions WHERE token = $1",
                                      request.cookies.get(COOKIE, ""))
        if row is None:
            return web.json_response({"error": "unauthorized"}, status=401)
        return web.json_response({"user": {"id": row["user_id"], "expiresAt": row["expires_at"].isoformat()}})

    app.on_startup.append(open_pool)
    app.on_cleanup.append(close_pool)
    app.router.add_get("/health", health)
    app.router.add_get("/api/v1/me", me)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--postgres", metavar="DSN")
    args = parser.parse_args()
    if args.postgres:
        app = postgres_app(args.postgres)
    else:
        app = web.Application()
        app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
