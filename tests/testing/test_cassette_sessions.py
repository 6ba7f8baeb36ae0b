"""Cassettes recorded for real, in both flavours, of sessions with more than one connection:
an approval answered from another connection, a turn that goes on after a resume by id, a
reconnection whose history holds what the session missed, a post lost with its connection.
Each is recorded against a real local engine, loaded, then replayed through another engine
by one plain session, which must get the whole recorded turn (and nothing twice).
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from vectorshift_sessions import (
    AsyncSession,
    DeliveryUnknownError,
    ReconnectPolicy,
    Session,
    SessionError,
    SessionEvent,
    SessionEventType,
    TurnWatcher,
)
from vectorshift_sessions.engine import AgentSpec, LocalEngine, Turn
from vectorshift_sessions.engine._turn import ApprovalAnswer
from vectorshift_sessions.testing import FaultyProxy
from vectorshift_sessions.testing._cassette import Cassette, Owner, ReplayAgent

from .test_cassette import kinds

ET = SessionEventType
FAST = ReconnectPolicy(initial_delay=0.005, max_delay=0.05, deadline=30)
DEMO, ECHO, GATED = "agent-demo", "agent-echo", "agent-gated"
ASK = "find the Q3 report"
CONFIRM = {"priority": "high"}
WAIT = 30  # seconds: a bound on waiting for what surely comes, never a pause


def gated(gate: threading.Event) -> Any:
    """An agent that streams "before ", waits for ``gate``, then streams "after" and ends."""

    async def agent(turn: Turn) -> None:
        await turn.delta("m-gated", "before ", 0)
        await asyncio.to_thread(gate.wait, WAIT)
        await turn.delta("m-gated", "after", 1)
        complete = {"type": "data_type_message", "value": "before after", "status": "Complete"}
        await turn.emit(complete, message_id="m-gated")

    return agent


class Tap(io.StringIO):
    """A cassette in memory that says when a post has been sent (its line written)."""

    def __init__(self) -> None:
        super().__init__()
        self.posted = threading.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        if '"sent"' in text and '"post_message"' in text:
            self.posted.set()
        return written


def options(**extra: Any) -> dict[str, Any]:
    return {"ping_interval": None, **extra}


async def first_of(listener: AsyncIterator[SessionEvent], kind: ET) -> SessionEvent:
    async for event in listener:
        if event.type == kind:
            return event
    raise AssertionError(f"listen() ended before a {kind.value}")


def first_of_sync(listener: Iterator[SessionEvent], kind: ET) -> SessionEvent:
    for event in listener:
        if event.type == kind:
            return event
    raise AssertionError(f"listen() ended before a {kind.value}")


async def go_while_cut_off(
    session: AsyncSession,
    listener: AsyncIterator[SessionEvent],
    engine: LocalEngine,
    proxy: FaultyProxy,
    gate: threading.Event,
) -> None:
    """Post "go" to the gated agent and let its turn end while the session is cut off (a
    witness on its own connection sees the end); then let the session back in, and read on
    to the turn's end."""
    await session.send("go")
    await first_of(listener, ET.MESSAGE_DELTA)
    async with AsyncSession(session_id=session.session_id, ws_url=engine.ws_url) as witness:
        watching = witness.listen()
        proxy.refuse()
        assert proxy.cut() == 1
        gate.set()
        async for event in watching:
            if event.is_turn_end:
                break
    proxy.refuse(False)
    async for event in listener:
        if event.is_turn_end:
            break


def go_while_cut_off_sync(
    session: Session,
    listener: Iterator[SessionEvent],
    engine: LocalEngine,
    proxy: FaultyProxy,
    gate: threading.Event,
) -> None:
    """As ``go_while_cut_off``, blocking."""
    session.send("go")
    first_of_sync(listener, ET.MESSAGE_DELTA)
    with Session(session_id=session.session_id, ws_url=engine.ws_url) as witness:
        watching = witness.listen()
        proxy.refuse()
        assert proxy.cut() == 1
        gate.set()
        for event in watching:
            if event.is_turn_end:
                break
    proxy.refuse(False)
    for event in listener:
        if event.is_turn_end:
            break


# --- replaying, by one session without faults -------------------------------------------------


def replay(
    cassette: Cassette, owner_id: str, text: str, *more: str, **answer: Any
) -> tuple[ReplayAgent, list[SessionEvent]]:
    """Replay ``text``'s turn (then each of ``more``) through a fresh engine, answering
    approvals with ``answer``; the events of every turn."""
    agent = cassette.agent()
    specs = [
        AgentSpec(o.object_id.removeprefix("agent-"), agent, id=o.object_id)
        for o in cassette.owners
    ]
    with LocalEngine(db=":memory:", agents=specs) as engine:
        session = Session(owner_type="agent", owner_id=owner_id, ws_url=engine.ws_url, **options())
        events: list[SessionEvent] = []
        with session:
            for one in (text, *more):
                listener = session.listen()
                session.send(one)
                watcher = TurnWatcher()
                for event in listener:
                    if event.type == ET.APPROVAL_REQUEST:
                        session.respond(event, **answer)
                    if watcher.feed(event):
                        break
                events += watcher.events
    return agent, events


