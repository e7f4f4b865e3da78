"""Authenticated reads on SQLite and Postgres against bare baselines, in alternating rounds of the same run.

    python bench/bench_me.py [--smoke] [--seconds 5] [--rounds 3] [--workers N] [--skip-postgres] [--markdown]

- ``GET /api/v1/me`` on SQLite vs a bare aiohttp JSON handler (no I/O): target >= 0.5x, p99 < 15 ms;
- ``GET /api/v1/me`` on Postgres vs a bare aiohttp handler doing one indexed asyncpg SELECT per request
  (``bare_server.py --postgres``, same cluster): target >= 1.0x, p99 < 30 ms;
- ``GET /api/v1/workspaces`` and ``GET /api/credits/balance`` vs ``/api/v1/me`` on the same server: each
  within 1.5x the cost of ``/api/v1/me`` (requests/s >= 1/1.5 of its).

Postgres: ``--postgres-url`` or ``LOCALCORE_TEST_POSTGRES_URL``, else a throwaway cluster; without Postgres
binaries the Postgres rows are skipped with a note.
"""

from __future__ import annotations

import tempfile

import bare_server
from harness import (
    Context,
    Measured,
    Options,
    PostgresUnavailable,
    Subject,
    alternate,
    bare,
    localcore,
    main_for,
    running,
    sign_up,
)
from report import Figure, Target, at_least, below, skipped

NAME = "me"
ME, WORKSPACES, BALANCE = "/api/v1/me", "/api/v1/workspaces", "/api/credits/balance"
ENV = {"LOCALCORE_RATE_LIMITS": "off", "SEND_WELCOME_EMAIL": "false"}
SIBLING = at_least(1 / 1.5, "cost ≤ 1.5x /me (≥ 0.67x)")


def _rows(options: Options, backend: str, baseline: str, ratio: float, p99_ms: float,
          measured: dict[str, Measured] | None, reason: str | None = None) -> list[Figure]:
    me_name = f"GET {ME} ({backend}), authenticated"
    specs: list[tuple[str, str, str, str, Target]] = [
        (me_name, "req/s", baseline, "bare", at_least(ratio, f"≥ {ratio:g}x baseline")),
        (f"GET {ME} ({backend}) p99, {options.connections} connections", "ms", f"{baseline}, p99", "bare",
         below(p99_ms, f"< {p99_ms:g} ms")),
        (f"GET {WORKSPACES} ({backend})", "req/s", me_name, "workspaces", SIBLING),
        (f"GET {BALANCE} ({backend})", "req/s", me_name, "balance", SIBLING),
    ]
    if measured is None:
        return [skipped(NAME, name, unit, base, reason or "not measured", target)
                for name, unit, base, _, target in specs]
    me = measured["me"]
    out = []
    for name, unit, base, key, target in specs:
        if unit == "ms":
            out.append(Figure(NAME, name, me.p99, unit, base, measured[key].p99, target=target,
                              note=f"p50 {me.p50:.2f} ms"))
        elif key == "bare":
            out.append(Figure(NAME, name, me.rps, unit, base, measured[key].rps, target=target, note=me.note()))
        else:
            out.append(Figure(NAME, name, measured[key].rps, unit, base, me.rps, target=target,
                              note=measured[key].note()))
    return out


def _subjects(ours: str, cookie: str) -> list[Subject]:
    auth = {"Cookie": cookie}
    return [Subject("me", ours + ME, auth), Subject("workspaces", ours + WORKSPACES, auth),
            Subject("balance", ours + BALANCE, auth)]


def sqlite(ctx: Context) -> list[Figure]:
    options = ctx.options
    with tempfile.TemporaryDirectory() as data_dir, \
            running(bare(), localcore(data_dir, env=ENV, workers=options.workers)) as (base, ours):
        cookie = sign_up(ours.url)
        measured = alternate(options, [Subject("bare", base.url + "/health"), *_subjects(ours.url, cookie)])
    return _rows(options, "SQLite", "bare aiohttp JSON handler (no I/O)", 0.5, 15, measured)


def postgres(ctx: Context) -> list[Figure]:
    options = ctx.options
    baseline = "bare aiohttp + 1 indexed asyncpg SELECT"
    try:
        ctx.postgres_admin()
    except PostgresUnavailable as exc:
        return _rows(options, "Postgres", baseline, 1.0, 30, None, str(exc))
    with ctx.postgres_database() as bare_db, ctx.postgres_database() as our_db, \
            tempfile.TemporaryDirectory() as data_dir, \
            running(bare(bare_db), localcore(data_dir, "--database-url", our_db, env=ENV,
                                             workers=options.workers)) as (base, ours):
        cookie = sign_up(ours.url)
        bare_cookie = {"Cookie": f"{bare_server.COOKIE}={bare_server.TOKEN}"}
        measured = alternate(options, [Subject("bare", base.url + ME, bare_cookie), *_subjects(ours.url, cookie)])
    return _rows(options, "Postgres", baseline, 1.0, 30, measured)


def run(ctx: Context) -> list[Figure]:
    return [*sqlite(ctx), *postgres(ctx)]


def main() -> None:
    main_for(__doc__, run)


if __name__ == "__main__":
    main()
