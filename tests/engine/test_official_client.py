"""The official ``vectorshift`` client (0.1.15) as a real peer of the local engine."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest

from tests.engine._helpers import TIMEOUT
from vectorshift_sessions.engine import LocalEngine

vs = pytest.importorskip("vectorshift.session")  # needs Python 3.11+
from vectorshift.events import SessionEventType as ET  # noqa: E402


@pytest.fixture
async def closing() -> Any:
    """``closing(session)`` makes sure the session is disconnected when the test ends."""
    sessions: list[Any] = []

    def register(session: Any) -> Any:
        sessions.append(session)
        return session

    yield register
    for session in sessions:
        await session.disconnect()  # a no-op for a session already disconnected


def point_at(engine: LocalEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in engine.env().items():
        monkeypatch.setenv(name, value)


async def one_turn(session: Any) -> list[Any]:
    """Events until the turn ends (``Idle``).

    The official client does not wait for the ``connect_session`` ack of a session it just
    created, so that ack may show up first: it is left out.
    """

    async def collect() -> list[Any]:
        events = []
        async with contextlib.aclosing(session.listen()) as stream:
            async for event in stream:
                if event.type != ET.SESSION_CONNECTED:
                    events.append(event)
                if event.is_turn_end:
                    return events
        raise AssertionError(f"listen() ended before the turn did: {events}")

    return await asyncio.wait_for(collect(), TIMEOUT)


async def test_create_send_stream_history_disconnect_resume_terminate(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch, closing: Any
) -> None:
    point_at(engine, monkeypatch)
    session = closing(vs.Session(owner_type="agent", owner_id="agent-echo"))
    await asyncio.wait_for(session.connect(), TIMEOUT)
    sid = session.session_id
    assert sid and session.is_connected

    # The listener subscribes on its first step; nothing can arrive before, as nothing yields.
    await session.send("hello from the official client")
    events = await one_turn(session)
    types = [e.type for e in events]
    assert types[0] == ET.MESSAGE_POSTED
    assert events[1].participant_status == "Processing"
    deltas = [e.delta for e in events if e.type == ET.MESSAGE_DELTA]
    assert len(deltas) == 5
    (complete,) = [e for e in events if e.is_complete]
    assert complete.text == "".join(deltas) == "hello from the official client"
    assert types[-1] == ET.PARTICIPANT_STATUS and events[-1].is_turn_end

    history = await session.get_messages()
    assert [(m.sender.role, m.text) for m in history] == [
        ("user", "hello from the official client"),
        ("object", "hello from the official client"),
    ]
    assert history[1].status == "complete"
    await session.disconnect()

    resumed = closing(vs.Session(session_id=sid))
    await asyncio.wait_for(resumed.connect(), TIMEOUT)
    assert [m.text for m in await resumed.get_messages()] == [m.text for m in history]
    await resumed.send("again")
    assert next(e for e in await one_turn(resumed) if e.is_complete).text == "again"
    await resumed.terminate()

    refused = closing(vs.Session(session_id=sid))
    with pytest.raises(vs.SessionError, match=sid):
        await asyncio.wait_for(refused.connect(), TIMEOUT)


@pytest.mark.parametrize(
    ("approved", "expected"), [(True, "DEMO-1042 (priority low)"), (False, "declined the ticket")]
)
async def test_demo_turn_with_respond(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch, approved: bool, expected: str
) -> None:
    point_at(engine, monkeypatch)
    async with vs.Session(owner_type="agent", owner_id="agent-demo") as session:
        await session.send("my printer is on fire")

        async def collect() -> list[Any]:
            events = []
            async with contextlib.aclosing(session.listen()) as stream:
                async for event in stream:
                    events.append(event)
                    if event.type == ET.APPROVAL_REQUEST:
                        await session.respond(
                            event, approved=approved, confirm={"priority": "low"}, deny_reason="no"
                        )
                    if event.is_turn_end:
                        return events
            raise AssertionError(events)

        events = await asyncio.wait_for(collect(), TIMEOUT)

    types = {e.type for e in events}
    assert {
        ET.MESSAGE_POSTED,
        ET.PARTICIPANT_STATUS,
        ET.THINKING,
        ET.TOOL_CALL,
        ET.SEARCH_RESULT,
        ET.APPROVAL_REQUEST,
        ET.MESSAGE_DELTA,
        ET.MESSAGE_COMPLETE,
    } <= types
    statuses = [e.participant_status for e in events if e.type == ET.PARTICIPANT_STATUS]
    assert statuses == ["Processing", "AwaitingApproval", "Processing", "Idle"]
    # The official client has no frame for tool results: it sees them as streaming content,
    # like the plan step (agent_task), which it reads as {"text": ...}.
    streaming = [e for e in events if e.type == ET.MESSAGE_STREAMING]
    assert streaming[0].data["text"].startswith("Plan:")
    assert streaming[1:] and {e.data.get("type") for e in streaming[1:]} == {"tool_result"}
    (complete,) = [e for e in events if e.is_complete]
    assert expected in complete.text
    assert complete.text == "".join(e.delta for e in events if e.type == ET.MESSAGE_DELTA)


async def test_files_and_batches(engine: LocalEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    point_at(engine, monkeypatch)
    async with vs.Session(owner_type="chatbot", owner_id="chatbot-demo") as session:
        await session.send("see attached", files=[b"0123456789"])
        events = await one_turn(session)
    assert events[0].type == ET.MESSAGES_POSTED
    (complete,) = [e for e in events if e.is_complete]
    assert "the file file (application/octet-stream, 10 bytes)" in complete.text


async def test_wrong_key_fails_connect_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    async with LocalEngine(db=":memory:", api_keys=["right-key"]) as engine:
        point_at(engine, monkeypatch)
        monkeypatch.setenv("VECTORSHIFT_API_KEY", "wrong-key")
        with pytest.raises(vs.SessionError, match="401"):
            await asyncio.wait_for(
                vs.Session(owner_type="agent", owner_id="agent-echo").connect(), 5
            )
        monkeypatch.delenv("VECTORSHIFT_API_KEY")
        with pytest.raises(vs.SessionError, match="401"):
            await asyncio.wait_for(
                vs.Session(owner_type="agent", owner_id="agent-echo").connect(), 5
            )
        monkeypatch.setenv("VECTORSHIFT_API_KEY", "right-key")
        async with vs.Session(owner_type="agent", owner_id="agent-echo") as session:
            assert session.session_id


async def test_unknown_agent_fails_connect(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch, closing: Any
) -> None:
    point_at(engine, monkeypatch)
    session = closing(vs.Session(owner_type="agent", owner_id="agent-nope"))
    with pytest.raises(vs.SessionError, match="agent-nope"):
        await asyncio.wait_for(session.connect(), TIMEOUT)


async def test_ws_url_without_v1(engine: LocalEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VECTORSHIFT_WS_URL", f"ws://127.0.0.1:{engine.port}")
    async with vs.Session(owner_type="agent", owner_id="agent-echo") as session:
        await session.send("root path")
        assert next(e for e in await one_turn(session) if e.is_complete).text == "root path"


async def test_history_survives_an_engine_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, closing: Any
) -> None:
    db = tmp_path / "engine.sqlite3"
    async with LocalEngine(db=db) as first:
        port = first.port
        point_at(first, monkeypatch)
        async with vs.Session(owner_type="agent", owner_id="agent-echo") as session:
            sid = session.session_id
            await session.send("before the restart")
            await one_turn(session)

    async with LocalEngine(port=port, db=db) as second:  # same port, same file
        resumed = closing(vs.Session(session_id=sid))
        await asyncio.wait_for(resumed.connect(), TIMEOUT)
        await resumed.send("after the restart")
        await one_turn(resumed)
        texts = [m.text for m in await resumed.get_messages()]
        await resumed.disconnect()
        assert second.port == port
    assert texts == ["before the restart"] * 2 + ["after the restart"] * 2


async def test_another_keys_session_cannot_be_resumed(
    monkeypatch: pytest.MonkeyPatch, closing: Any
) -> None:
    async with LocalEngine(db=":memory:", api_keys=["key-a", "key-b"]) as engine:
        point_at(engine, monkeypatch)
        monkeypatch.setenv("VECTORSHIFT_API_KEY", "key-a")
        async with vs.Session(owner_type="agent", owner_id="agent-echo") as mine:
            sid = mine.session_id
        monkeypatch.setenv("VECTORSHIFT_API_KEY", "key-b")
        foreign = closing(vs.Session(session_id=sid))
        with pytest.raises(vs.SessionError, match="not found"):
            await asyncio.wait_for(foreign.connect(), TIMEOUT)
