"""``python -m localcore --plugin notes`` serves the example: its routes are in the OpenAPI document and
behind core's auth gate, and its capability is in ``/api/v1/capabilities`` under ``notes``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest

from localcore.testing.app_client import DEFAULT_PASSWORD


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    env = {**os.environ, "LOCALCORE_DATA_DIR": str(tmp_path / "data"), "LOCALCORE_KEYRING": "null",
           "LOCALCORE_ENV": "development", "MAIL_TRANSPORT_URL": "console://", "LOCALCORE_RATE_LIMITS": "off"}
    log = tmp_path / "server.log"
    with log.open("w") as output:
        proc = subprocess.Popen([sys.executable, "-m", "localcore", "--plugin", "notes", "--port", "0",
                                 "--no-bootstrap"], stdout=output, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while "listening on" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the server did not start:\n" + log.read_text())
            time.sleep(0.1)
        line = next(text for text in log.read_text().splitlines() if "listening on" in text)
        yield line.rsplit(" ", 1)[-1].strip()
    finally:
        proc.terminate()
        assert proc.wait(timeout=40) == 0, log.read_text()


def _call(opener: urllib.request.OpenerDirector, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_cli_serves_the_notes_plugin(server_url: str) -> None:
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    status, document = _call(browser, "GET", f"{server_url}/api/openapi.json")
    assert status == 200
    assert {"get", "post"} <= set(document["paths"]["/api/v1/workspaces/{id}/notes"])
    assert "post" in document["paths"]["/api/v1/workspaces/{id}/notes/summarise"]

    status, body = _call(browser, "GET", f"{server_url}/api/v1/workspaces/x/notes")
    assert (status, body["code"]) == (401, "unauthorized")

    status, signed_up = _call(browser, "POST", f"{server_url}/auth/sign-up/email",
                              {"name": "Ada", "email": "ada@example.com", "password": DEFAULT_PASSWORD})
    assert status == 200, signed_up
    status, capabilities = _call(browser, "GET", f"{server_url}/api/v1/capabilities")
    assert status == 200
    assert capabilities["notes"] == {"version": "0.1.0", "summarise": True, "maxNotes": 200,
                                     "model": "notes-summariser-1"}
    status, listing = _call(browser, "GET", f"{server_url}/api/v1/workspaces")
    workspace = listing["workspaces"][0]["id"]
    status, created = _call(browser, "POST", f"{server_url}/api/v1/workspaces/{workspace}/notes", {"text": "hi"})
    assert status == 201, created
    status, summary = _call(browser, "POST", f"{server_url}/api/v1/workspaces/{workspace}/notes/summarise",
                            {"runId": "cli-1"})
    assert (status, summary["summary"]) == (200, "1 note: hi"), summary
