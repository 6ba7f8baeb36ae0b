"""Replaying cassettes through a real engine and real sessions: which recorded turn a live post
gets (several sessions at once, in order), the recording's redaction applied to what the code
sends, an approval left unanswered, the engine's own error frames, the statuses an approval
shows itself, the recorded messages' fields, and what every message says to do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests import _frames as samples
from tests.test_codec import _approval, _official_frames, needs_official
from vectorshift_sessions import Session, SessionEvent, SessionEventType, TurnWatcher
from vectorshift_sessions import _codec as codec
from vectorshift_sessions._cassette import Recorder
from vectorshift_sessions.engine import AgentSpec, LocalEngine, Turn
from vectorshift_sessions.testing._cassette import (
    Cassette,
    CassetteMismatch,
    Owner,
    ReplayAgent,
)
from vectorshift_sessions.testing._mismatch import Mismatch

from .test_cassette import (
    RERECORD,
    SID,
    Tape,
    ack,
    answer,
    complete,
    delta,
    get_messages,
    kinds,
    load,
    notify,
    post,
    request,
    status,
    stored,
    text_content,
)

ET = SessionEventType
DEMO, ECHO = "agent-demo", "agent-echo"
ASK = "find the Q3 report"


def options(**extra: Any) -> dict[str, Any]:
    return {"ping_interval": None, **extra}


def open_session(engine: LocalEngine, owner_id: str, **extra: Any) -> Session:
    return Session(owner_type="agent", owner_id=owner_id, ws_url=engine.ws_url, **options(**extra))


def replay_engine(cassette: Cassette, agent: ReplayAgent) -> LocalEngine:
    specs = [
        AgentSpec(o.object_id.removeprefix("agent-"), agent, id=o.object_id)
        for o in cassette.owners
    ]
    return LocalEngine(db=":memory:", agents=specs)


def run_turn(session: Session, text: str, **answer_with: Any) -> list[SessionEvent]:
    """Send ``text`` and read its turn to the end, answering approvals with ``answer_with``."""
    session.send(text)
    return read_turn(session.listen(), session, **answer_with)


def read_turn(
    listener: Iterator[SessionEvent], session: Session, **answer_with: Any
) -> list[SessionEvent]:
    watcher = TurnWatcher()
    for event in listener:
        if event.type == ET.APPROVAL_REQUEST and answer_with:
            session.respond(event, **answer_with)
        if watcher.feed(event):
            return watcher.events
    raise AssertionError(f"listen() ended before the turn did: {watcher.events}")


def errors(events: list[SessionEvent]) -> list[str]:
    return [event.error or "" for event in events if event.type == ET.ERROR]


def statuses(events: list[SessionEvent]) -> list[str]:
    return [str(e.data["status"]) for e in events if e.type == ET.PARTICIPANT_STATUS]


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
HISTORY = {
    "type": "get_messages",
    "session_id": SID,
    "messages": [samples.stored({"type": "data_type_message", "value": "hi"}, samples.USER)],
}


def sample_tape() -> Tape:
    tape = Tape()
    tape.sent(samples.CLIENT_FRAMES["ping_session"]).received({"type": "pong", "session_id": SID})
    tape.sent(samples.CLIENT_FRAMES["post_message"]).received(ack(), status("Processing"))
    tape.received(*(samples.notification(c) for c in SAMPLE_CONTENTS[:6]))
    tape.received(delta("Hel"), samples.notification(SAMPLE_CONTENTS[6]))
    tape.received(*(samples.notification(c) for c in SAMPLE_CONTENTS[7:]))
    tape.received(status("AwaitingApproval"), samples.notification(APPROVAL_CONTENT))
    tape.sent(samples.CLIENT_FRAMES["post_message approve"]).received(ack(), status("Processing"))
    tape.sent(get_messages()).received(HISTORY)
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
    cassette = sample_tape().load()
    (turn,) = cassette.turns
    assert turn.text == "hi" and turn.owner == Owner("agent", "agent-1")
    assert turn.approvals[0] is not None and dict(turn.approvals[0].confirm) == {"to": "a@b.c"}
    expected: list[SessionEvent] = []
    for item in turn.frames:
        assert item.frame is not None
        decoded = codec.decode_engine_frame(json.dumps(item.frame), SID)
        if isinstance(decoded, SessionEvent):
            expected.append(decoded)

    agent = cassette.agent()
    agents = [AgentSpec("one", agent, id="agent-1")]
    with LocalEngine(db=":memory:", agents=agents) as engine, open_session(engine, "agent-1") as s:
        replayed = run_turn(s, "hi", approved=True, confirm={"to": "a@b.c"})
    assert comparable(replayed) == comparable(expected)
    assert statuses(replayed) == ["Processing", "AwaitingApproval", "Processing", "Idle"]
    agent.assert_done()


# --- the agent's options -------------------------------------------------------------------


def test_the_agents_options_are_checked() -> None:
    cassette = Tape().load()
    for bad in (-1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="speed"):
            cassette.agent(speed=bad)
    for wrong in ("fast", True):
        with pytest.raises(TypeError, match="speed"):
            cassette.agent(speed=wrong)  # type: ignore[arg-type]
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="approval_timeout"):
            cassette.agent(approval_timeout=bad)
    with pytest.raises(TypeError, match="approval_timeout"):
        cassette.agent(approval_timeout="soon")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="owner"):
        cassette.agent(owner=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="redact"):
        cassette.agent(redact="yes")  # type: ignore[arg-type]
    agent = cassette.agent(speed=2, approval_timeout=None)
    assert (agent.speed, agent.approval_timeout, cassette.agent().approval_timeout) == (
        2.0,
        None,
        10.0,
    )
    assert cassette.agent(speed=0).speed == 0
    assert issubclass(CassetteMismatch, Mismatch)


def test_an_owner_keeps_only_its_turns() -> None:
    tape = Tape().sent(post("for one")).received(ack())
    other = Tape(
        "0000ffff",
        started=1,
        session_id="s-2",
        owner={"object_type": "chatbot", "object_id": "bot-2"},
    )
    other.sent(post("for two", "s-2")).received(ack())
    cassette = load(tape, other)
    assert cassette.owners == (Owner("agent", "agent-1"), Owner("chatbot", "bot-2"))
    assert [t.text for t in cassette.agent(owner="bot-2").turns] == ["for two"]
    assert [t.text for t in cassette.agent(owner=cassette.owners[0]).turns] == ["for one"]


# --- several sessions at once, each its own recorded session, in order --------------------


def numbering() -> Any:
    """An agent that numbers its answers across every session: "hi #1", "hi #2", ..."""
    count = 0

    async def agent(turn: Turn) -> None:
        nonlocal count
        count += 1
        await turn.say(f"{turn.text} #{count}")

    return agent


def answer_of(session: Session, text: str) -> str | None:
    events = run_turn(session, text)
    texts = [e.text for e in events if e.is_complete]
    return texts[-1] if texts else None


def test_each_live_session_replays_one_recorded_session(tmp_path: Any) -> None:
    path = tmp_path / "two.jsonl"
    with (
        LocalEngine(db=":memory:", agents={"count": numbering()}) as engine,
        open_session(engine, "agent-count", record_to=path) as one,
        open_session(engine, "agent-count", record_to=path) as two,
    ):
        assert [answer_of(one, "hi"), answer_of(two, "hi")] == ["hi #1", "hi #2"]
        assert [answer_of(one, "more"), answer_of(two, "more")] == ["more #3", "more #4"]
        recorded = [one.session_id, two.session_id]
    cassette = Cassette.load(path)
    assert [t.session_id for t in cassette.turns] == [*recorded, *recorded]
    agent = cassette.agent()
    with (
        replay_engine(cassette, agent) as engine,
        open_session(engine, "agent-count") as first,
        open_session(engine, "agent-count") as second,
    ):
        # The second asks first: it replays the first recorded session, and keeps to it.
        assert answer_of(second, "hi") == "hi #1"
        assert answer_of(first, "hi") == "hi #2"
        assert answer_of(first, "more") == "more #4"
        assert answer_of(second, "more") == "more #3"
        agent.assert_done()
        (error,) = errors(run_turn(first, "more"))
        assert f"in session {first.session_id} is one too many" in error
        assert f"recorded session {recorded[1]}" in error and RERECORD in error
        with open_session(engine, "agent-count") as third:
            (error,) = errors(run_turn(third, "hi"))
        assert "is being replayed by another session" in error
    assert len(agent.mismatches) == 2


def test_a_session_takes_its_turns_in_order_and_a_skipped_one_is_never_replayed(
    engine: LocalEngine, tmp_path: Any
) -> None:
    path = tmp_path / "abc.jsonl"
    with open_session(engine, ECHO, record_to=path) as session:
        for text in ("a", "b", "c"):
            answer_of(session, text)
    cassette = Cassette.load(path)
    agent = cassette.agent()
    with replay_engine(cassette, agent) as replay, open_session(replay, ECHO) as session:
        assert [answer_of(session, "a"), answer_of(session, "c")] == ["a", "c"]
        (error,) = errors(run_turn(session, "b"))  # already behind
        assert '"b" in session' in error and "one too many" in error
    with pytest.raises(CassetteMismatch, match="never replayed") as info:
        agent.assert_done()
    assert 'never replayed: "b" (line ' in str(info.value)
    assert str(info.value).count(RERECORD) == 2  # the mismatch's, and the list's


# --- the recording's redaction, applied to what the code sends ----------------------------


def hide(frame: dict[str, Any], direction: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(frame).replace("Alice", "[name]"))
    return result


def test_a_redacted_cassette_replays_with_the_same_redaction(
    engine: LocalEngine, tmp_path: Any
) -> None:
    path = tmp_path / "redacted.jsonl"
    recorder = Recorder(path, redact=hide)
    with open_session(engine, ECHO, record_to=recorder) as session:
        answer_of(session, "I am Alice")
    with open_session(engine, DEMO, record_to=recorder) as session:
        run_turn(session, ASK, approved=True, confirm={"priority": "Alice's"})
    cassette = Cassette.load(path)
    assert "Alice" not in path.read_text(encoding="utf-8")
    assert cassette.turns[1].approvals[0] is not None
    assert cassette.turns[1].approvals[0].confirm == {"priority": "[name]'s"}

    agent = cassette.agent(redact=hide)
    with replay_engine(cassette, agent) as replay:
        with open_session(replay, ECHO) as session:
            assert answer_of(session, "I am Alice") == "I am [name]"  # as recorded
        with open_session(replay, DEMO) as session:
            assert (
                errors(run_turn(session, ASK, approved=True, confirm={"priority": "Alice's"})) == []
            )
    agent.assert_done()

    plain = cassette.agent()
    with replay_engine(cassette, plain) as replay:
        with open_session(replay, ECHO) as session:
            (error,) = errors(run_turn(session, "I am Alice"))
            assert '"I am Alice"' in error and '"I am [name]"' in error
        with open_session(replay, DEMO) as session:
            (error,) = errors(
                run_turn(session, ASK, approved=True, confirm={"priority": "Alice's"})
            )
            assert "recorded approved with confirm {'priority': \"[name]'s\"}" in error


# --- an approval left unanswered ----------------------------------------------------------


def test_a_post_instead_of_the_recorded_approval_answer_fails_in_time(
    engine: LocalEngine, tmp_path: Any
) -> None:
    path = tmp_path / "approval.jsonl"
    with open_session(engine, DEMO, record_to=path) as session:
        run_turn(session, ASK, approved=True, confirm={"priority": "high"})
    cassette = Cassette.load(path)
    (turn,) = cassette.turns
    agent = cassette.agent(approval_timeout=0.5)
    with replay_engine(cassette, agent) as replay, open_session(replay, DEMO) as session:
        listener = session.listen()
        session.send(ASK)
        watcher = TurnWatcher()
        for event in listener:
            if event.type == ET.APPROVAL_REQUEST:
                session.send("never mind")  # queued behind the turn that waits
            if watcher.feed(event):
                break
        (error,) = errors(watcher.events)
        assert "the recording answered the approval of 'create_ticket' (line " in error
        assert "with approved with confirm {'priority': 'high'} (line " in error
        assert "nothing answered it within 0.5 s" in error and RERECORD in error
        assert watcher.events[-1].is_turn_end
        queued = read_turn(listener, session)  # then the post that waited has its turn
        (error,) = errors(queued)
        assert '"never mind"' in error
    assert len(agent.mismatches) == 2
    assert turn.approvals[0] is not None


# --- what the engine sent, as it sent it ----------------------------------------------------


def replay_tape(
    tape: Tape, text: str, **answer_with: Any
) -> tuple[list[SessionEvent], list[dict[str, Any]], str]:
    """Replay ``text``'s turn of a hand-made tape: the events, the agent's messages in the
    history, and the live session's id."""
    cassette = tape.load()
    agent = cassette.agent()
    agents = [AgentSpec("one", agent, id="agent-1")]
    with (
        LocalEngine(db=":memory:", agents=agents) as engine,
        open_session(engine, "agent-1") as session,
    ):
        events = run_turn(session, text, **answer_with)
        kept = [m.raw for m in session.get_messages() if m.is_agent]
        session_id = session.session_id or ""
    agent.assert_done()
    return events, kept, session_id


