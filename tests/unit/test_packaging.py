"""The built wheel (not the checkout) carries the shell and the SQL migrations and serves them."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.unit.test_cli import clean_env, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    return next(out.glob("localcore-*.whl"))


def test_wheel_contains_shell_migrations_templates_and_plugin(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "localcore/web/index.html" in names
    assert any(n.startswith("localcore/web/js/") for n in names)
    for backend in ("sqlite", "postgres"):
        assert f"backends/{backend}/migrations/0001_core.sql" in names
        assert f"backends/{backend}/migrations/0002_metering.sql" in names
    assert any(n.startswith("localcore/mail/templates/") for n in names)
    assert "localcore/testing/plugin.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "localcore.testing.plugin" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_installed_wheel_serves_the_shell_and_migrates(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", str(target),
                    str(wheel)], check=True, capture_output=True, timeout=300)
    env = clean_env(PYTHONPATH=str(target))
    where = subprocess.run([sys.executable, "-c", "import localcore; print(localcore.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, check=True)
    assert where.stdout.startswith(str(target))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "localcore", "--port", str(port), "--data-dir",
                             str(tmp_path / "data"), "--no-bootstrap"],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert json.loads(wait_for(f"http://127.0.0.1:{port}/health")) == {"ok": True}
        request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Accept": "text/html"})
        with urllib.request.urlopen(request, timeout=5) as response:
            page = response.read().decode()
        assert "<!doctype html>" in page.lower() and "boring-csp-nonce" in page
    finally:
        proc.terminate()
        proc.communicate(timeout=40)
    assert proc.returncode == 0
