"""Cassettes written by hand, loaded: recordings, sessions and their turns (how a session's
recordings split into turns, what a reconnection's history tells), the errors that name the
file and the line, and the writing side (``Recorder``, ``recording()``) under threads.

Recorded for real (both flavours): test_cassette_sessions.py; replayed through a real engine:
test_cassette_replay.py; the round trip: tests/_async/test_recording.py. The helpers here
(``Tape`` and the frame builders) serve those files too.
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
from vectorshift_sessions import Session, _cassette
from vectorshift_sessions._cassette import Recorder, recording
from vectorshift_sessions.engine import LocalEngine
from vectorshift_sessions.engine._turn import ApprovalAnswer
from vectorshift_sessions.testing._cassette import Cassette, CassetteError, Owner, RecordedTurn
from vectorshift_sessions.testing._cassette._steps import Approval, Delta, Message, Raw, Status

REC = "0000abcd"
OWNER = {"object_type": "agent", "object_id": "agent-1"}
SID = samples.SID
RERECORD = "--vectorshift-record-mode=rewrite"


def header(rec: str = REC, **fields: Any) -> str:
    return json.dumps(
        {
            "cassette": 1,
            "rec": rec,
            "package": "vectorshift-sessions",
            "version": "0.0.0",
            "owner": OWNER,
            "session_id": SID,
            "started": "2026-01-01T00:00:00.000Z",
            **fields,
        }
    )


class Tape:
    """A cassette written by hand: one recording, a clock that ticks 10 ms per frame.

    ``started`` (seconds after 2026-01-01T00:00:00Z) places it among the session's other
    recordings; ``text()`` of several tapes, joined, is a cassette of several recordings.
    """

    def __init__(self, rec: str = REC, *, started: float = 0.0, **header_fields: Any):
        self.rec = rec
        stamp = f"2026-01-01T00:{int(started) // 60:02d}:{started % 60:06.3f}Z"
        self.lines = [header(rec, started=stamp, **header_fields)]
        self.t = 0.0

    def add(self, direction: str, frame: dict[str, Any]) -> Tape:
        self.t += 0.01
        self.lines.append(
            json.dumps({"rec": self.rec, "t": round(self.t, 6), "dir": direction, "frame": frame})
        )
        return self

    def sent(self, *frames: dict[str, Any]) -> Tape:
        for frame in frames:
            self.add("sent", frame)
        return self

    def received(self, *frames: dict[str, Any]) -> Tape:
        for frame in frames:
            self.add("received", frame)
        return self

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    def load(self) -> Cassette:
        return Cassette.loads(self.text(), name="tape.jsonl")


def load(*tapes: Tape) -> Cassette:
    return Cassette.loads("".join(tape.text() for tape in tapes), name="tape.jsonl")


# --- frames, as the client sends them and the engine answers ---------------------------------


def post(text: str, sid: str = SID) -> dict[str, Any]:
    return {"type": "post_message", "session_id": sid, "content": text}


def answer(parent: str, approved: bool = True, **confirm: Any) -> dict[str, Any]:
    decision = {"confirm": confirm} if approved else {"deny": "No."}
    content = {"type_string": "response_message", "value": {"tool_call_approval": decision}}
    return {
        "type": "post_message",
        "session_id": SID,
        "content": content,
        "parent_message_id": parent,
    }


def connect(sid: str = SID) -> dict[str, Any]:
    return {"type": "connect_session", "session_id": sid}


def get_messages(sid: str = SID) -> dict[str, Any]:
    return {"type": "get_messages", "session_id": sid}


def ack(success: bool = True, kind: str = "post_message") -> dict[str, Any]:
    error = None if success else "refused"
    return {"type": kind, "session_id": SID, "success": success, "error": error}


def connected(status: str | None = None, sid: str = SID) -> dict[str, Any]:
    frame = {"type": "connect_session", "session_id": sid, "success": True, "error": None}
    if status is not None:
        frame["participant_status"] = status
    return frame


def status(value: str) -> dict[str, Any]:
    return {"type": "participant_status", "session_id": SID, "message": {"status": value}}


def stored(message_id: str, content: dict[str, Any], sender: Any = None) -> dict[str, Any]:
    return {
        "id": message_id,
        "session_id": SID,
        "sender": sender or samples.AGENT,
        "content": content,
    }


def text_content(text: str, state: str = "Complete") -> dict[str, Any]:
    return {"type": "data_type_message", "value": text, "status": state}


def user(text: str, message_id: str) -> dict[str, Any]:
    return stored(message_id, text_content(text), samples.USER)


def notify(message: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message_notification", "session_id": SID, "message": message}


def complete(text: str, message_id: str = samples.MID) -> dict[str, Any]:
    return notify(stored(message_id, text_content(text)))


def request(message_id: str, tool: str = "refund") -> dict[str, Any]:
    content = {"type": "tool_call_approval", "tool_name": tool, "tool_id": "call_1"}
    return notify(stored(message_id, content))


def delta(text: str, index: int = 0, message_id: str = samples.MID) -> dict[str, Any]:
    return {
        "type": "message_delta",
        "session_id": SID,
        "message_id": message_id,
        "value": text,
        "index": index,
    }


def history(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"type": "get_messages", "session_id": SID, "messages": list(messages)}


HISTORY = history(stored("u-0", text_content("hi"), samples.USER))


def kinds(turn: RecordedTurn) -> list[str]:
    """The turn's replay steps, in short: ``delta A``, ``message A``, ``status Typing``..."""
    named = []
    for step in turn._steps:
        if isinstance(step, Approval):
            named.append(f"approval {step.tool_name}")
        elif isinstance(step, Message):
            content = step.content
            named.append(f"message {content.get('value', content['type'])}")
        elif isinstance(step, Delta):
            named.append(f"delta {step.text}")
        elif isinstance(step, Status):
            named.append(f"status {step.status}")
        else:
            assert isinstance(step, Raw)
            named.append(f"raw {step.frame['type']}")
    return named


