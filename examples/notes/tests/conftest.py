"""The notes app's tests run on localcore's shipped fixtures (``localcore_client``, …) on memory, SQLite and
Postgres; this file only says which plugins are under test."""

from __future__ import annotations

import pytest

import notes
from localcore import Plugin


@pytest.fixture
def localcore_plugins() -> list[Plugin]:
    return [notes.plugin]
