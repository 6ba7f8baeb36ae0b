"""Fixtures for the local engine's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from vectorshift_sessions.engine import LocalEngine


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No test may ever write the user's real default database, or see a real key or URL.
    monkeypatch.setenv("VECTORSHIFT_SESSIONS_HOME", str(tmp_path / "engine-home"))
    for name in ("VECTORSHIFT_API_KEY", "VECTORSHIFT_BASE_URL", "VECTORSHIFT_WS_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def engine() -> AsyncIterator[LocalEngine]:
    """A fresh engine (in-memory SQLite, free port) in the test's own event loop."""
    async with LocalEngine(db=":memory:") as running:
        yield running