# --- recordings, owners, turns -----------------------------------------------------------------


def test_turns_skip_answers_and_the_statuses_around_every_turn() -> None:
    tape = Tape().sent(post("one")).received(ack(), status("Processing"), status("Typing"))
    tape.received(delta("A"), complete("A"), status("Idle"))
    tape.sent(get_messages()).received(HISTORY)
    tape.received({"type": "mystery", "session_id": SID})  # between turns: nothing
    cassette = tape.load()
    (recorded,) = cassette.recordings
    assert recorded.rec == REC and recorded.session_id == SID and recorded.joined
    assert recorded.owner == Owner("agent", "agent-1") and len(recorded.frames) == 10
    (turn,) = cassette.turns
    assert [f.frame["type"] if f.frame else None for f in turn.frames] == [
        "participant_status",
        "message_delta",
        "message_notification",
    ]
    assert kinds(turn) == ["status Typing", "delta A", "message A"]
    assert cassette.owners == (Owner("agent", "agent-1"),)


def test_a_post_sent_during_a_turn_waits_for_it_and_a_refused_post_is_no_turn() -> None:
    tape = Tape().sent(post("one")).received(ack(), status("Processing"), delta("A"))
    tape.sent(post("two")).received(ack(), complete("A", "m1"), status("Idle"))
    tape.received(status("Processing"), complete("B", "m2"), status("Idle"))
    tape.sent(post("three")).received(ack(success=False))
    tape.sent(post("four")).received(
        {"type": "error", "error": "nope", "request_type": "post_message"}
    )
    one, two = tape.load().turns
    assert (one.text, kinds(one), two.text, kinds(two)) == (
        "one",
        ["delta A", "message A"],
        "two",
        ["message B"],
    )


def test_an_engine_without_statuses_ends_a_turn_at_the_next_post() -> None:
    tape = Tape().sent(post("one")).received(ack(), complete("A", "m1"))
    tape.sent(post("two")).received(ack(), complete("B", "m2"))
    one, two = tape.load().turns
    assert [kinds(one), kinds(two)] == [["message A"], ["message B"]]


def test_the_owner_and_session_of_a_resumed_recording_come_from_its_frames() -> None:
    tape = Tape(owner=None, session_id=None).sent(post("hi")).received(ack())
    tape.received({"type": "session_created", "session_id": "s-9"}, complete("A"))
    (recorded,) = tape.load().recordings
    assert recorded.owner == Owner("agent", "agent-1") and recorded.session_id == "s-9"


def test_the_owner_of_a_resume_comes_from_the_sessions_other_recordings() -> None:
    first = Tape("0000000a", session_id=None, owner={**OWNER, "name": "helper"})
    first.sent({"type": "create_session", **OWNER}).received(
        {"type": "session_created", "session_id": "s-7"}
    )
    first.sent(connect("s-7")).received(connected(sid="s-7"))
    resumed = Tape("0000000b", started=1, session_id="s-7", owner=None)
    resumed.sent(connect("s-7")).received(connected(sid="s-7"))
    cassette = load(first, resumed)
    assert [r.session_id for r in cassette.recordings] == ["s-7", "s-7"]
    assert [r.owner for r in cassette.recordings] == [Owner("agent", "agent-1")] * 2
    (owner,) = cassette.owners
    assert owner.name == "helper"  # the header's optional name
    assert owner == Owner("agent", "agent-1")  # owners are the same by type and id