def test_the_engines_own_error_frames_are_replayed_in_their_place() -> None:
    overloaded = {"type": "error", "error": "model overloaded; retrying", "request_type": None}
    tape = Tape().sent(post("hi")).received(ack(), status("Processing"), overloaded)
    tape.received(delta("Sorry"), complete("Sorry"), status("Idle"))
    assert kinds(tape.load().turns[0]) == ["raw error", "delta Sorry", "message Sorry"]
    events, _, _ = replay_tape(tape, "hi")
    seen = [e.type for e in events if e.type != ET.PARTICIPANT_STATUS]
    assert seen[-3:] == [ET.ERROR, ET.MESSAGE_DELTA, ET.MESSAGE_COMPLETE]
    assert errors(events) == ["model overloaded; retrying"]


def test_an_approvals_statuses_are_shown_once_whatever_order_they_were_recorded_in() -> None:
    tape = Tape().sent(post("refund me")).received(ack(), status("Processing"))
    tape.received(request("m-ask"), status("AwaitingApproval"))  # the request first
    tape.sent(answer("m-ask")).received(ack(), status("Processing"))
    tape.received(complete("Refunded", "m-done"), status("Idle"))
    events, _, _ = replay_tape(tape, "refund me", approved=True)
    assert statuses(events) == ["Processing", "AwaitingApproval", "Processing", "Idle"]


