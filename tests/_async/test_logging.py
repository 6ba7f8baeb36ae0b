"""What a session logs: one hierarchy under ``vectorshift_sessions``, the session id on every
line, never the key. Written once; tests/_sync/ is generated from it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from vectorshift_sessions import AsyncSession, ReconnectPolicy
from vectorshift_sessions.engine import LocalEngine

KEY = "sk-logging-secret-5e8d1a"
FAST = ReconnectPolicy(initial_delay=0.005, max_delay=0.05, deadline=30)


@pytest.fixture(scope="module")
def keyed_engine() -> Iterator[LocalEngine]:
    with LocalEngine(db=":memory:", api_keys=[KEY]) as running:
        yield running


async def test_a_recovery_is_logged_in_order_with_the_session_id_and_never_the_key(
    keyed_engine: LocalEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, websockets' own included
    async with AsyncSession(
        owner_type="agent",
        owner_id="agent-echo",
        ws_url=keyed_engine.ws_url,
        api_key=KEY,
        reconnect=FAST,
    ) as session:
        listener = session.listen()
        assert (await session.ask("before")).text == "before"
        assert keyed_engine.cut_connections() >= 1
        async for event in listener:
            if event.data.get("source") == "client" and event.data["status"] == "Connected":
                break
        assert (await session.ask("after")).text == "after"
        session_id = session.session_id
    assert session_id

    ours = [
        r
        for r in caplog.records
        if r.name.startswith("vectorshift_sessions.") and r.name != "vectorshift_sessions.engine"
    ]
    for record in ours:
        if record.getMessage().startswith("session (new): connecting to "):
            continue  # a new session has no id before the engine gives it one
        assert getattr(record, "session_id", None) == session_id, record.getMessage()
        assert f"session {session_id}: " in record.getMessage()

    said = [(r.name, r.levelno, r.getMessage()) for r in ours]
    recovery = [(level, text) for name, level, text in said if name.endswith(".connection")]
    assert recovery[0][0] == logging.WARNING and "connection lost" in recovery[0][1]
    assert "reconnecting" in recovery[0][1]
    attempts = recovery[1:-1]
    assert attempts and all(level == logging.INFO for level, _ in attempts)
    assert "reconnect attempt 1 in " in attempts[0][1] and attempts[0][1].endswith(" s")
    assert recovery[-1][0] == logging.INFO and "reconnected after" in recovery[-1][1]

    lifecycle = [text for name, level, text in said if name.endswith(".session")]
    assert any("created with agent 'agent-echo'" in text for text in lifecycle)
    assert lifecycle[-1].endswith("disconnected")
    assert {level for name, level, _ in said if name.endswith(".session")} == {logging.DEBUG}

    assert KEY not in caplog.text
    assert all(KEY not in str(r.args) and KEY not in r.getMessage() for r in caplog.records)