def test_a_session_the_engine_refused_to_create_defines_no_owner() -> None:
    refused = Tape("0000000a", session_id=None, owner={"object_type": "agent", "object_id": "x"})
    refused.sent({"type": "create_session", "object_type": "agent", "object_id": "x"})
    refused.received({"type": "error", "error": "no agent x", "request_type": "create_session"})
    good = Tape("0000000b", started=1, session_id=None)
    good.sent({"type": "create_session", **OWNER})
    good.received({"type": "session_created", "session_id": "s-1"})
    cassette = load(refused, good)
    assert [r.joined for r in cassette.recordings] == [False, True]
    assert cassette.owners == (Owner("agent", "agent-1"),)


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


# --- what request_approval() shows itself, and the engine's own errors ------------------------


@pytest.mark.parametrize("awaiting_first", [True, False], ids=["awaiting-first", "request-first"])
def test_the_statuses_an_approval_shows_itself_are_no_steps(awaiting_first: bool) -> None:
    around = [status("AwaitingApproval"), request("m-ask")]
    tape = Tape().sent(post("refund me")).received(ack(), status("Processing"))
    tape.received(*(around if awaiting_first else around[::-1]))
    tape.sent(answer("m-ask")).received(ack(), status("Processing"), status("Typing"))
    tape.received(complete("Refunded", "m-done"), status("Idle"))
    (turn,) = tape.load().turns
    assert kinds(turn) == ["approval refund", "status Typing", "message Refunded"]
    assert turn.approvals == (ApprovalAnswer(True, {}),)


def test_the_engines_own_error_frames_in_a_turn_are_steps() -> None:
    overloaded = {"type": "error", "error": "model overloaded", "request_type": None}
    late = {"type": "error", "error": "tool failed", "request_type": "post_message"}
    tape = Tape().sent(post("hi")).received(ack(), status("Processing"), overloaded)
    busy = {"type": "error", "error": "busy", "request_type": "get_messages"}
    tape.sent(get_messages()).received(busy)
    tape.received(late, complete("sorry"), status("Idle"))
    (turn,) = tape.load().turns
    # The refused history request was answered to the client: no part of the turn.
    assert kinds(turn) == ["raw error", "raw error", "message sorry"]
    assert [s.frame["error"] for s in turn._steps if isinstance(s, Raw)] == [
        "model overloaded",
        "tool failed",
    ]


# --- a session's recordings, read as one ---------------------------------------------------


def test_a_turn_still_open_when_its_recording_ends_goes_on_in_the_next() -> None:
    first = Tape("0000000a").sent(post("long")).received(ack(), status("Processing"))
    first.received(delta("a", 0)).sent({"type": "disconnect_session", "session_id": SID})
    resumed = Tape("0000000b", started=5).sent(connect()).received(connected("Processing"))
    resumed.received(delta("b", 1), complete("ab"), status("Idle"))
    resumed.sent(post("next")).received(ack(), status("Processing"), complete("N", "m-2"))
    resumed.received(status("Idle"))
    one, two = load(first, resumed).turns
    assert kinds(one) == ["delta a", "delta b", "message ab"]
    assert kinds(two) == ["message N"]
    assert (one.rec, two.rec, one.session_id) == ("0000000a", "0000000b", SID)


def test_what_two_connections_both_received_is_taken_once() -> None:
    first = Tape("0000000a").sent(post("long")).received(ack(), status("Processing"))
    first.received(delta("a", 0), delta("b", 1))  # at 0.04 and 0.05; then it is gone
    other = Tape("0000000b", started=0.015).sent(connect()).received(connected("Processing"))
    # At 0.045 (b: the first got it too), then 0.055 (c: the first is gone), ...
    other.received(delta("b", 1), delta("c", 2), complete("abc"), status("Idle"))
    (turn,) = load(first, other).turns
    assert kinds(turn) == ["delta a", "delta b", "delta c", "message abc"]


def test_an_approval_answered_from_another_recording_is_recorded() -> None:
    asking = Tape("0000000a").sent(post("refund me")).received(ack(), status("Processing"))
    asking.received(status("AwaitingApproval"), request("m-ask"))
    asking.t = 0.1
    asking.received(status("Processing"), complete("Refunded", "m-done"), status("Idle"))
    answering = Tape("0000000b", started=0.05).sent(connect()).received(connected())
    answering.sent(answer("m-ask", approved=False)).received(ack())
    (turn,) = load(asking, answering).turns
    assert turn.approvals == (ApprovalAnswer(False, {}, "No."),)
    assert kinds(turn) == ["approval refund", "message Refunded"]


# --- reconnections: what the history tells ---------------------------------------------------


