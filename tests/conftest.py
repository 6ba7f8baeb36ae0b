"""Shared fixtures: one real local engine for the whole run, and a clean environment per test."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from vectorshift_sessions.engine import LocalEngine

pytest_plugins = ["pytester"]  # tests/testing/ runs the plugin in real pytest runs


@pytest.fixture(autouse=True)
def _clean_env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's own VectorShift settings, nor the machine's proxies."""
    # A test marked @pytest.mark.vectorshift_engine has its engine (and its variables) before
    # this fixture runs (plugin autouse fixtures come first): keep them.
    if request.node.get_closest_marker("vectorshift_engine") is None:
        for name in ("VECTORSHIFT_API_KEY", "VECTORSHIFT_BASE_URL", "VECTORSHIFT_WS_URL"):
            monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(scope="session")
def engine() -> Iterator[LocalEngine]:
    """The embedded local engine (in-memory SQLite) on a free port, in a background thread."""
    with LocalEngine(db=":memory:") as running:
        yield running


@pytest.fixture
def no_leaked_threads() -> Iterator[None]:
    """Fails the test if it leaves a thread of ours running."""
    before = set(threading.enumerate())
    yield
    left = [
        t
        for t in threading.enumerate()
        if t not in before and t.name.startswith("vectorshift-session")
    ]
    assert not left, f"threads left running: {left}"