def test_replayed_messages_keep_their_content_sender_and_fields() -> None:
    content = {
        "type": "data_type_message",
        "value": "Grüße 👋",
        "status": "Complete",
        "annotations": [{"start": 0, "end": 5, "kind": "greeting"}],
    }
    sender = {**samples.AGENT, "name": "Helper"}
    streaming = stored("m-1", text_content("Grü", "Streaming"), sender)
    complete_one = {**stored("m-1", content, sender), "created_at": "2026-01-01T00:00:01Z"}
    widget = {**stored("m-2", {"type": "widget", "data": {"x": [1, None]}}), "extra": [1]}
    tape = Tape().sent(post("hi")).received(ack(), status("Processing"))
    tape.received(notify(streaming), notify(complete_one), notify(widget), status("Idle"))
    events, kept, session_id = replay_tape(tape, "hi")
    (done,) = [e for e in events if e.is_complete]
    assert done.text == "Grüße 👋"
    first, second = kept  # m-1 is stored once (its first version), as the engine does
    assert first["content"] == streaming["content"] and first["sender"] == sender
    assert first["id"] == done.message_id and first["id"] != "m-1"
    assert second["content"] == widget["content"] and second["extra"] == [1]
    assert second["sender"] == samples.AGENT
    assert {first["session_id"], second["session_id"]} == {session_id}
    versions = [e for e in events if e.message_id == first["id"]]
    assert [e.data.get("text") for e in versions] == ["Grü", "Grüße 👋"]


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
    with (
        LocalEngine(db=":memory:", agents={"custom": custom}) as engine,
        open_session(engine, "agent-custom") as session,
    ):
        events = run_turn(session, "go, bad", approved=True)
        history = session.get_messages()
    assert [e.delta for e in events if e.delta] == [
        "par",
        "tial",
        "approved=True owner=agent:agent-custom",
    ]
    streaming = [e for e in events if e.type == ET.MESSAGE_STREAMING]
    assert streaming[0].message_id == "m-custom" and streaming[1].data["type"] == "my_widget"
    assert next(e.message_id for e in events if e.is_complete) == "m-custom"
    (error,) = errors(events)
    assert "emit() takes a message content" in error
    stored_once = [m for m in history if m.id == "m-custom"]
    assert len(stored_once) == 1  # an id is stored once; later versions are only sent