def test_a_post_lost_with_the_connection_is_no_turn() -> None:
    tape = Tape().sent(post("hi"))  # the connection drops before the ack
    tape.sent(connect(), get_messages()).received(connected("Idle"), history())
    tape.sent(post("hi")).received(ack(), status("Processing"), complete("hi", "m-1"))
    tape.received(status("Idle"))
    tape.sent(post("bye")).received(ack(), status("Processing"), complete("bye", "m-2"))
    tape.received(status("Idle"))
    one, two = tape.load().turns
    assert [one.line, one.text, two.text] == [7, "hi", "bye"]
    assert [kinds(one), kinds(two)] == [["message hi"], ["message bye"]]


def test_a_post_the_history_holds_is_a_turn_and_what_only_the_history_holds_is_in_it() -> None:
    tape = Tape().sent(post("hi")).received(ack(), status("Processing"), complete("hi", "m-0"))
    tape.received(status("Idle"))
    tape.sent(post("hi"))  # the same text again; the connection drops before the ack
    tool = stored("m-1", {"type": "tool_call", "tool_name": "lookup", "tool_id": "c1"})
    stored_before = [user("hi", "u-0"), stored("m-0", text_content("hi"))]
    tape.sent(connect(), get_messages()).received(connected("Processing"))
    tape.received(history(*stored_before, user("hi", "u-1"), tool))  # line 11
    tape.received(delta("done", 0, "m-2"), complete("done", "m-2"), status("Idle"))
    one, two = tape.load().turns
    assert (one.line, two.line) == (2, 7)
    assert kinds(two) == ["message tool_call", "delta done", "message done"]
    backfilled = two.frames[0]
    assert backfilled.frame is not None and backfilled.frame["message"] == tool
    assert backfilled.line == 11


def test_the_same_text_lost_is_told_from_the_same_text_stored_before() -> None:
    tape = Tape().sent(post("hi")).received(ack(), status("Processing"), complete("hi", "m-0"))
    tape.received(status("Idle"))
    tape.sent(post("hi"))  # lost: the history holds one "hi", the first one's
    tape.sent(connect(), get_messages()).received(connected())
    tape.received(history(user("hi", "u-0"), stored("m-0", text_content("hi"))))
    (turn,) = tape.load().turns
    assert turn.line == 2


def test_messages_missed_while_away_go_to_the_turns_they_belong_to() -> None:
    tape = Tape().sent(post("one")).received(ack(), status("Processing"), delta("1", 0, "m-1"))
    tape.sent(post("two")).received(ack())  # waits for "one"; then the connection drops
    tape.sent(connect(), get_messages()).received(connected("Processing"))
    tape.received(
        history(
            user("one", "u-1"),
            stored("m-1", text_content("1")),
            user("two", "u-2"),
            stored("m-2", {"type": "thinking", "content": "hmm"}),
        )
    )
    tape.received(delta("2", 0, "m-3"), complete("2", "m-3"), status("Idle"))
    one, two = tape.load().turns
    # "one" ended while away (the history shows "two" running): its complete message.
    assert kinds(one) == ["delta 1", "message 1"]
    assert kinds(two) == ["message thinking", "delta 2", "message 2"]


def test_an_approval_answer_lost_with_the_connection_is_forgotten() -> None:
    tape = Tape().sent(post("refund me")).received(ack(), status("Processing"))
    tape.received(status("AwaitingApproval"), request("m-ask"))
    tape.sent(answer("m-ask", approved=False))  # lost: no ack, and the history has no answer
    tape.sent(connect(), get_messages()).received(connected("AwaitingApproval"))
    tape.received(history(user("refund me", "u-1"), request("m-ask")["message"]))
    tape.sent(answer("m-ask", approved=True, amount=5)).received(ack(), status("Processing"))
    tape.received(complete("Refunded", "m-done"), status("Idle"))
    (turn,) = tape.load().turns
    assert turn.approvals == (ApprovalAnswer(True, {"amount": 5}),)
    assert kinds(turn) == ["approval refund", "message Refunded"]


# --- loading errors: the file and the line, and what to do -------------------------------------


@pytest.mark.parametrize(
    ("lines", "line", "message"),
    [
        ([header(), "{not json"], 2, "not valid JSON"),
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
        ([header(owner={**OWNER, "name": 5})], 1, "'name' is not a string"),
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
    assert "the cassette is corrupt: record it again" in str(info.value)
    assert RERECORD in str(info.value) and "record_to=" in str(info.value)


def test_a_cassette_from_a_newer_version_says_to_upgrade_not_to_record_again() -> None:
    with pytest.raises(CassetteError, match=r"newer vectorshift-sessions 9\.9") as info:
        Cassette.loads(header(cassette=2, version="9.9"), name="new.jsonl")
    assert "upgrade vectorshift-sessions" in str(info.value)
    assert "record it again" not in str(info.value)


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
