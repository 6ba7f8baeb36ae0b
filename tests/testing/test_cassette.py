"""Cassettes: loading (and its errors, named by file and line), how recordings split into
turns, the writing side (``Recorder``, ``recording()``) under threads, and a replay of the
protocol's sample engine frames (tests/_frames.py) through a real engine and session.

The round trip (record a real session, replay it, same events) is in
tests/_async/test_recording.py and its blocking twin.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from tests import _frames as samples
from vectorshift_sessions import Session, SessionEvent, SessionEventType, TurnWatcher, _cassette
from vectorshift_sessions import _codec as codec
from vectorshift_sessions._cassette import Recorder, recording
from vectorshift_sessions.engine import AgentSpec, LocalEngine, Turn
from vectorshift_sessions.testing._cassette import (
    Cassette,
    CassetteError,
    CassetteMismatch,
    Owner,
)
from vectorshift_sessions.testing._mismatch import Mismatch

ET = SessionEventType
REC = "0000abcd"
OWNER = {"object_type": "agent", "object_id": "agent-1"}


def header(rec: str = REC, **fields: Any) -> str:
    return json.dumps(
        {
            "cassette": 1,
            "rec": rec,
            "package": "vectorshift-sessions",
            "version": "0.0.0",
            "owner": OWNER,
            "session_id": samples.SID,
            "started": "2026-01-01T00:00:00.000Z",
            **fields,
        }
    )


class Tape:
    """A cassette written by hand: one recording, a clock that ticks per frame."""

    def __init__(self, rec: str = REC, **header_fields: Any):
        self.rec = rec
        self.lines = [header(rec, **header_fields)]
        self.t = 0.0

    def add(self, direction: str, frame: dict[str, Any]) -> Tape:
        self.t += 0.01
        self.lines.append(
            json.dumps({"rec": self.rec, "t": round(self.t, 6), "dir": direction, "frame": frame})
        )
        return self

    def sent(self, frame: dict[str, Any]) -> Tape:
        return self.add("sent", frame)

    def received(self, *frames: dict[str, Any]) -> Tape:
        for frame in frames:
            self.add("received", frame)
        return self

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    def load(self) -> Cassette:
        return Cassette.loads(self.text(), name="tape.jsonl")


def post(text: str) -> dict[str, Any]:
    return {"type": "post_message", "session_id": samples.SID, "content": text}


def ack(success: bool = True, kind: str = "post_message") -> dict[str, Any]:
    error = None if success else "refused"
    return {"type": kind, "session_id": samples.SID, "success": success, "error": error}


def status(value: str) -> dict[str, Any]:
    return {"type": "participant_status", "session_id": samples.SID, "message": {"status": value}}


def complete(text: str, message_id: str = samples.MID) -> dict[str, Any]:
    frame = samples.notification({"type": "data_type_message", "value": text, "status": "Complete"})
    frame["message"]["id"] = message_id
    return frame


def delta(text: str, index: int = 0) -> dict[str, Any]:
    return {
        "type": "message_delta",
        "session_id": samples.SID,
        "message_id": samples.MID,
        "value": text,
        "index": index,
    }


HISTORY = {
    "type": "get_messages",
    "session_id": samples.SID,
    "messages": [samples.stored({"type": "data_type_message", "value": "hi"}, samples.USER)],
}


# --- the protocol's sample frames, replayed ----------------------------------------------------

#: Every kind of message the protocol describes, as tests/_frames.py writes it.
SAMPLE_CONTENTS: list[dict[str, Any]] = [
    {"type": "thinking", "content": "Let me think.", "summary": "Thinking"},
    {"type": "reasoning", "value": "Because."},
    {"type": "agent_task", "content": "Plan: look it up"},
    {"type": "tool_call", "tool_name": "lookup", "tool_id": "call_1", "status": "running"},
    {
        "type": "tool_result",
        "tool_name": "lookup",
        "tool_id": "call_1",
        "status": "completed",
        "output": {"found": 2},
    },
    {"type": "search_message", "query": "q3", "results": [{"title": "Q3"}]},
    {"type": "data_type_message", "value": "Hel", "status": "Streaming"},
    {"type": "reauthorization_request", "provider": "drive"},
    {"type": "error_message", "error": "a tool failed"},
    {"type": "something_new", "value": 42},
]
APPROVAL_CONTENT = {
    "type": "tool_call_approval",
    "tool_name": "send_email",
    "tool_id": "call_2",
    "fields": [{"name": "to"}],
}


def sample_tape() -> Tape:
    tape = Tape()
    tape.sent(samples.CLIENT_FRAMES["ping_session"]).received(
        {"type": "pong", "session_id": samples.SID}
    )
    tape.sent(samples.CLIENT_FRAMES["post_message"]).received(ack(), status("Processing"))
    tape.received(*(samples.notification(c) for c in SAMPLE_CONTENTS[:6]))
    tape.received(delta("Hel"), samples.notification(SAMPLE_CONTENTS[6]))
    tape.received(*(samples.notification(c) for c in SAMPLE_CONTENTS[7:]))
    tape.received(status("AwaitingApproval"), samples.notification(APPROVAL_CONTENT))
    tape.sent(samples.CLIENT_FRAMES["post_message approve"]).received(ack(), status("Processing"))
    tape.sent(samples.CLIENT_FRAMES["get_messages"]).received(HISTORY)
    tape.received(delta("Done"), complete("Done"), status("Idle"))
    return tape


def comparable(events: list[SessionEvent]) -> list[tuple[str, str]]:
    bookkeeping = (
        ET.PARTICIPANT_STATUS,
        ET.MESSAGE_POSTED,
        ET.SESSION_CREATED,
        ET.SESSION_CONNECTED,
    )
    kept = [e for e in events if e.type not in bookkeeping]
    return [
        (
            e.type.value,
            json.dumps({k: v for k, v in e.data.items() if k != "session_id"}, sort_keys=True),
        )
        for e in kept
    ]


def test_the_protocols_sample_frames_replay_through_a_real_session() -> None:
    tape = sample_tape()
    cassette = tape.load()
    (turn,) = cassette.turns
    assert turn.text == "hi" and turn.owner == Owner("agent", "agent-1")
    assert turn.approvals[0] is not None and dict(turn.approvals[0].confirm) == {"to": "a@b.c"}
    expected: list[SessionEvent] = []
    for item in turn.frames:
        assert item.frame is not None
        decoded = codec.decode_engine_frame(json.dumps(item.frame), samples.SID)
        if isinstance(decoded, SessionEvent):
            expected.append(decoded)

    agent = cassette.agent()
    with LocalEngine(db=":memory:", agents=[AgentSpec("one", agent, id="agent-1")]) as engine:
        session = Session(owner_type="agent", owner_id="agent-1", ws_url=engine.ws_url)
        with session:
            session.send("hi")
            watcher = TurnWatcher()
            for event in session.listen():
                if event.type == ET.APPROVAL_REQUEST:
                    session.respond(event, approved=True, confirm={"to": "a@b.c"})
                if watcher.feed(event):
                    break
    replayed = watcher.events
    assert comparable(replayed) == comparable(expected)
    statuses = [e.participant_status for e in replayed if e.participant_status]
    assert [s.value for s in statuses] == ["Processing", "AwaitingApproval", "Processing", "Idle"]
    agent.assert_done()


# --- loading: recordings, owners, turns --------------------------------------------------------


def test_turns_skip_answers_and_the_statuses_around_every_turn() -> None:
    tape = Tape().sent(post("one")).received(ack(), status("Processing"), status("Typing"))
    tape.received(delta("A"), complete("A"), status("Idle"))
    tape.sent(samples.CLIENT_FRAMES["get_messages"]).received(HISTORY)
    tape.received({"type": "mystery", "session_id": samples.SID})  # between turns: nothing
    cassette = tape.load()
    (recorded,) = cassette.recordings
    assert recorded.rec == REC and recorded.session_id == samples.SID
    assert recorded.owner == Owner("agent", "agent-1") and len(recorded.frames) == 10
    (turn,) = cassette.turns
    kinds = [f.frame["type"] if f.frame else None for f in turn.frames]
    assert kinds == ["participant_status", "message_delta", "message_notification"]
    assert turn.frames[0].frame == status("Typing")
    assert cassette.owners == (Owner("agent", "agent-1"),)


def test_a_post_sent_during_a_turn_waits_for_it_and_a_refused_post_is_no_turn() -> None:
    tape = Tape().sent(post("one")).received(ack(), status("Processing"), delta("A"))
    tape.sent(post("two")).received(ack(), complete("A", "m1"), status("Idle"))
    tape.received(status("Processing"), complete("B", "m2"), status("Idle"))
    tape.sent(post("three")).received(ack(success=False))
    tape.sent(post("four")).received(
        {"type": "error", "error": "nope", "request_type": "post_message"}
    )
    cassette = tape.load()
    one, two = cassette.turns
    assert (one.text, len(one.frames), two.text, len(two.frames)) == ("one", 2, "two", 1)


def test_an_engine_without_statuses_ends_a_turn_at_the_next_post() -> None:
    tape = Tape().sent(post("one")).received(ack(), complete("A", "m1"))
    tape.sent(post("two")).received(ack(), complete("B", "m2"))
    one, two = tape.load().turns
    assert [len(one.frames), len(two.frames)] == [1, 1]


def test_the_owner_and_session_of_a_resumed_recording_come_from_its_frames() -> None:
    tape = Tape(owner=None, session_id=None).sent(post("hi")).received(ack())
    tape.received({"type": "session_created", "session_id": "s-9"}, complete("A"))
    (recorded,) = tape.load().recordings
    assert recorded.owner == Owner("agent", "agent-1") and recorded.session_id == "s-9"


def test_a_received_text_that_is_no_json_is_kept_as_text() -> None:
    tape = Tape().sent(post("hi"))
    tape.lines.append(json.dumps({"rec": REC, "t": 1, "dir": "received", "text": "garbage{"}))
    (recorded,) = tape.load().recordings
    assert recorded.frames[-1].text == "garbage{" and recorded.frames[-1].frame is None


def test_posts_compare_by_what_they_hold_not_by_their_json() -> None:
    typed = {"type_string": "text/markdown", "value": "# hi"}
    tape = Tape().sent(
        {"type": "post_messages", "session_id": "s", "messages": [typed, samples.FILE_CONTENT]}
    )
    (turn,) = tape.load().turns
    assert turn.describe() == "\"# hi\" (text/markdown) + file 'hello.txt' (text/plain, 5 bytes)"


# --- loading errors: the file and the line -----------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "line", "message"),
    [
        ([header(), "{not json"], 2, "not valid JSON"),
        ([header(cassette=2, version="9.9")], 1, "newer vectorshift-sessions 9.9"),
        (
            [json.dumps({"rec": REC, "t": 0, "dir": "sent", "frame": post("x")})],
            1,
            "before its header",
        ),
        ([header(), "[1, 2]"], 2, "expected a JSON object"),
        ([header(), header()], 2, "a second header"),
        ([header(cassette="1")], 1, "format number"),
        ([header(rec=None)], 1, "'rec' is missing"),
        ([header(owner="agent-1")], 1, "'owner' must be an object"),
        (
            [header(), json.dumps({"rec": REC, "t": "soon", "dir": "sent", "frame": post("x")})],
            2,
            "'t'",
        ),
        ([header(), json.dumps({"rec": REC, "t": 0, "dir": "up", "frame": post("x")})], 2, "'dir'"),
        ([header(), json.dumps({"rec": REC, "t": 0, "dir": "sent"})], 2, "no 'frame'"),
        (
            [header(), json.dumps({"rec": REC, "t": 0, "dir": "sent", "frame": {"x": 1}})],
            2,
            "no 'type'",
        ),
        (
            [header(), json.dumps({"rec": REC, "t": 0, "dir": "sent", "frame": {"type": "nope"}})],
            2,
            "malformed client frame",
        ),
    ],
)
def test_a_bad_line_is_named_by_file_and_line(lines: list[str], line: int, message: str) -> None:
    with pytest.raises(CassetteError, match=message) as info:
        Cassette.loads("\n".join(lines), name="bad.jsonl")
    assert str(info.value).startswith(f"bad.jsonl, line {line}: ")
    assert (info.value.path, info.value.line) == ("bad.jsonl", line)
    assert isinstance(info.value, ValueError)


def test_a_malformed_engine_frame_in_a_turn_is_named_too(tmp_path: Path) -> None:
    tape = Tape().sent(post("hi")).received(ack(), {"type": "message_delta", "session_id": "s"})
    path = tmp_path / "broken.jsonl"
    path.write_text(tape.text(), encoding="utf-8")
    with pytest.raises(CassetteError, match=r"broken\.jsonl, line 4: a message_delta without"):
        Cassette.load(path)


def test_a_file_that_is_not_utf8_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(header().encode() + b"\n\xff\xfe\n")
    with pytest.raises(CassetteError, match="line 2: not UTF-8"):
        Cassette.load(path)
    assert Cassette.loads("").turns == ()  # an empty cassette is no error


# --- the replaying agent's options -------------------------------------------------------------


def test_speed_and_owner_are_checked() -> None:
    cassette = Tape().load()
    for bad in (-1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="speed"):
            cassette.agent(speed=bad)
    for wrong in ("fast", True):
        with pytest.raises(TypeError, match="speed"):
            cassette.agent(speed=wrong)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="owner"):
        cassette.agent(owner=5)  # type: ignore[arg-type]
    assert cassette.agent(speed=0).speed == 0 and cassette.agent(speed=2).speed == 2.0
    assert issubclass(CassetteMismatch, Mismatch)


def test_an_owner_keeps_only_its_turns() -> None:
    tape = Tape().sent(post("for one")).received(ack())
    other = Tape("0000ffff", owner={"object_type": "chatbot", "object_id": "bot-2"})
    other.sent(post("for two")).received(ack())
    cassette = Cassette.loads(tape.text() + other.text())
    assert cassette.owners == (Owner("agent", "agent-1"), Owner("chatbot", "bot-2"))
    assert [t.text for t in cassette.agent(owner="bot-2").turns] == ["for two"]
    assert [t.text for t in cassette.agent(owner=cassette.owners[0]).turns] == ["for one"]


# --- the writing side ------------------------------------------------------------------------


def test_threads_recording_into_one_file_write_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "threads.jsonl"
    shared = Recorder(path)
    big = "x" * 5000

    def work(n: int) -> None:
        recorder = shared if n % 2 else Recorder(str(path))  # one lock per file either way
        take = recorder.start(owner_type="agent", owner_id=f"agent-{n}")
        for i in range(100):
            take.sent(json.dumps(post(f"{n}-{i} {big}")))
            take.received([json.dumps(ack()), json.dumps(status("Idle"))])
        take.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cassette = Cassette.load(path)
    assert len(cassette.recordings) == 8
    assert all(len(r.frames) == 300 for r in cassette.recordings)
    assert len(cassette.turns) == 800


def test_a_file_object_shared_by_recorders_gets_whole_lines_and_stays_open() -> None:
    stream = io.StringIO()
    takes = [Recorder(stream).start() for _ in range(3)]
    threads = [
        threading.Thread(
            target=lambda t=take: [t.sent(json.dumps(post("y" * 3000))) for _ in range(50)]
        )
        for take in takes
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for take in takes:
        take.close()
        take.close()  # idempotent
        take.sent(json.dumps(post("after close")))  # ignored
    assert not stream.closed
    cassette = Cassette.loads(stream.getvalue())
    assert [len(r.frames) for r in cassette.recordings] == [50, 50, 50]


def test_the_key_is_scrubbed_from_every_line_however_json_writes_it() -> None:
    stream = io.StringIO()
    key = 'sk-"quoted"-ключ'
    take = Recorder(stream).start(secret=key)
    take.sent(json.dumps(post(f"my key: {key}")))
    take.received([json.dumps(post(f"again {key}"), ensure_ascii=True), f"raw {key}"])
    text = stream.getvalue()
    assert "quoted" not in text and "ключ" not in text
    assert text.count("[redacted]") == 3


def test_a_failing_redaction_stops_the_recording_with_an_error_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = io.StringIO()

    def redact(frame: dict[str, Any], direction: str) -> Any:
        return None if "bad" in json.dumps(frame) else frame

    take = Recorder(stream, redact=redact).start()
    take.sent(json.dumps(post("good")))
    with caplog.at_level(logging.ERROR, "vectorshift_sessions.cassette"):
        take.received([json.dumps(post("bad"))])  # never raises into the session
    assert take.closed
    assert "redact() must return the frame" in caplog.text
    take.sent(json.dumps(post("good again")))
    assert len(Cassette.loads(stream.getvalue()).recordings[0].frames) == 1


@pytest.mark.parametrize(
    ("target", "error", "message"),
    [
        (42, TypeError, "record_to must be a path"),
        (b"/tmp/x.jsonl", TypeError, "record_to must be a path"),
        (io.BytesIO(), TypeError, "text file"),
        (True, TypeError, "record_to"),
    ],
)
def test_a_wrong_target_is_refused(target: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        _cassette.as_recorder(target)


def test_closed_and_read_only_files_and_bad_hooks_are_refused(tmp_path: Path) -> None:
    closed = io.StringIO()
    closed.close()
    with pytest.raises(ValueError, match="closed"):
        Recorder(closed)
    (tmp_path / "r.txt").write_text("")
    with (
        open(tmp_path / "r.txt", encoding="utf-8") as read_only,
        pytest.raises(ValueError, match="not opened for writing"),
    ):
        Recorder(read_only)
    with pytest.raises(TypeError, match="redact"):
        Recorder(io.StringIO(), redact="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="redact"), recording(Recorder(io.StringIO()), redact=dict):
        pass


def test_recording_makes_sessions_of_any_thread_record(engine: LocalEngine, tmp_path: Path) -> None:
    outer, inner = tmp_path / "outer.jsonl", tmp_path / "inner.jsonl"

    def chat(text: str) -> None:
        session = Session(owner_type="agent", owner_id="agent-echo", ws_url=engine.ws_url)
        with session:
            session.ask(text)

    def in_thread(text: str) -> None:
        thread = threading.Thread(target=chat, args=(text,))
        thread.start()
        thread.join()

    with recording(outer) as recorder:
        assert recorder.path == outer and _cassette.default_recorder() is recorder
        in_thread("to outer")
        with recording(inner):
            in_thread("to inner")
        in_thread("to outer again")
    chat("to nowhere")
    assert _cassette.default_recorder() is None
    assert [t.text for t in Cassette.load(outer).turns] == ["to outer", "to outer again"]
    assert [t.text for t in Cassette.load(inner).turns] == ["to inner"]


# --- the Turn methods a replay is built on -----------------------------------------------------


async def custom(turn: Turn) -> None:
    message_id = "m-custom"
    await turn.delta(message_id, "par", 0)
    await turn.delta(message_id, "tial", 1)
    await turn.emit(
        {"type": "data_type_message", "value": "par", "status": "Streaming"}, message_id=message_id
    )
    await turn.emit(
        {"type": "data_type_message", "value": "partial", "status": "Complete"},
        message_id=message_id,
    )
    await turn.emit({"type": "my_widget", "size": 3})
    answer = await turn.request_approval(
        {"type": "tool_call_approval", "tool_name": "launch", "tool_id": "c9"}
    )
    await turn.say(f"approved={answer.approved} owner={turn.owner_type}:{turn.owner_id}")
    if "bad" in turn.text:
        await turn.emit({"no": "type"})


def test_emit_delta_and_request_approval_send_any_content() -> None:
    with LocalEngine(db=":memory:", agents={"custom": custom}) as engine:
        session = Session(owner_type="agent", owner_id="agent-custom", ws_url=engine.ws_url)
        with session:
            session.send("go, bad")
            watcher = TurnWatcher()
            for event in session.listen():
                if event.type == ET.APPROVAL_REQUEST:
                    assert event.data["tool_name"] == "launch"
                    session.respond(event, approved=True)
                if watcher.feed(event):
                    break
            history = session.get_messages()
    events = watcher.events
    assert [e.delta for e in events if e.delta] == [
        "par",
        "tial",
        "approved=True owner=agent:agent-custom",
    ]
    streaming = [e for e in events if e.type == ET.MESSAGE_STREAMING]
    assert streaming[0].message_id == "m-custom" and streaming[1].data["type"] == "my_widget"
    assert next(e.message_id for e in events if e.is_complete) == "m-custom"
    (error,) = [e.error for e in events if e.type == ET.ERROR]
    assert error is not None and "emit() takes a message content" in error
    stored = [m for m in history if m.id == "m-custom"]
    assert len(stored) == 1  # an id is stored once; later versions are only sent
