"""Recording sessions into cassettes (``record_to=``) and replaying them, against real local
engines. Written once: tests/_sync/ is generated from it.

The round trip: record a session with the built-in agents, load the cassette, serve its
replaying agent under the same ids in a second engine, run the same steps, and get the same
events in the same order (ids aside).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
from pathlib import Path
from typing import Any

import psutil
import pytest

from vectorshift_sessions import (
    AsyncClient,
    AsyncSession,
    SessionEvent,
    SessionEventType,
    TurnWatcher,
)
from vectorshift_sessions._backends import _asyncio_backend as backend
from vectorshift_sessions._cassette import Recorder, recording
from vectorshift_sessions.engine import AgentSpec, LocalEngine
from vectorshift_sessions.testing._cassette import Cassette, ReplayAgent

ET = SessionEventType
DEMO = "agent-demo"
ECHO = "agent-echo"
KEY = "sk-recording-secret-4d2e"


def new_session(engine: LocalEngine, owner_id: str, **options: Any) -> AsyncSession:
    return AsyncSession(
        owner_type="agent", owner_id=owner_id, ws_url=engine.ws_url, ping_interval=None, **options
    )


async def turn(
    session: AsyncSession, text: str, *, approve: bool = True, confirm: Any = None
) -> list[SessionEvent]:
    """Send ``text`` and read its turn to the end, answering approvals as told."""
    await session.send(text)
    watcher = TurnWatcher()
    async for event in session.listen():
        if event.type == ET.APPROVAL_REQUEST:
            await session.respond(
                event, approved=approve, confirm=confirm, deny_reason=None if approve else "No."
            )
        if watcher.feed(event):
            return watcher.events
    raise AssertionError(f"listen() ended before the turn did: {watcher.events}")


async def demo_steps(session: AsyncSession) -> list[SessionEvent]:
    events = await turn(session, "find the Q3 report", confirm={"priority": "high"})
    events += await turn(session, "please fail")
    events += await turn(session, "reauth my drive")
    return events


def signature(events: list[SessionEvent]) -> list[tuple[str, str]]:
    """What a replay must reproduce: each event's type and data, ids left out."""
    return [
        (
            event.type.value,
            json.dumps({k: v for k, v in event.data.items() if k != "session_id"}, sort_keys=True),
        )
        for event in events
    ]


def replay_engine(
    cassette: Cassette, agent: ReplayAgent | None = None, **options: Any
) -> LocalEngine:
    agent = agent or cassette.agent()
    specs = [
        AgentSpec(o.object_id.removeprefix("agent-"), agent, id=o.object_id)
        for o in cassette.owners
    ]
    return LocalEngine(db=":memory:", agents=specs, **options)