def errors(events: list[SessionEvent]) -> list[str]:
    return [event.error or "" for event in events if event.type == ET.ERROR]


# --- an approval answered from another connection -----------------------------------------


def check_answered_elsewhere(path: Path) -> None:
    cassette = Cassette.load(path)
    first, second = cassette.recordings
    assert first.session_id == second.session_id is not None
    (turn,) = cassette.turns
    assert turn.approvals == (ApprovalAnswer(True, CONFIRM),)
    agent, events = replay(cassette, DEMO, ASK, approved=False)
    (error,) = errors(events)
    assert "recorded approved with confirm {'priority': 'high'}" in error
    assert "received denied" in error and len(agent.mismatches) == 1
    agent, events = replay(cassette, DEMO, ASK, approved=True, confirm=CONFIRM)
    assert errors(events) == []
    agent.assert_done()


async def test_an_approval_answered_from_another_connection_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.jsonl"
    async with LocalEngine(db=":memory:") as engine:
        asking = AsyncSession(
            owner_type="agent", owner_id=DEMO, ws_url=engine.ws_url, **options(record_to=path)
        )
        async with asking:
            listener = asking.listen()
            await asking.send(ASK)
            request = await first_of(listener, ET.APPROVAL_REQUEST)
            answering = AsyncSession(
                session_id=asking.session_id, ws_url=engine.ws_url, **options(record_to=path)
            )
            async with answering:
                await answering.respond(request, approved=True, confirm=CONFIRM)
            async for event in listener:
                if event.is_turn_end:
                    break
    await asyncio.to_thread(check_answered_elsewhere, path)


def test_an_approval_answered_from_another_connection_is_checked_blocking(
    tmp_path: Path,
) -> None:
    path = tmp_path / "elsewhere.jsonl"
    with LocalEngine(db=":memory:") as engine:
        asking = Session(
            owner_type="agent", owner_id=DEMO, ws_url=engine.ws_url, **options(record_to=path)
        )
        with asking:
            listener = asking.listen()
            asking.send(ASK)
            request = first_of_sync(listener, ET.APPROVAL_REQUEST)
            answering = Session(
                session_id=asking.session_id, ws_url=engine.ws_url, **options(record_to=path)
            )
            with answering:
                answering.respond(request, approved=True, confirm=CONFIRM)
            for event in listener:
                if event.is_turn_end:
                    break
    check_answered_elsewhere(path)


# --- a turn that goes on after a resume by id ---------------------------------------------


def check_resumed(path: Path) -> None:
    cassette = Cassette.load(path)
    first, second = cassette.recordings
    assert first.session_id == second.session_id is not None
    (turn,) = cassette.turns
    assert kinds(turn) == ["delta before ", "delta after", "message before after"]
    assert [f.line > second.line for f in turn.frames] == [False, True, True]
    agent, events = replay(cassette, GATED, "go")
    assert [e.delta for e in events if e.type == ET.MESSAGE_DELTA] == ["before ", "after"]
    assert [e.text for e in events if e.is_complete] == ["before after"]
    agent.assert_done()


async def test_a_turn_goes_on_in_the_recording_of_a_resumed_session(tmp_path: Path) -> None:
    path, gate = tmp_path / "resumed.jsonl", threading.Event()
    async with LocalEngine(db=":memory:", agents={"gated": gated(gate)}) as engine:
        first = AsyncSession(
            owner_type="agent", owner_id=GATED, ws_url=engine.ws_url, **options(record_to=path)
        )
        await first.connect()
        listener = first.listen()
        await first.send("go")
        await first_of(listener, ET.MESSAGE_DELTA)
        await first.disconnect()
        again = AsyncSession(
            session_id=first.session_id, ws_url=engine.ws_url, **options(record_to=path)
        )
        async with again:
            rest = again.listen()
            gate.set()
            async for event in rest:
                if event.is_turn_end:
                    break
    await asyncio.to_thread(check_resumed, path)


def test_a_turn_goes_on_in_the_recording_of_a_resumed_session_blocking(tmp_path: Path) -> None:
    path, gate = tmp_path / "resumed.jsonl", threading.Event()
    with LocalEngine(db=":memory:", agents={"gated": gated(gate)}) as engine:
        first = Session(
            owner_type="agent", owner_id=GATED, ws_url=engine.ws_url, **options(record_to=path)
        )
        first.connect()
        listener = first.listen()
        first.send("go")
        first_of_sync(listener, ET.MESSAGE_DELTA)
        first.disconnect()
        again = Session(
            session_id=first.session_id, ws_url=engine.ws_url, **options(record_to=path)
        )
        with again:
            rest = again.listen()
            gate.set()
            for event in rest:
                if event.is_turn_end:
                    break
    check_resumed(path)