@needs_official
def test_a_cassette_of_the_official_clients_frames_replays_through_ours() -> None:
    """The frames the official client sends (captured at its socket by tests/test_codec.py),
    answered by the protocol's sample engine frames: our session posting the same content
    meets the recorded turns, however each client encodes it."""
    (post,) = _official_frames(lambda s: s.send("hi"))
    (approve,) = _official_frames(
        lambda s: s.respond_approval(_approval(), approved=True, confirm={"to": "a@b.c"})
    )
    tape = Tape()
    tape.sent(post).received(ack(), status("Processing"))
    tape.received(delta("Hel"), samples.notification(SAMPLE_CONTENTS[6]))
    tape.received(status("AwaitingApproval"), samples.notification(APPROVAL_CONTENT))
    tape.sent(approve).received(ack(), status("Processing"))
    tape.received(delta("Done"), complete("Done"), status("Idle"))
    cassette = tape.load()
    agent = cassette.agent()
    agents = [AgentSpec("one", agent, id="agent-1")]
    with LocalEngine(db=":memory:", agents=agents) as engine, open_session(engine, "agent-1") as s:
        events = run_turn(s, "hi", approved=True, confirm={"to": "a@b.c"})
    assert [e.type for e in events if e.type == ET.APPROVAL_REQUEST] == [ET.APPROVAL_REQUEST]
    assert [e.text for e in events if e.is_complete][-1] == "Done"
    agent.assert_done()
