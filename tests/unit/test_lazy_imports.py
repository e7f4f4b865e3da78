"""What a server does not load until it needs it: the password-strength dictionaries (zxcvbn, ~12 MiB), the
settings cipher (cryptography, ~6 MiB) and the template engine (Jinja2, ~60 ms of start). A fresh
interpreter builds the whole app and serves a signed-in read, then must still be without them — and loads
each on the first request that needs it. Guards the RSS and cold-start figures in bench/RESULTS.md."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import asyncio, json, secrets, sys
    from datetime import datetime, timedelta, timezone
    from aiohttp.test_utils import TestClient, TestServer
    from backends.memory import MemoryBackend
    from localcore import create_app
    from localcore.auth.tokens import sign
    from localcore.contract.tokens import hash_token
    from tests.api.auth_support import STRONG_PASSWORD, make_config

    LAZY = ("zxcvbn", "cryptography", "jinja2")

    def loaded():
        return sorted(name for name in LAZY if name in sys.modules)

    async def main():
        config = make_config()
        backend = MemoryBackend()
        seen = {}
        async with TestClient(TestServer(create_app(config, backend))) as client:
            assert (await client.get("/health")).status == 200
            seen["started"] = loaded()
            # A signed-in read, the account and session made in the store (no password judged, no mail).
            user = await backend.users.create_user(email="ada@example.com", name="Ada")
            token = secrets.token_urlsafe(32)
            await backend.sessions.create_session(token_hash=hash_token(token), user_id=user.id,
                                                  expires_at=datetime.now(timezone.utc) + timedelta(days=1))
            cookie = {config.cookie_name: sign(config.auth.secret, token)}
            response = await client.get("/api/v1/me", cookies=cookie)
            assert response.status == 200, await response.text()
            seen["read"] = loaded()
            response = await client.post("/auth/sign-up/email", json={
                "name": "Bob", "email": "bob@example.com", "password": STRONG_PASSWORD})
            assert response.status == 200, await response.text()
            seen["signed_up"] = loaded()
        print(json.dumps(seen))

    asyncio.run(main())
""")


def test_the_heavy_libraries_load_on_first_use_only() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=120)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["started"] == [], f"loaded at start: {seen['started']}"
    assert seen["read"] == [], f"loaded by a read: {seen['read']}"
    # A sign-up judges the password (zxcvbn) and renders the verification mail (Jinja2).
    assert {"zxcvbn", "jinja2"} <= set(seen["signed_up"]), seen["signed_up"]