# --- a reconnection: what only the history holds ------------------------------------------


def check_backfilled(path: Path) -> None:
    cassette = Cassette.load(path)
    (recording,) = cassette.recordings
    sent = [f.frame["type"] for f in recording.frames if f.frame and f.direction == "sent"]
    assert sent.count("connect_session") == 2  # joined, then reconnected
    (turn,) = cassette.turns
    assert kinds(turn) == ["delta before ", "message before after"]
    history_line = next(
        f.line
        for f in recording.frames
        if f.frame and f.frame["type"] == "get_messages" and f.direction == "received"
    )
    assert turn.frames[-1].line == history_line  # the complete message came from there
    agent, events = replay(cassette, GATED, "go")
    assert [e.text for e in events if e.is_complete] == ["before after"]
    agent.assert_done()


async def test_messages_only_the_history_holds_after_a_reconnection_are_replayed(
    tmp_path: Path,
) -> None:
    path, gate = tmp_path / "backfilled.jsonl", threading.Event()
    async with LocalEngine(db=":memory:", agents={"gated": gated(gate)}) as engine:
        with FaultyProxy(engine.port) as proxy:
            session = AsyncSession(
                owner_type="agent",
                owner_id=GATED,
                ws_url=proxy.ws_url,
                **options(record_to=path, reconnect=FAST),
            )
            async with session:
                listener = session.listen(maxsize=0)
                await go_while_cut_off(session, listener, engine, proxy, gate)
    await asyncio.to_thread(check_backfilled, path)


def test_messages_only_the_history_holds_after_a_reconnection_are_replayed_blocking(
    tmp_path: Path,
) -> None:
    path, gate = tmp_path / "backfilled.jsonl", threading.Event()
    with (
        LocalEngine(db=":memory:", agents={"gated": gated(gate)}) as engine,
        FaultyProxy(engine.port) as proxy,
    ):
        session = Session(
            owner_type="agent",
            owner_id=GATED,
            ws_url=proxy.ws_url,
            **options(record_to=path, reconnect=FAST),
        )
        with session:
            listener = session.listen(maxsize=0)
            go_while_cut_off_sync(session, listener, engine, proxy, gate)
    check_backfilled(path)


# --- a second reconnection: a paged history ------------------------------------------------


def echo_then_gated(gate: threading.Event) -> Any:
    """An agent that echoes a text at once, and answers "go" as :func:`gated` does."""
    gated_turn = gated(gate)

    async def agent(turn: Turn) -> None:
        if turn.text == "go":
            await gated_turn(turn)
        else:
            await turn.say(turn.text)

    return agent


def check_paged(path: Path) -> None:
    """The second reconnection read only what was stored after the first one's history (the
    engine's paging extension); its message is still the turn's, and both turns replay."""
    cassette = Cassette.load(path)
    (recording,) = cassette.recordings
    histories = [f for f in recording.frames if f.frame and f.frame["type"] == "get_messages"]
    asked = [f.frame for f in histories if f.direction == "sent"]
    answers = [f for f in histories if f.direction == "received"]
    assert [a.get("after") for a in asked] == [None, answers[0].frame["messages"][-1]["id"]]
    assert [m["content"]["value"] for m in answers[1].frame["messages"]] == ["go", "before after"]
    first, second = cassette.turns
    assert (first.text, second.text) == ("warm up", "go")
    assert kinds(second) == ["delta before ", "message before after"]
    assert second.frames[-1].line == answers[1].line  # the complete message came from there
    agent, events = replay(cassette, GATED, "warm up", "go")
    assert [e.text for e in events if e.is_complete] == ["warm up", "before after"]
    agent.assert_done()


async def test_a_paged_history_after_a_second_reconnection_is_read_whole(
    tmp_path: Path,
) -> None:
    path, gate = tmp_path / "paged.jsonl", threading.Event()
    async with LocalEngine(db=":memory:", agents={"gated": echo_then_gated(gate)}) as engine:
        with FaultyProxy(engine.port) as proxy:
            session = AsyncSession(
                owner_type="agent",
                owner_id=GATED,
                ws_url=proxy.ws_url,
                **options(record_to=path, reconnect=FAST),
            )
            async with session:
                listener = session.listen(maxsize=0)
                await session.ask("warm up")
                assert proxy.cut() == 1
                while not (await first_of(listener, ET.PARTICIPANT_STATUS)).data.get("recovered"):
                    pass
                await go_while_cut_off(session, listener, engine, proxy, gate)
    await asyncio.to_thread(check_paged, path)


