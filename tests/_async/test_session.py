"""AsyncSession against the real local engine. Written once: tests/_sync/ is generated from it.

Concurrency goes through the backend twin's ``spawn`` (a task on asyncio, a thread in the
generated twin), so every scenario runs in both flavours.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from vectorshift_sessions import (
    AsyncSession,
    HandshakeError,
    InsecureTransportError,
    ParticipantStatus,
    PostError,
    SessionDisconnectedError,
    SessionError,
    SessionEvent,
    SessionEventType,
    SessionNotFoundError,
    TurnStatus,
    TurnWatcher,
    UserSessionMessage,
)
from vectorshift_sessions._backends import _asyncio_backend as backend
from vectorshift_sessions.engine import LocalEngine
from vectorshift_sessions.testing import GARBAGE, RogueEngine
from vectorshift_sessions.testing._cassette import Cassette

ET = SessionEventType
ECHO = "agent-echo"
DEMO = "agent-demo"


def new_session(engine: LocalEngine, owner_id: str = ECHO, **options: object) -> AsyncSession:
    return AsyncSession(owner_type="agent", owner_id=owner_id, ws_url=engine.ws_url, **options)  # type: ignore[arg-type]


async def until_turn_end(session: AsyncSession, **listen_options: object) -> list[SessionEvent]:
    """Every event up to the end of the current turn."""
    turn = TurnWatcher()
    async for event in session.listen(**listen_options):  # type: ignore[arg-type]
        if turn.feed(event):
            return turn.events
    raise AssertionError(f"listen() ended before the turn did; got {turn.events}")


def turn_text(events: list[SessionEvent]) -> str:
    (complete,) = [e for e in events if e.is_complete]
    assert complete.text is not None
    return complete.text


# --- lifecycle --------------------------------------------------------------------------------


async def test_connect_creates_a_session(engine: LocalEngine) -> None:
    session = new_session(engine)
    assert not session.is_connected and session.session_id is None
    async with session:
        assert session.is_connected
        assert session.session_id
    assert not session.is_connected


async def test_a_whole_streamed_turn(engine: LocalEngine) -> None:
    async with new_session(engine) as session:
        await session.send("the quick brown fox jumps")
        events = await until_turn_end(session)
    deltas = [e.delta for e in events if e.type == ET.MESSAGE_DELTA]
    assert len(deltas) > 1, "echo streams several deltas"
    assert "".join(d or "" for d in deltas) == turn_text(events)
    assert "the quick brown fox jumps" in turn_text(events)
    indexes = [e.data["index"] for e in events if e.type == ET.MESSAGE_DELTA]
    assert indexes == sorted(indexes)


async def test_listener_that_starts_late_still_gets_the_whole_turn(engine: LocalEngine) -> None:
    async with new_session(engine) as session:
        assert session.session_id is not None
        # A second connection to the same session witnesses the turn's end; the history
        # request after it is answered on our connection after every frame of the turn.
        async with AsyncSession(session_id=session.session_id, ws_url=engine.ws_url) as witness:
            watching = witness.listen()
            await session.send("already streamed before anyone listens")
            turn = TurnWatcher()
            async for event in watching:
                if turn.feed(event):
                    break
        await session.get_messages()
        events = await until_turn_end(session)
    assert turn_text(events) == "".join(e.delta or "" for e in events if e.delta)
    assert [e.type for e in events][:3] == [
        ET.SESSION_CREATED,
        ET.SESSION_CONNECTED,
        ET.MESSAGE_POSTED,
    ]


async def test_events_a_listener_left_unread_wait_for_the_next_one(engine: LocalEngine) -> None:
    async with new_session(engine) as session:
        await session.send("first turn")
        async for event in session.listen():
            if event.is_complete:
                break  # leaves the turn's final Idle unread
        listener = session.listen()
        leftover = await listener.__anext__()
        await listener.aclose()
        assert leftover.participant_status == ParticipantStatus.IDLE


async def test_resume_by_id_keeps_history(engine: LocalEngine) -> None:
    async with new_session(engine) as first:
        session_id = first.session_id
        assert session_id is not None
        await first.ask("remember me")
    async with AsyncSession(session_id=session_id, ws_url=engine.ws_url) as resumed:
        history = await resumed.get_messages()
        assert [m.is_user for m in history] == [True, False]
        assert history[0].text == "remember me"
        result = await resumed.ask("and again")
        assert result.session_id == session_id
        assert len(await resumed.get_messages()) == 4


async def test_reconnect_after_disconnect_resumes(engine: LocalEngine) -> None:
    session = new_session(engine)
    await session.connect()
    session_id = session.session_id
    await session.disconnect()
    await session.disconnect()  # twice is fine
    await session.connect()
    try:
        assert session.session_id == session_id
        assert (await session.ask("hello again")).status == TurnStatus.COMPLETE
    finally:
        await session.disconnect()


async def test_unknown_session_id_fails_fast(engine: LocalEngine) -> None:
    session = AsyncSession(session_id="no-such-session", ws_url=engine.ws_url, connect_timeout=60)
    with pytest.raises(SessionNotFoundError, match="no-such-session") as info:
        await session.connect()
    assert info.value.session_id == "no-such-session"
    assert not session.is_connected


async def test_terminate_destroys_the_session(engine: LocalEngine) -> None:
    async with new_session(engine) as session:
        session_id = session.session_id
        await session.terminate()
        assert not session.is_connected
        with pytest.raises(SessionDisconnectedError, match="terminated"):
            await session.send("anyone?")
        with pytest.raises(SessionDisconnectedError, match="terminated"):
            await session.connect()
    with pytest.raises(SessionNotFoundError):
        await AsyncSession(session_id=session_id, ws_url=engine.ws_url).connect()


async def test_unknown_agent_is_refused(engine: LocalEngine) -> None:
    with pytest.raises(SessionError, match="no-such-agent"):
        await new_session(engine, "no-such-agent").connect()


async def test_nothing_listening_on_the_port_is_a_handshake_error() -> None:
    with pytest.raises(HandshakeError, match=r"cannot open ws://127\.0\.0\.1:9/ws/session "):
        await AsyncSession(owner_type="agent", owner_id=ECHO, ws_url="ws://127.0.0.1:9").connect()


async def test_new_session_needs_an_owner() -> None:
    with pytest.raises(SessionError, match="owner_type and owner_id"):
        await AsyncSession(api_key="k").connect()


# --- messaging ------------------------------------------------------------------------------


async def test_ask_returns_the_turn(engine: LocalEngine) -> None:
    async with new_session(engine) as session:
        result = await session.ask("ping pong")
    assert result.status == TurnStatus.COMPLETE
    assert result.text is not None and "ping pong" in result.text
    assert result.events[-1].is_turn_end
    assert result.session_id == session.session_id


async def test_ask_reads_its_turn_and_listen_goes_on_after_it(engine: LocalEngine) -> None:
    async with new_session(engine) as session:
        await session.ask("one")
        await session.send("two")
        events = await until_turn_end(session)
    assert events[0].type == ET.MESSAGE_POSTED  # nothing before or of the asked turn again
    assert turn_text(events) == "two"


async def test_send_files_and_batches(engine: LocalEngine, tmp_path: Path) -> None:
    report = tmp_path / "report.csv"
    report.write_text("a,b\n1,2\n")
    async with new_session(engine, DEMO) as session:
        await session.send("look at these", files=[report, io.BytesIO(b"\x89PNG...")])
        described = turn_text(await until_turn_end(session))
        assert "report.csv" in described
        await session.send_many(
            ["two parts", UserSessionMessage(content=b"raw", filename="data.bin")]
        )
        described = turn_text(await until_turn_end(session))
        assert "data.bin" in described


async def test_approval_round_trip(engine: LocalEngine) -> None:
    async with new_session(engine, DEMO) as session:
        await session.send("book a meeting room")
        seen = []
        async for event in session.listen():
            seen.append(event.type)
            if event.type == ET.APPROVAL_REQUEST:
                assert event.requires_action
                await session.respond(event, approved=True)
            if event.participant_status == ParticipantStatus.IDLE and ET.APPROVAL_REQUEST in seen:
                break
    for expected in (
        ET.THINKING,
        ET.TOOL_CALL,
        ET.TOOL_RESULT,
        ET.SEARCH_RESULT,
        ET.MESSAGE_COMPLETE,
    ):
        assert expected in seen
    after = seen[seen.index(ET.APPROVAL_REQUEST) :]
    assert ET.TOOL_RESULT in after and ET.MESSAGE_COMPLETE in after


async def test_denied_approval_is_explained(engine: LocalEngine) -> None:
    async with new_session(engine, DEMO) as session:
        result = await session.ask("book a meeting room")
        assert result.status == TurnStatus.AWAITING_APPROVAL
        request = result.action_event
        assert request is not None and request.message_id
        await session.respond(request, approved=False, deny_reason="not today")
        events = await until_turn_end(
            session, event_types=[ET.MESSAGE_COMPLETE, ET.PARTICIPANT_STATUS]
        )
        assert "not today" in turn_text(events) or "denied" in turn_text(events).lower()


async def test_reauth_and_failure_turns(engine: LocalEngine) -> None:
    async with new_session(engine, DEMO) as session:
        reauth = await session.ask("please reauth my calendar")
        assert reauth.status == TurnStatus.REAUTH_REQUIRED
        assert reauth.action_event is not None and reauth.action_event.requires_action
        async for event in session.listen():  # the rest of that turn
            if event.is_turn_end:
                break
        failed = await session.ask("this will fail")
        assert failed.status == TurnStatus.ERROR and failed.error


# --- listeners ------------------------------------------------------------------------------


async def collect(listener: object, into: list[SessionEvent], stop_after: int | None) -> None:
    """Read into ``into`` until the turn ends (or ``stop_after`` events)."""
    async for event in listener:  # type: ignore[attr-defined]
        into.append(event)
        if len(into) == stop_after:
            return
        if stop_after is None and event.is_turn_end and any(e.is_complete for e in into):
            return


async def test_concurrent_listeners_each_get_every_event(engine: LocalEngine) -> None:
    text = "one two three four five six seven"
    everything: list[SessionEvent] = []
    deltas: list[SessionEvent] = []
    async with new_session(engine) as session:
        # Subscribe both before the turn, so neither can miss anything.
        every_listener = session.listen()
        delta_listener = session.listen(event_types=[ET.MESSAGE_DELTA])
        workers = [
            backend.spawn(collect, every_listener, everything, None, name="all"),
            backend.spawn(collect, delta_listener, deltas, len(text.split()), name="deltas"),
        ]
        await session.send(text)
        for worker in workers:
            await worker.join()
    assert [e for e in everything if e.type == ET.MESSAGE_DELTA] == deltas
    assert "".join(e.delta or "" for e in deltas) == turn_text(everything)


async def test_slow_listener_overflows_with_a_notice_that_always_arrives(
    engine: LocalEngine,
) -> None:
    async with new_session(engine) as session:
        slow = session.listen(maxsize=3, event_types=[ET.MESSAGE_DELTA])
        witness = session.listen(maxsize=0)  # subscribed before the turn, like `slow`
        await session.send(" ".join(f"w{i}" for i in range(40)))
        async for event in witness:
            if event.is_turn_end:
                break  # the turn is over: `slow` has overflowed by now
        got = []
        async for event in slow:
            got.append(event)
            if len(got) == 4:
                break
    # The oldest went; one notice stands in their place, before the newest `maxsize` deltas.
    assert [e.type for e in got] == [ET.ERROR] + [ET.MESSAGE_DELTA] * 3
    notice = got[0]
    assert notice.error == "subscriber queue overflow"
    assert notice.data["dropped_event_type"] == "message_delta"
    assert notice.data["dropped_count"] >= 30
    deltas = [e.data["index"] for e in got[1:]]
    assert deltas == list(range(deltas[0], deltas[0] + 3))
    assert deltas[0] == notice.data["dropped_count"]  # counted exactly: none lost untold


async def test_an_overflowing_listener_still_sees_the_turn_end(engine: LocalEngine) -> None:
    async with new_session(engine) as session:
        slow = session.listen(maxsize=2)
        witness = session.listen(maxsize=0)
        await session.send(" ".join(f"w{i}" for i in range(40)))
        async for event in witness:
            if event.is_turn_end:
                break
        got = []
        async for event in slow:
            got.append(event)
            if event.is_turn_end:
                break
    assert ET.ERROR in [e.type for e in got]  # deltas overflowed...
    statuses = [e.participant_status for e in got if e.type == ET.PARTICIPANT_STATUS]
    assert statuses == [ParticipantStatus.PROCESSING, ParticipantStatus.IDLE]  # ...statuses did not


# --- delivery: one shared log, a cursor per listener --------------------------------------------


@pytest.mark.timeout(30)
async def test_an_abandoned_listener_holds_back_no_later_turn(engine: LocalEngine) -> None:
    async with new_session(engine) as session:
        await session.send("one")
        abandoned = session.listen()
        async for event in abandoned:
            if event.is_turn_end:
                break  # still referenced: a variable, a notebook cell
        await session.send("two")
        events = await until_turn_end(session)  # a fresh listener gets the new turn
        assert turn_text(events) == "two"
        assert abandoned is not None


async def test_a_listener_left_by_break_lets_go_of_the_log(engine: LocalEngine) -> None:
    async with new_session(engine) as session:
        for text in ("one", "two", "three"):
            await session.send(text)
            async for event in session.listen():
                if event.is_turn_end:
                    break  # the listener is dropped here
        await session.ask("and a step of the log")  # settles what the collection left
        assert not session._core.log.listening


async def test_a_filtered_listener_takes_nothing_from_the_others(engine: LocalEngine) -> None:
    async with new_session(engine) as session:
        statuses = session.listen(event_types=[ET.PARTICIPANT_STATUS])
        await session.send("for everyone")
        async for event in statuses:
            if event.is_turn_end:
                break  # the whole turn went by this listener
        events = await until_turn_end(session)  # and is still there for this one
        assert turn_text(events) == "for everyone"
        await statuses.aclose()


async def test_closing_a_listener_wakes_whoever_waits_on_it(engine: LocalEngine) -> None:
    async with new_session(engine) as session:
        listener = session.listen()
        seen: list[SessionEvent] = []

        async def wait_on_it() -> None:
            async for event in listener:
                seen.append(event)

        waiting = backend.spawn(wait_on_it, name="waiting")
        await session.ask("so that the waiter has read up and sleeps")
        await listener.aclose()
        await waiting.join()  # ends: it does not sleep until the next event
    assert seen


async def test_heartbeat_pongs_are_not_kept_for_later_listeners(engine: LocalEngine) -> None:
    async with (
        new_session(engine, ping_interval=0.002) as idle,
        new_session(engine) as busy,
    ):
        await idle.send("while nobody listens")
        received = idle._core.frames_received
        for _ in range(2_000):  # real work elsewhere while the idle session pings away
            if idle._core.frames_received >= received + 5:
                break
            await busy.ask("tick")
        assert idle._core.frames_received >= received + 5, "the heartbeat never answered"
        events = await until_turn_end(idle)
    assert ET.PONG not in [e.type for e in events]
    assert turn_text(events) == "while nobody listens"


async def test_a_stuck_listener_holds_up_no_one(engine: LocalEngine) -> None:
    async with new_session(engine, "agent-bench") as session:
        stuck = session.listen(maxsize=1)  # never read
        await session.send("3000")
        history = await session.get_messages()  # answered while `stuck` overflows
        events = await until_turn_end(session, maxsize=0)
        deltas = [e for e in events if e.type == ET.MESSAGE_DELTA]
        assert len(deltas) == 3000, "the listener that reads loses nothing"
        assert history[0].is_user
        first = await stuck.__anext__()
        assert first.error == "subscriber queue overflow"
        assert first.data["dropped_count"] >= 3000


async def test_get_messages_never_reaches_listeners(engine: LocalEngine) -> None:
    async with new_session(engine) as session:
        await session.ask("history please")
        listener = session.listen(maxsize=0)
        for _ in range(3):
            assert len(await session.get_messages()) == 2
        await session.send("after")
        events = []
        async for event in listener:
            events.append(event)
            if event.is_turn_end and any(e.is_complete for e in events):
                break
    assert not [e for e in events if "messages" in e.data]
    assert next(e for e in events if e.is_complete).text == "after"  # only the new turn's


@pytest.mark.parametrize("extensions", [True, False], ids=["paged", "hosted-like"])
async def test_get_messages_after_a_message_gives_what_followed_it(
    extensions: bool, tmp_path: Path
) -> None:
    """With an engine that pages, only the part is sent (the recording shows the requests);
    without, the whole history is read and cut here: the same messages either way. A bad
    ``after`` fails before anything is sent, an unknown one names it, and the session goes on."""
    path = tmp_path / "history.jsonl"
    with LocalEngine(db=":memory:", extensions=extensions) as engine:
        async with new_session(engine, record_to=path) as session:
            first = await session.ask("one")
            await session.ask("two")
            everything = await session.get_messages()
            answer_id = next(e.message_id for e in first.events if e.is_complete)
            assert answer_id is not None
            rest = await session.get_messages(after=answer_id)
            assert await session.get_messages(after=everything[-1].id) == []
            with pytest.raises(TypeError, match="after must be a message id"):
                await session.get_messages(after=first)  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="empty string"):
                await session.get_messages(after="")
            with pytest.raises(SessionError, match="'no-such-message' is not in session"):
                await session.get_messages(after="no-such-message")
            assert await session.get_messages() == everything
    assert [m.text for m in everything] == ["one", "one", "two", "two"]
    assert rest == everything[2:]
    frames = Cassette.load(path).recordings[0].frames
    asked = [f.frame for f in frames if f.frame and f.frame["type"] == "get_messages"]
    sent = [frame.get("after") for frame in asked if "messages" not in frame]
    paged = [answer_id, everything[-1].id, "no-such-message"]
    assert sent == [None, *(paged if extensions else [None] * 3), None]


async def test_listen_ends_in_every_listener_on_disconnect(engine: LocalEngine) -> None:
    session = await new_session(engine).connect()
    ended = []

    async def drain(listener: object) -> None:
        async for _ in listener:  # type: ignore[attr-defined]
            pass
        ended.append(True)

    listeners = [session.listen(), session.listen(event_types=[ET.PONG])]
    workers = [
        backend.spawn(drain, listener, name=f"drain-{i}") for i, listener in enumerate(listeners)
    ]
    await session.disconnect()
    for worker in workers:
        await worker.join()
    assert ended == [True, True]


# --- bad input: a clear error, nothing sent, the session still usable ------------------------


async def test_bad_input_is_refused_before_sending(engine: LocalEngine, tmp_path: Path) -> None:
    async with new_session(engine) as session:
        with pytest.raises(TypeError, match="int"):
            await session.send(123)  # type: ignore[arg-type]
        with pytest.raises(FileNotFoundError, match=r"missing\.pdf"):
            await session.send("see attached", files=[tmp_path / "missing.pdf"])
        with pytest.raises(ValueError, match="empty"):
            await session.send_many([])
        with pytest.raises(ValueError, match="unknown event type 'nope'"):
            session.listen(event_types=["nope"])
        with pytest.raises(ValueError, match="maxsize"):
            session.listen(maxsize=-1)
        not_a_request = SessionEvent(ET.MESSAGE_COMPLETE, session.session_id or "", "m", {})
        with pytest.raises(TypeError, match="message_complete"):
            await session.respond(not_a_request, approved=True)
        request = SessionEvent(ET.APPROVAL_REQUEST, session.session_id or "", "m", {})
        with pytest.raises(TypeError, match="approved"):
            await session.respond(request)
        foreign = SessionEvent(ET.APPROVAL_REQUEST, "another-session", "m", {})
        with pytest.raises(ValueError, match="another-session"):
            await session.respond(foreign, approved=True)
        # Nothing reached the engine, and the session works.
        assert await session.get_messages() == []
        assert (await session.ask("still here")).status == TurnStatus.COMPLETE


async def test_malformed_session_id_is_refused() -> None:
    for bad in ("", "  ", "has space", "tab\there"):
        with pytest.raises(ValueError, match="session_id"):
            AsyncSession(session_id=bad)


async def test_use_before_connect_and_after_disconnect(engine: LocalEngine) -> None:
    session = new_session(engine)
    with pytest.raises(SessionDisconnectedError, match="not connected"):
        await session.send("too early")
    with pytest.raises(SessionDisconnectedError):
        session.listen()
    await session.connect()
    await session.disconnect()
    with pytest.raises(SessionDisconnectedError, match="disconnected"):
        await session.get_messages()


async def test_a_refused_post_raises_post_error(engine: LocalEngine) -> None:
    async with new_session(engine) as session:
        # The engine refuses content over its frame-independent history/message limits with a
        # failed ack; an approval answer with no paused turn is refused the same way.
        request = SessionEvent(ET.APPROVAL_REQUEST, session.session_id or "", "no-such-request", {})
        with pytest.raises(PostError):
            await session.respond(request, approved=True)
        assert (await session.ask("fine")).status == TurnStatus.COMPLETE


async def test_the_api_key_never_shows(engine: LocalEngine) -> None:
    secret = "sk-test-very-secret-key"
    session = AsyncSession(owner_type="agent", owner_id=ECHO, ws_url=engine.ws_url, api_key=secret)
    assert secret not in repr(session)
    with pytest.raises(InsecureTransportError, match="refusing to send the API key") as info:
        AsyncSession(owner_type="agent", owner_id=ECHO, ws_url="ws://192.0.2.1:80", api_key=secret)
    assert secret not in str(info.value) and info.value.host == "192.0.2.1"


async def test_malformed_frames_from_the_engine_are_dropped_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rogue = RogueEngine()
    try:
        async with AsyncSession(
            owner_type="agent", owner_id="agent-x", ws_url=rogue.ws_url
        ) as session:
            result = await session.ask("hello")
            assert await session.get_messages() == []  # and the session still answers
    finally:
        rogue.close()
    assert result.text == "fine"
    assert [e.type for e in result.events] == [
        ET.MESSAGE_POSTED,
        ET.PARTICIPANT_STATUS,
        ET.MESSAGE_DELTA,
        ET.MESSAGE_COMPLETE,
        ET.PARTICIPANT_STATUS,
    ]
    dropped = [r for r in caplog.records if "malformed frame" in r.getMessage()]
    assert len(dropped) == len(GARBAGE) - 1  # the frame from the future is dropped quietly