def read_lines(path: Path) -> list[dict[str, Any]]:
    """A cassette's lines, decoded (the raw file: no loader involved)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def headers(path: Path) -> list[dict[str, Any]]:
    return [line for line in read_lines(path) if "cassette" in line]


async def record_demo(engine: LocalEngine, path: Path) -> list[SessionEvent]:
    async with new_session(engine, DEMO, record_to=path) as session:
        return await demo_steps(session)


# --- the round trip ---------------------------------------------------------------------------


async def test_a_replay_gives_the_recorded_events_in_order(
    engine: LocalEngine, tmp_path: Path
) -> None:
    path = tmp_path / "demo.jsonl"
    recorded = await record_demo(engine, path)
    async with new_session(engine, ECHO, record_to=path) as session:
        recorded_echo = await turn(session, "hello there, echo")

    cassette = Cassette.load(path)
    assert [o.object_id for o in cassette.owners] == [DEMO, ECHO]
    assert [t.text for t in cassette.turns] == [
        "find the Q3 report",
        "please fail",
        "reauth my drive",
        "hello there, echo",
    ]
    assert cassette.turns[0].approvals[0] is not None
    assert cassette.turns[0].approvals[0].confirm == {"priority": "high"}

    agent = cassette.agent()
    async with replay_engine(cassette, agent) as replay:
        async with new_session(replay, DEMO) as session:
            replayed = await demo_steps(session)
        async with new_session(replay, ECHO) as session:
            replayed_echo = await turn(session, "hello there, echo")
    assert signature(replayed) == signature(recorded)
    assert signature(replayed_echo) == signature(recorded_echo)
    kinds = {event.type for event in replayed}
    assert {ET.THINKING, ET.TOOL_CALL, ET.TOOL_RESULT, ET.SEARCH_RESULT} <= kinds
    assert {ET.APPROVAL_REQUEST, ET.REAUTH_REQUEST, ET.ERROR, ET.MESSAGE_DELTA} <= kinds
    # New ids, and the deltas of a message share the id of its complete message.
    recorded_ids = {e.message_id for e in recorded if e.message_id}
    assert not recorded_ids & {e.message_id for e in replayed if e.message_id}
    complete = [e for e in replayed if e.is_complete]
    deltas = [e for e in replayed if e.type == ET.MESSAGE_DELTA]
    assert {d.message_id for d in deltas} <= {c.message_id for c in complete}
    assert agent.mismatches == []
    agent.assert_done()


async def test_a_replay_at_the_recorded_pace_keeps_the_order(
    engine: LocalEngine, tmp_path: Path
) -> None:
    path = tmp_path / "paced.jsonl"
    async with new_session(engine, ECHO, record_to=path) as session:
        recorded = await turn(session, "one two three four five")
    cassette = Cassette.load(path)
    paced = cassette.agent(speed=1.0)
    async with replay_engine(cassette, paced) as replay, new_session(replay, ECHO) as session:
        replayed = await turn(session, "one two three four five")
    assert signature(replayed) == signature(recorded)


async def test_the_history_of_a_replayed_session_holds_the_recorded_messages(
    engine: LocalEngine, tmp_path: Path
) -> None:
    path = tmp_path / "history.jsonl"
    async with new_session(engine, ECHO, record_to=path) as session:
        await turn(session, "keep this")
        recorded = [(m.content_type, m.text) for m in await session.get_messages()]
    cassette = Cassette.load(path)
    assert len(cassette.turns) == 1  # the history request and its answer are no turn
    async with replay_engine(cassette) as replay, new_session(replay, ECHO) as session:
        await turn(session, "keep this")
        replayed = [(m.content_type, m.text) for m in await session.get_messages()]
    assert replayed == recorded


# --- mismatches: an ERROR in the session, never a hang -----------------------------------------


async def test_a_post_that_was_not_recorded_is_an_error_naming_both(
    engine: LocalEngine, tmp_path: Path
) -> None:
    path = tmp_path / "echo.jsonl"
    async with new_session(engine, ECHO, record_to=path) as session:
        await turn(session, "hello there")
    cassette = Cassette.load(path)
    agent = cassette.agent()
    async with replay_engine(cassette, agent) as replay, new_session(replay, ECHO) as session:
        events = await turn(session, "something else")
        (error,) = [e for e in events if e.type == ET.ERROR]
        assert error.error is not None
        assert '"something else"' in error.error and '"hello there"' in error.error
        assert len(agent.mismatches) == 1
        assert "CassetteMismatch" in error.error
        # Still usable: the recorded post replays.
        events = await turn(session, "hello there")
        assert [e.text for e in events if e.is_complete] == ["hello there"]
        # A post beyond the recording.
        events = await turn(session, "hello there")
        (error,) = [e for e in events if e.type == ET.ERROR]
        assert error.error is not None and "replayed already" in error.error
    assert len(agent.mismatches) == 2
    with pytest.raises(AssertionError, match="something else"):
        agent.assert_done()


async def test_an_approval_answered_otherwise_is_an_error_naming_both(
    engine: LocalEngine, tmp_path: Path
) -> None:
    path = tmp_path / "approval.jsonl"
    await record_demo(engine, path)
    cassette = Cassette.load(path)
    agent = cassette.agent()
    async with replay_engine(cassette, agent) as replay, new_session(replay, DEMO) as session:
        events = await turn(session, "find the Q3 report", approve=False)
        errors = [e.error or "" for e in events if e.type == ET.ERROR]
        assert len(errors) == 1
        assert "approved with confirm {'priority': 'high'}" in errors[0]
        assert "denied ('No.')" in errors[0]
        assert events[-1].is_turn_end
        events = await turn(session, "reauth my drive")  # still usable
        assert any(e.type == ET.REAUTH_REQUEST for e in events)
    (mismatch,) = agent.mismatches
    assert "create_ticket" in str(mismatch)


# --- what is written -------------------------------------------------------------------------


async def test_the_redaction_hook_sees_every_frame_before_it_is_written(
    engine: LocalEngine, tmp_path: Path
) -> None:
    path = tmp_path / "redacted.jsonl"
    seen: set[str] = set()

    def redact(frame: dict[str, Any], direction: str) -> dict[str, Any]:
        seen.add(direction)
        result: dict[str, Any] = json.loads(json.dumps(frame).replace("Alice", "[name]"))
        return result

    async with new_session(engine, ECHO, record_to=Recorder(path, redact=redact)) as session:
        await turn(session, "my name is Alice")
    text = path.read_text(encoding="utf-8")
    assert "Alice" not in text and "[name]" in text
    assert seen == {"sent", "received"}
    (recorded,) = Cassette.load(path).turns
    assert recorded.text == "my name is [name]"


async def test_the_api_key_is_never_written(tmp_path: Path) -> None:
    path = tmp_path / "keyed.jsonl"
    keyed = LocalEngine(db=":memory:", api_keys=(KEY,))
    async with keyed, new_session(keyed, ECHO, api_key=KEY, record_to=path) as session:
        events = await turn(session, f"my key is {KEY}")
        assert KEY in "".join(e.delta or "" for e in events)
    text = path.read_text(encoding="utf-8")
    assert KEY not in text
    assert "[redacted]" in text
    assert "Authorization" not in text and "Bearer" not in text


async def test_a_resumed_session_is_a_recording_of_its_own(
    engine: LocalEngine, tmp_path: Path
) -> None:
    path = tmp_path / "resumed.jsonl"
    async with new_session(engine, ECHO, record_to=path) as session:
        await turn(session, "first")
    session_id = session.session_id
    assert session_id is not None
    resumed = AsyncSession(session_id=session_id, ws_url=engine.ws_url, record_to=path)
    async with resumed:
        await turn(resumed, "second")
    async with resumed:  # connecting again: a third recording
        await turn(resumed, "third")
    cassette = Cassette.load(path)
    first, second, third = cassette.recordings
    assert first.session_id == second.session_id == third.session_id == session_id
    header = json.loads(path.read_text(encoding="utf-8").splitlines()[second.line - 1])
    assert header["owner"] is None and header["session_id"] == session_id
    assert second.owner == first.owner  # told by the senders of its messages
    assert [t.text for t in cassette.turns] == ["first", "second", "third"]


async def test_a_recording_goes_on_through_a_recovery(tmp_path: Path) -> None:
    path = tmp_path / "recovered.jsonl"
    cutting = LocalEngine(db=":memory:")
    async with cutting, new_session(cutting, ECHO, record_to=path) as session:
        await turn(session, "before the cut")
        assert cutting.cut_connections() == 1
        async for event in session.listen():  # until the session says it recovered
            if event.data.get("source") == "client" and event.data.get("recovered"):
                break
        events = await turn(session, "after the cut")
        assert [e.text for e in events if e.is_complete] == ["after the cut"]
    cassette = Cassette.load(path)
    (recorded,) = cassette.recordings
    sent = [f.frame["type"] for f in recorded.frames if f.direction == "sent" and f.frame]
    assert sent.count("connect_session") == 2  # the rejoin is recorded, and is no turn
    assert [t.text for t in cassette.turns] == ["before the cut", "after the cut"]


async def test_sessions_recording_into_one_file_at_once_write_whole_lines(
    engine: LocalEngine, tmp_path: Path
) -> None:
    path = tmp_path / "shared.jsonl"
    texts = [f"session {i} says " + "word " * 50 for i in range(4)]

    async def one(text: str) -> None:
        async with new_session(engine, ECHO, record_to=path) as session:
            await turn(session, text)

    workers = [backend.spawn(one, text, name="recording-test") for text in texts]
    for worker in workers:
        await worker.join()
    cassette = Cassette.load(path)  # every line parses
    assert len(cassette.recordings) == 4
    assert sorted(t.text for t in cassette.turns) == sorted(texts)


async def test_a_path_is_open_only_while_connected_and_a_file_object_is_left_open(
    engine: LocalEngine, tmp_path: Path
) -> None:
    path = tmp_path / "open.jsonl"

    def is_open() -> bool:
        files = {os.path.realpath(f.path) for f in psutil.Process().open_files()}
        return os.path.realpath(path) in files

    session = new_session(engine, ECHO, record_to=str(path))
    assert not path.exists()  # nothing before connect()
    async with session:
        assert is_open()
        await turn(session, "hello")
    assert not is_open()

    stream = io.StringIO()
    async with new_session(engine, ECHO, record_to=stream) as session:
        await turn(session, "hello")
    assert not stream.closed
    (recorded,) = Cassette.loads(stream.getvalue()).turns
    assert recorded.text == "hello"


async def test_a_bad_record_to_fails_before_anything_is_sent(
    engine: LocalEngine, tmp_path: Path
) -> None:
    with pytest.raises(TypeError, match="record_to"):
        new_session(engine, ECHO, record_to=42)
    with pytest.raises(FileNotFoundError, match="directory does not exist"):
        new_session(engine, ECHO, record_to=tmp_path / "missing" / "c.jsonl")
    with pytest.raises(IsADirectoryError):
        new_session(engine, ECHO, record_to=tmp_path)
    with pytest.raises(TypeError, match="never record"):
        new_session(engine, ECHO, record_to=True)


async def test_concurrent_senders_are_recorded_in_the_order_they_were_sent(
    engine: LocalEngine, tmp_path: Path
) -> None:
    path = tmp_path / "concurrent.jsonl"
    texts = [[f"w{w:02d}-n{i:02d}" for i in range(4)] for w in range(16)]
    async with new_session(engine, ECHO, record_to=path) as session:
        listener = session.listen(maxsize=0)

        async def post_all(mine: list[str]) -> None:
            for text in mine:
                await session.send(text)

        workers = [backend.spawn(post_all, mine, name="recording-sender") for mine in texts]
        for worker in workers:
            await worker.join()
        complete = 0
        async for event in listener:  # every turn's answer is in (and recorded)
            complete += event.is_complete
            if complete == 64:
                break
        await listener.aclose()
        history = [m.text for m in await session.get_messages() if m.is_user]

    lines = read_lines(path)
    assert "cassette" in lines[0] and all("t" in line for line in lines[1:])
    in_time = sorted(lines[1:], key=lambda line: line["t"])  # as readers order them
    posts = [
        (i, line["frame"]["content"])
        for i, line in enumerate(in_time)
        if line["dir"] == "sent" and line["frame"]["type"] == "post_message"
    ]
    assert sorted(text for _, text in posts) == sorted(t for mine in texts for t in mine)
    # In the order the engine got them: its history keeps that order.
    assert [text for _, text in posts] == history
    for i, text in posts:  # and each before the first frame that echoes it
        first = next(
            j
            for j, line in enumerate(in_time)
            if line["dir"] == "received" and text in json.dumps(line["frame"])
        )
        assert first > i, (text, in_time[first])


async def test_record_to_false_opts_out_of_an_active_recording(
    engine: LocalEngine, tmp_path: Path
) -> None:
    path = tmp_path / "default.jsonl"
    with recording(path):
        quiet = new_session(engine, ECHO, record_to=False)
        recorded = new_session(engine, ECHO)
    async with quiet:
        await turn(quiet, "never written")
    async with recorded:
        await turn(recorded, "written down")
    assert "never written" not in path.read_text(encoding="utf-8")
    (header,) = headers(path)
    assert header["session_id"] is None and header["owner"]["object_id"] == ECHO
    sent = [line["frame"] for line in read_lines(path) if line.get("dir") == "sent"]
    assert {"written down"} == {f["content"] for f in sent if f["type"] == "post_message"}


async def test_a_session_from_an_agent_or_chatbot_handle_names_its_owner(
    engine: LocalEngine, tmp_path: Path
) -> None:
    path = tmp_path / "named.jsonl"
    async with AsyncClient(base_url=engine.base_url, ws_url=engine.ws_url) as client:
        agent = await client.agents.fetch(name="echo")
        chatbot = await client.chatbots.fetch(name="echo")
        with recording(path):
            created = await agent.create_session()
            result = await agent.run("one shot")
            await chatbot.run("one shot too")
        assert result.text == "one shot"
        async with created:
            await turn(created, "made by the handle")
        assert created.session_id is not None
        with recording(path):
            resumed = await agent.resume_session(created.session_id)
        async with resumed:
            await turn(resumed, "resumed")
    async with new_session(engine, ECHO, record_to=path) as session:  # no handle, no name
        await turn(session, "anonymous")

    named = {"object_type": "agent", "object_id": ECHO, "name": "echo"}
    bot = {"object_type": "chatbot", "object_id": chatbot.id, "name": "echo"}
    assert [header["owner"] for header in headers(path)] == [
        named,  # run()
        bot,
        named,  # create_session()
        named,  # resume_session()
        {"object_type": "agent", "object_id": ECHO},
    ]


async def test_a_short_key_is_never_replaced_and_frames_stay_whole(tmp_path: Path) -> None:
    path = tmp_path / "short-key.jsonl"
    keyed = LocalEngine(db=":memory:", api_keys=("type",))  # shorter than a real key can be
    async with keyed, new_session(keyed, ECHO, api_key="type", record_to=path) as session:
        await turn(session, "what type is this")
    lines = read_lines(path)
    frames = [line["frame"] for line in lines[1:]]
    assert all(isinstance(frame.get("type"), str) for frame in frames)
    assert "[redacted]" not in path.read_text(encoding="utf-8")
    deltas = "".join(f["value"] for f in frames if f["type"] == "message_delta")
    assert deltas == "what type is this"


async def test_a_cassette_is_ascii_whatever_the_file_encoding(
    engine: LocalEngine, tmp_path: Path
) -> None:
    path = tmp_path / "ascii.jsonl"
    text = "héllo wörld ☃ 🎉 “quoted”"
    with open(path, "w", encoding="ascii") as stream:
        recorder = Recorder(stream)
        async with new_session(engine, ECHO, record_to=recorder) as session:
            await turn(session, text)
    assert recorder.error is None
    raw = path.read_bytes()
    assert raw.isascii()
    lines = read_lines(path)[1:]
    frames = [line["frame"] for line in lines]
    (post,) = [
        x["frame"] for x in lines if x["dir"] == "sent" and x["frame"]["type"] == "post_message"
    ]
    assert post["content"] == text
    assert "".join(f["value"] for f in frames if f["type"] == "message_delta") == text


async def test_a_failing_redact_hook_stops_the_recording_and_is_kept(
    engine: LocalEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "buggy.jsonl"

    def buggy(frame: dict[str, Any], direction: str) -> dict[str, Any]:
        if direction == "sent" and frame.get("type") == "post_message":
            raise ValueError(f"cannot redact {frame['content']!r} with {KEY}")
        return frame

    recorder = Recorder(path, redact=buggy)
    with caplog.at_level(logging.ERROR, logger="vectorshift_sessions.cassette"):
        async with new_session(engine, ECHO, api_key=KEY, record_to=recorder) as session:
            events = await turn(session, "still answered")  # the session goes on
            assert [e.text for e in events if e.is_complete] == ["still answered"]
            events = await turn(session, "and again")
            assert [e.text for e in events if e.is_complete] == ["and again"]
    error = recorder.error
    assert isinstance(error, RuntimeError)  # its text held the key: said again without it
    assert str(error) == "ValueError: cannot redact 'still answered' with [redacted]"
    (record,) = [r for r in caplog.records if r.name == "vectorshift_sessions.cassette"]
    assert record.levelno == logging.ERROR
    assert "stopped recording" in record.getMessage() and "cannot redact" in record.getMessage()
    assert KEY not in caplog.text
    assert "and again" not in path.read_text(encoding="utf-8")  # it stopped at the first

    def wrong(frame: dict[str, Any], direction: str) -> dict[str, Any]:
        return None  # type: ignore[return-value]

    recorder = Recorder(tmp_path / "wrong.jsonl", redact=wrong)
    async with new_session(engine, ECHO, record_to=recorder) as session:
        await turn(session, "hello")
    assert isinstance(recorder.error, TypeError)
    assert "must return the frame" in str(recorder.error)


async def test_a_write_failing_stops_the_recording_and_is_kept(engine: LocalEngine) -> None:
    read_end, write_end = os.pipe()
    stream = os.fdopen(write_end, "w", encoding="utf-8")
    try:
        recorder = Recorder(stream)
        async with new_session(engine, ECHO, record_to=recorder) as session:
            await turn(session, "first")  # written into the pipe
            os.close(read_end)  # nobody reads it any more: the next write fails
            events = await turn(session, "second")
            assert [e.text for e in events if e.is_complete] == ["second"]
        assert isinstance(recorder.error, BrokenPipeError)
    finally:
        with contextlib.suppress(OSError):
            stream.close()
