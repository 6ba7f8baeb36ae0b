"""API keys: refused at the handshake with 401, and each key reaches only its own sessions."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.engine._helpers import raw_client
from vectorshift_sessions.engine import LocalEngine

KEY_A = "sk-local-alpha-0123456789"
KEY_B = "sk-local-bravo-9876543210"


@pytest.fixture
async def keyed() -> AsyncIterator[LocalEngine]:
    async with LocalEngine(db=":memory:", api_keys=[KEY_A, KEY_B]) as running:
        yield running


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("wrong"), {"Authorization": KEY_A}, {"Authorization": f"Basic {KEY_A}"}],
    ids=["missing", "wrong", "no-scheme", "basic"],
)
async def test_handshake_is_refused_with_401(keyed: LocalEngine, headers: dict[str, str]) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with raw_client(keyed, headers=headers):
            pass
    assert refused.value.response.status_code == 401


async def test_a_key_reaches_only_its_own_sessions(keyed: LocalEngine) -> None:
    async with raw_client(keyed, bearer(KEY_A)) as alice, raw_client(keyed, bearer(KEY_B)) as bob:
        sid = await alice.new_session()
        await alice.send(type="post_message", session_id=sid, content="private")
        await alice.recv()
        await alice.until_idle()
        history = await alice.history(sid)
        assert history[0]["sender"]["user_id"].startswith("user-")
        assert KEY_A not in str(history)  # owners are digests of keys, never keys

        ack = await bob.connect(sid)
        assert ack["success"] is False
        assert ack["error"] == f"session {sid!r} not found (unknown, terminated, or not yours)"
        await bob.send(type="get_messages", session_id=sid)
        error = await bob.recv()
        assert error["type"] == "error" and error["request_type"] == "get_messages"
        await bob.send(type="terminate_session", session_id=sid)
        assert (await bob.recv())["type"] == "error"

    async with raw_client(keyed, bearer(KEY_A)) as alice_again:
        assert (await alice_again.connect(sid))["success"] is True


async def test_rest_needs_the_key_except_health(keyed: LocalEngine) -> None:
    async with httpx.AsyncClient(base_url=keyed.base_url) as http:
        assert (await http.get("/health")).status_code == 200
        refused = await http.get("/agents")
        assert refused.status_code == 401 and "error" in refused.json()
        assert (await http.get("/agents", headers=bearer("nope"))).status_code == 401
        assert (await http.get("/agents", headers=bearer(KEY_B))).status_code == 200


async def test_keys_are_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with LocalEngine(db=":memory:", api_keys=[KEY_A]) as engine:
        assert engine.env()["VECTORSHIFT_API_KEY"] == KEY_A
        async with raw_client(engine, bearer(KEY_A)) as client:
            await client.new_session()
        with pytest.raises(InvalidStatus):
            async with raw_client(engine, bearer(KEY_A + "x")):
                pass
        assert KEY_A not in repr(engine)
    engine_side = [r for r in caplog.records if r.name != "websockets.client"]  # not the test's
    assert engine_side  # the engine did log...
    assert not any(KEY_A in record.getMessage() for record in engine_side)  # ...but no key


def test_empty_key_is_rejected() -> None:
    with pytest.raises(ValueError, match="empty key"):
        LocalEngine(db=":memory:", api_keys=[""])
