"""The package root imports its parts when a name is first used (the import-time budget is
100 ms): a bare import loads neither transport, and each flavour loads only its own."""

from __future__ import annotations

import subprocess
import sys

import pytest

import vectorshift_sessions as vs
from vectorshift_sessions import testing

HEAVY = ("asyncio", "websockets", "websocket", "attrs", "cattrs", "httpx", "opentelemetry")


def _loaded_after(statement: str) -> list[str]:
    code = f"import sys\n{statement}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_a_bare_import_loads_no_transport_and_no_attrs() -> None:
    assert _loaded_after("import vectorshift_sessions") == []


def test_the_blocking_flavour_never_loads_asyncio() -> None:
    # websockets' Sans-I/O protocol parses its frames; its asyncio layer never loads
    loaded = _loaded_after(
        "from vectorshift_sessions import Session\n"
        "assert 'websockets.asyncio' not in sys.modules, 'websockets.asyncio'"
    )
    assert "websocket" in loaded and "websockets" in loaded
    assert "asyncio" not in loaded


def test_the_async_flavour_never_loads_websocket_client() -> None:
    loaded = _loaded_after("from vectorshift_sessions import AsyncSession")
    assert "websockets" in loaded and "websocket" not in loaded


def test_opentelemetry_waits_for_the_first_turn() -> None:
    loaded = _loaded_after(
        "from vectorshift_sessions import AsyncClient, AsyncSession, Client, Session\n"
        "Session(owner_type='agent', owner_id='agent-echo', ws_url='ws://127.0.0.1:9')"
    )
    assert "opentelemetry" not in loaded


@pytest.mark.parametrize("name", sorted(vs.__all__))
def test_every_public_name_resolves_and_is_listed(name: str) -> None:
    assert name in dir(vs)
    assert getattr(vs, name) is not None


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        vs.Nope  # noqa: B018


@pytest.mark.parametrize("name", sorted(testing.__all__))
def test_every_testing_name_resolves_and_is_listed(name: str) -> None:
    assert name in dir(testing)
    assert getattr(testing, name) is not None
