"""Fixtures shared by the runtime package's tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from core.storage import drop_embedded


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh embedded database for CLI commands, named by ``MONGODB_DB`` (no ``MONGODB_URI``); dropped after."""
    name = f"cli_{uuid.uuid4().hex}"
    monkeypatch.delenv("MONGODB_URI", raising=False)
    monkeypatch.setenv("MONGODB_DB", name)
    yield name
    drop_embedded(name)
