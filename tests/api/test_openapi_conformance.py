"""The OpenAPI document tells the truth: schemathesis fuzzes a real server against its own ``/api/openapi.json``.

``python -m localcore serve`` runs as a subprocess (SQLite in a temporary data directory, console mail, rate
limits off). Every operation of its document gets 20 generated requests through schemathesis's Python API
(``operation.as_strategy``): 10 valid and 10 invalid ones (its positive and negative generation), once signed
out and once signed in — the session of a fresh sign-up, sent as a cookie; signed in, about half the examples
use the user's own workspace and user ids, so the handlers get past the workspace guard. Random data rarely
gets past sign-in or a one-time token, so each run also sends a few hand-written requests that reach the
success answers, the HTML confirm pages and the form posts. Every answer is checked with
``not_a_server_error``, ``status_code_conformance``, ``content_type_conformance`` and
``response_schema_conformance``: an undocumented status, media type or body fails the suite.

Signed in, the three operations that would end the run's own session are left out: ``POST /auth/sign-out``,
``POST /auth/revoke-sessions`` and ``DELETE /api/v1/me`` (the signed-out run covers them). The seed is
fixed, so a failure reproduces; ``LOCALCORE_FUZZ_SEED`` picks another.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import BaseSchema, Case, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = 20
SEED = int(os.environ.get("LOCALCORE_FUZZ_SEED", "20261201"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
#: Signed in, these would end the session the run relies on.
ENDS_THE_SESSION = ("post_auth_sign_out", "post_auth_revoke_sessions", "delete_api_v1_me")
PASSWORD = "Zk8$mN!qR2xFgWpJ-conformance"
FORM = "application/x-www-form-urlencoded"
HTML = {"Accept": "text/html"}
pytestmark = pytest.mark.slow


@dataclass
class Server:
    url: str
    log_path: Path

    @property
    def mailbox_token(self) -> str:
        match = re.search(r"Dev mailbox: \S+\?token=(\w+)", self.log_path.read_text(errors="replace"))
        assert match is not None, "no dev mailbox link in the banner"
        return match.group(1)


@dataclass
class Caller:
    url: str
    cookies: dict[str, str] = field(default_factory=dict)
    workspace_id: str | None = None
    user_id: str | None = None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _request(method: str, url: str, body: Any = None, cookies: dict[str, str] | None = None
             ) -> tuple[int, Any, list[str]]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null"), response.headers.get_all("Set-Cookie") or []
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null"), []


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("conformance")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BETTER_AUTH", "DATABASE_URL", "CORE_STORES", "MAIL_", "LOCALCORE_", "BORING_"))}
    env.update({"LOCALCORE_KEYRING": "null", "LOCALCORE_RATE_LIMITS": "off", "MAIL_TRANSPORT_URL": "console://",
                "MAIL_FROM": "localcore <noreply@localhost>", "BETTER_AUTH_URL": url, "PYTHONUNBUFFERED": "1"})
    log_path = root / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "localcore", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--data-dir", str(root / "data"), "--no-bootstrap"],
            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError):
                if _request("GET", f"{url}/health")[0] == 200 and "Dev mailbox:" in log_path.read_text():
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server did not start:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.1)
        yield Server(url, log_path)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=35)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        sys.stdout.write(f"\n--- server log ---\n{log_path.read_text(errors='replace')[-6000:]}\n")


def _sign_up(url: str, email: str) -> Caller:
    status, body, set_cookies = _request("POST", f"{url}/auth/sign-up/email", {
        "name": "Conformance", "email": email, "password": PASSWORD})
    assert status == 200, body
    cookies = dict(c.split(";", 1)[0].split("=", 1) for c in set_cookies)
    caller = Caller(url, cookies=cookies, user_id=body["user"]["id"])
    status, workspaces, _ = _request("GET", f"{url}/api/v1/workspaces", cookies=cookies)
    assert status == 200, workspaces
    caller.workspace_id = workspaces["workspaces"][0]["id"]
    return caller


@pytest.fixture(scope="module")
def schema(server: Server) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{server.url}/api/openapi.json",
                                         config=schemathesis.Config.from_dict({"seed": SEED}))


def _own_ids(case: Case[Any], caller: Caller) -> None:
    """Point ``{id}`` at the caller's workspace and ``{userId}`` at the caller (a fresh workspace for the
    deletion, so the run keeps its own)."""
    path = case.path_parameters
    if path is None:
        return
    if "id" in path and caller.workspace_id is not None:
        path["id"] = caller.workspace_id
        if case.method == "DELETE" and case.path == "/api/v1/workspaces/{id}":
            status, created, _ = _request("POST", f"{caller.url}/api/v1/workspaces", {"name": "Doomed"},
                                          cookies=caller.cookies)
            assert status == 201, created
            path["id"] = created["workspace"]["id"]
    if "userId" in path and caller.user_id is not None:
        path["userId"] = caller.user_id


def fuzz(schema: BaseSchema, caller: Caller, subtests: pytest.Subtests, *, skip: tuple[str, ...] = ()) -> int:
    """Every operation of ``schema`` (but ``skip``): half the examples valid, half invalid, each answer
    checked. Returns how many operations ran."""
    ran = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        raw = operation.definition.raw
        if raw.get("operationId") in skip:
            continue
        ran += 1
        # With no parameter, body or credential there is nothing to make invalid: valid requests only.
        negatable = bool(raw.get("parameters") or raw.get("requestBody") or raw.get("security"))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if negatable else (GenerationMode.POSITIVE,):
            @hypothesis.seed(SEED)
            @settings(max_examples=EXAMPLES // 2, deadline=None, database=None, suppress_health_check=list(HealthCheck),
                      phases=[Phase.explicit, Phase.generate])  # no shrinking: every step is a request
            @given(case=operation.as_strategy(generation_mode=mode), own_ids=st.booleans())
            def check(case: Case[Any], own_ids: bool) -> None:
                if own_ids:
                    _own_ids(case, caller)
                case.call_and_validate(cookies=caller.cookies, checks=CHECKS, timeout=30)

            with subtests.test(msg=f"{operation.label} ({mode.value})"):
                check()
    return ran


def send(schema: BaseSchema, label: str, expect: int, caller: Caller | None = None, **case: Any) -> Response:
    """One hand-written request to the operation ``label``, checked like the generated ones; it must answer
    ``expect`` (so the request really reached the branch it is written for)."""
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label
    if "body" in case:
        case.setdefault("media_type", "application/json")
    response = operation.Case(**case).call_and_validate(cookies=caller.cookies if caller else None, checks=CHECKS,
                                                        timeout=30)
    assert response.status_code == expect, (label, response.status_code, response.text[:500])
    return response


def test_signed_out_every_answer_is_documented(server: Server, schema: BaseSchema, subtests: pytest.Subtests) -> None:
    account = _sign_up(server.url, "known@example.com")
    mailbox = {"x-dev-mailbox-token": server.mailbox_token}
    credentials = {"email": "known@example.com", "password": PASSWORD}
    send(schema, "POST /auth/sign-up/email", 200, body={"name": "New", "email": "new@example.com",
                                                       "password": PASSWORD, "callbackURL": "/"})
    send(schema, "POST /auth/sign-up/email", 422, body={"name": "Again", **credentials})
    send(schema, "POST /auth/sign-in/email", 200, body={**credentials, "callbackURL": "/"})
    send(schema, "POST /auth/sign-in/email", 200, body=credentials, media_type=FORM)
    send(schema, "POST /auth/sign-in/email", 401, body={**credentials, "password": "wrong-password"})
    send(schema, "POST /auth/sign-in/magic-link", 200, body={"email": "known@example.com", "callbackURL": "/"})
    send(schema, "POST /auth/request-password-reset", 200, body={"email": "known@example.com"})
    send(schema, "POST /auth/send-verification-email", 200, body={"email": "known@example.com"})
    send(schema, "POST /auth/sign-in/social", 404, body={"provider": "google"})
    for link in ("GET /auth/verify-email", "GET /auth/magic-link/verify"):
        send(schema, link, 200, headers=HTML, query={"token": "not-a-token"})  # the confirm page
        send(schema, link, 400, headers=HTML)  # no token: the link-failed page
        send(schema, link, 302, query={"token": "not-a-token", "callbackURL": "/"})
    send(schema, "GET /auth/reset-password/{token}", 400, headers=HTML, path_parameters={"token": "not-a-token"})
    send(schema, "GET /auth/reset-password/{token}", 302, path_parameters={"token": "not-a-token"},
         query={"callbackURL": "/reset"})
    send(schema, "POST /auth/verify-email", 401, body={"token": "not-a-token"}, media_type=FORM)
    send(schema, "POST /auth/magic-link/verify", 401, body={"token": "not-a-token"}, media_type=FORM)
    send(schema, "POST /auth/reset-password", 400, body={"token": "not-a-token", "newPassword": PASSWORD},
         media_type=FORM)
    send(schema, "GET /api/dev/mail", 200, headers=mailbox)
    send(schema, "DELETE /api/dev/mail", 204, headers=mailbox)
    send(schema, "GET /dev/mail", 302, query={"token": server.mailbox_token})
    send(schema, "GET /api/v1/me", 200, account)
    assert fuzz(schema, Caller(server.url), subtests) > 50


def test_signed_in_every_answer_is_documented(server: Server, schema: BaseSchema, subtests: pytest.Subtests) -> None:
    caller = _sign_up(server.url, "conformance@example.com")
    workspace = {"id": caller.workspace_id}
    send(schema, "POST /api/v1/workspaces", 415, caller, body={"name": "x"},
         headers={"Content-Type": "application/xml"})
    invite = {"email": "friend@example.com", "role": "editor"}
    once = {"Idempotency-Key": "conformance-1"}
    send(schema, "POST /api/v1/workspaces/{id}/invites", 201, caller, path_parameters=workspace, body=invite,
         headers=once)
    send(schema, "POST /api/v1/workspaces/{id}/invites", 201, caller, path_parameters=workspace, body=invite,
         headers=once)  # replayed
    mail = send(schema, "GET /api/dev/mail", 200, headers={"x-dev-mailbox-token": server.mailbox_token}).json()
    token = next(re.search(r"/invites/([\w-]+)", link).group(1)  # type: ignore[union-attr]
                 for message in mail["messages"] if message["to"] == invite["email"] for link in message["links"]
                 if "/invites/" in link)
    send(schema, "POST /api/v1/invites/resolve", 200, caller, body={"token": token})
    send(schema, "POST /api/v1/invites/accept", 403, caller, body={"token": token})  # sent to someone else
    checkout = send(schema, "POST /api/credits/checkout", 200, caller, body={}).json()["url"]
    paid = {"checkout_id": checkout.rsplit("checkout=", 1)[1]}
    send(schema, "GET /api/credits/dev/checkouts/{checkout_id}", 200, caller, path_parameters=paid)
    send(schema, "POST /api/credits/dev/checkouts/{checkout_id}/complete", 200, caller, path_parameters=paid)
    send(schema, "POST /api/credits/dev/checkouts/{checkout_id}/complete", 409, caller, path_parameters=paid)
    send(schema, "POST /api/credits/dev/checkouts/{checkout_id}/refund", 200, caller, path_parameters=paid)
    send(schema, "POST /api/credits/dev/checkouts/{checkout_id}/refund", 409, caller, path_parameters=paid)
    send(schema, "GET /api/credits/history", 200, caller, query={"limit": "5"})
    send(schema, "PATCH /api/v1/workspaces/{id}/members/{userId}/role", 409, caller,
         path_parameters={**workspace, "userId": caller.user_id}, body={"role": "viewer"})  # the last owner
    send(schema, "POST /auth/change-password", 400, caller,
         body={"currentPassword": "wrong-password", "newPassword": PASSWORD})
    assert fuzz(schema, caller, subtests, skip=ENDS_THE_SESSION) > 50