def test_a_paged_history_after_a_second_reconnection_is_read_whole_blocking(
    tmp_path: Path,
) -> None:
    path, gate = tmp_path / "paged.jsonl", threading.Event()
    with (
        LocalEngine(db=":memory:", agents={"gated": echo_then_gated(gate)}) as engine,
        FaultyProxy(engine.port) as proxy,
    ):
        session = Session(
            owner_type="agent",
            owner_id=GATED,
            ws_url=proxy.ws_url,
            **options(record_to=path, reconnect=FAST),
        )
        with session:
            listener = session.listen(maxsize=0)
            session.ask("warm up")
            assert proxy.cut() == 1
            while not first_of_sync(listener, ET.PARTICIPANT_STATUS).data.get("recovered"):
                pass
            go_while_cut_off_sync(session, listener, engine, proxy, gate)
    check_paged(path)


# --- a post lost with its connection ----------------------------------------------------


def check_lost(tap: Tap, tmp_path: Path) -> None:
    path = tmp_path / "lost.jsonl"
    path.write_text(tap.getvalue(), encoding="utf-8")
    cassette = Cassette.load(path)
    (recording,) = cassette.recordings
    posts = [
        f.line
        for f in recording.frames
        if f.frame and f.frame["type"] == "post_message" and f.direction == "sent"
    ]
    assert len(posts) == 2  # sent, lost; sent again
    (turn,) = cassette.turns  # the lost one is no turn
    assert turn.line == posts[1] and turn.text == "hello"
    agent, events = replay(cassette, ECHO, "hello")
    assert [e.text for e in events if e.is_complete] == ["hello"]
    agent.assert_done()  # nothing left over


async def test_a_post_lost_with_its_connection_shifts_no_turn(tmp_path: Path) -> None:
    tap = Tap()
    async with LocalEngine(db=":memory:") as engine:
        with FaultyProxy(engine.port) as proxy:
            session = AsyncSession(
                owner_type="agent",
                owner_id=ECHO,
                ws_url=proxy.ws_url,
                **options(record_to=tap, reconnect=FAST),
            )
            async with session:
                proxy.stall()  # the post goes out, and no further than the proxy
                sending = asyncio.ensure_future(session.send("hello"))
                assert await asyncio.to_thread(tap.posted.wait, WAIT)
                proxy.cut()
                proxy.resume()
                with pytest.raises(DeliveryUnknownError):
                    await sending
                history = await session.get_messages()
                assert not any(m.is_user for m in history)  # lost indeed: send it again
                await session.send("hello")
                watcher = TurnWatcher()
                async for event in session.listen():
                    if watcher.feed(event):
                        break
    check_lost(tap, tmp_path)


def test_a_post_lost_with_its_connection_shifts_no_turn_blocking(tmp_path: Path) -> None:
    tap = Tap()
    with LocalEngine(db=":memory:") as engine, FaultyProxy(engine.port) as proxy:
        session = Session(
            owner_type="agent",
            owner_id=ECHO,
            ws_url=proxy.ws_url,
            **options(record_to=tap, reconnect=FAST),
        )
        with session:
            proxy.stall()
            failures: list[BaseException] = []

            def send() -> None:
                try:
                    session.send("hello")
                except DeliveryUnknownError as exc:
                    failures.append(exc)

            sending = threading.Thread(target=send)
            sending.start()
            assert tap.posted.wait(WAIT)
            proxy.cut()
            proxy.resume()
            sending.join(WAIT)
            assert len(failures) == 1
            assert not any(m.is_user for m in session.get_messages())
            session.send("hello")
            watcher = TurnWatcher()
            for event in session.listen():
                if watcher.feed(event):
                    break
    check_lost(tap, tmp_path)


# --- a session the engine refused to create ----------------------------------------------


def test_a_session_the_engine_refused_to_create_defines_no_owner(
    engine: LocalEngine, tmp_path: Path
) -> None:
    path = tmp_path / "refused.jsonl"
    refused = Session(
        owner_type="agent", owner_id="agent-nobody", ws_url=engine.ws_url, **options(record_to=path)
    )
    with pytest.raises(SessionError, match="agent-nobody"):
        refused.connect()
    with Session(
        owner_type="agent", owner_id=ECHO, ws_url=engine.ws_url, **options(record_to=path)
    ) as session:
        session.ask("hi")
    cassette = Cassette.load(path)
    assert [r.owner for r in cassette.recordings] == [
        Owner("agent", "agent-nobody"),
        Owner("agent", ECHO),
    ]
    assert [r.joined for r in cassette.recordings] == [False, True]
    assert cassette.owners == (Owner("agent", ECHO),)
