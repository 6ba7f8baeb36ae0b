"""The session core without sockets: frames in, answers and events out, recovery decisions.

The stateful machine plays an engine that runs turns while the connection drops and comes back
(with or without the connect ack's ``participant_status`` extension); whatever the interleaving,
a listener sees every complete message exactly once and every turn's end.
"""

from __future__ import annotations

import json
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from vectorshift_sessions import _codec as codec
from vectorshift_sessions._core import (
    Beat,
    Requests,
    SessionCore,
    State,
    last_turn,
    turn_ended_in,
)
from vectorshift_sessions._errors import SessionError, SessionNotFoundError
from vectorshift_sessions._eventlog import Cursor
from vectorshift_sessions._types import SessionEvent, SessionEventType
from vectorshift_sessions.engine import _frames

ET = SessionEventType
SID = "s1"
AGENT = _frames.object_sender("agent-echo", "agent")
USER = _frames.user_sender("u")


def text(frame: dict[str, Any]) -> str:
    return json.dumps(frame)


class Answered:
    def __init__(self) -> None:
        self.values: list[Any] = []

    def resolve(self, value: Any) -> None:
        self.values.append(value)


def drain(core: SessionCore, cursor: Cursor) -> list[SessionEvent]:
    out: list[SessionEvent] = []
    while core.log.refill(cursor):
        out.extend(cursor.batch)
        cursor.taken = len(cursor.batch)
    return out


def listening(core: SessionCore) -> Cursor:
    cursor = Cursor()
    core.log.subscribe(cursor)
    return cursor


def stored(message_id: str, content: dict[str, Any], sender: dict[str, Any] = AGENT) -> Any:
    return _frames.stored_message(message_id, SID, sender, content)


# --- frames in, answers and events out ------------------------------------------------------


def test_a_batch_of_mixed_frames_keeps_its_order() -> None:
    core = SessionCore(SID, 100)
    cursor = listening(core)
    answered = Answered()
    core.requests.expect("post_message", answered)
    core.receive(
        [
            text(_frames.post_ack("post_message", SID)),
            text(_frames.message_delta(SID, "m1", "a", 0)),
            "[]",  # malformed: dropped, the rest goes on
            text(_frames.participant_status(SID, "Processing")),
            text(_frames.message_delta(SID, "m1", "b", 1)),
        ]
    )
    kinds = [e.type for e in drain(core, cursor)]
    assert kinds == [ET.MESSAGE_POSTED, ET.MESSAGE_DELTA, ET.PARTICIPANT_STATUS, ET.MESSAGE_DELTA]
    assert answered.values and core.frames_received == 5


def test_deltas_and_notifications_are_published_in_order() -> None:
    core = SessionCore(SID, 100)
    cursor = listening(core)
    core.receive([text(_frames.participant_status(SID, "Processing"))])
    core.receive([text(_frames.message_delta(SID, "m1", "hel", 0))])
    core.receive([text(_frames.message_notification(stored("m1", _frames.text_content("hel"))))])
    kinds = [e.type for e in drain(core, cursor)]
    assert kinds == [ET.PARTICIPANT_STATUS, ET.MESSAGE_DELTA, ET.MESSAGE_COMPLETE]


def test_answers_go_to_who_asked_in_order_and_history_is_never_published() -> None:
    core = SessionCore(SID, 100)
    cursor = listening(core)
    first, second, history = Answered(), Answered(), Answered()
    core.requests.expect("post_message", first)
    core.requests.expect("post_message", second)
    core.requests.expect("get_messages", history)
    core.receive([text(_frames.post_ack("post_message", SID))])
    core.receive([text(_frames.post_ack("post_message", SID, False, "no"))])
    core.receive([text(_frames.history(SID, [stored("m1", _frames.text_content("x"))]))])
    assert first.values[0].error is None and second.values[0].error == "no"
    assert [m.id for m in history.values[0].messages] == ["m1"]
    assert [e.type for e in drain(core, cursor)] == [ET.MESSAGE_POSTED, ET.ERROR]


def test_our_heartbeat_pongs_reach_only_those_listening_then() -> None:
    core = SessionCore(SID, 100)
    core.requests.expect("ping_session", Answered())
    core.receive([text(_frames.pong(SID))])  # nobody listening: not kept for later
    assert core.log.end == 0
    cursor = listening(core)
    core.requests.expect("ping_session", Answered())
    core.receive([text(_frames.pong(SID))])
    assert [e.type for e in drain(core, cursor)] == [ET.PONG]
    assert [e.type for e in drain(core, listening(core))] == []  # never older than a listener


def test_a_malformed_frame_is_dropped_and_the_core_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    core = SessionCore(SID, 100)
    cursor = listening(core)
    core.receive(["{not json"])
    core.receive([text(_frames.participant_status(SID, "Idle"))])
    assert [e.type for e in drain(core, cursor)] == [ET.PARTICIPANT_STATUS]
    assert "malformed" in caplog.text


def test_the_heartbeat_pings_once_at_a_time_and_notices_silence() -> None:
    core = SessionCore(SID, 100)
    assert core.heartbeat(0.0, 20.0) is Beat.REST  # not connected yet
    core.state = State.CONNECTED
    assert core.heartbeat(5.0, 20.0) is Beat.PING
    assert core.heartbeat(10.0, 20.0) is Beat.REST  # that ping is still out
    core.receive([text(_frames.pong(SID))])
    assert core.heartbeat(15.0, 20.0) is Beat.PING  # heard at 15
    assert core.heartbeat(30.0, 20.0) is Beat.REST
    assert core.heartbeat(35.5, 20.0) is Beat.DEAD  # nothing since 15
    assert core.heartbeat(99.0, None) is Beat.REST  # no limit: silence proves nothing
    core.state = State.RECONNECTING
    assert core.heartbeat(100.0, 20.0) is Beat.REST


def test_requests_fail_all_and_forget() -> None:
    requests = Requests()
    kept, withdrawn = Answered(), Answered()
    requests.expect("get_messages", withdrawn)
    requests.expect("get_messages", kept)
    requests.forget("get_messages", withdrawn)
    error = RuntimeError("gone")
    requests.fail_all(error)
    assert kept.values == [error] and withdrawn.values == []
    assert not requests.waiting("get_messages")


# --- what the history says about a turn -----------------------------------------------------


@pytest.mark.parametrize(
    ("contents", "ended"),
    [
        ([], False),
        ([_frames.thinking_content("hmm")], False),
        ([_frames.text_content("par", "Streaming")], False),
        ([_frames.text_content("done")], True),
        ([_frames.text_content("done"), _frames.text_content("more", "Streaming")], False),
        ([_frames.error_content("boom")], True),
        ([_frames.reauth_content("drive")], True),
        ([_frames.text_content("done"), _frames.approval_request_content("t", "c1")], False),
    ],
)
def test_turn_ended_in_history(contents: list[dict[str, Any]], ended: bool) -> None:
    messages = [stored("old", _frames.text_content("earlier turn"))]
    messages.append(stored("u1", _frames.text_content("hi"), USER))
    messages += [stored(f"m{i}", c) for i, c in enumerate(contents)]
    history = codec.decode_engine_frame(text(_frames.history(SID, messages)))
    assert isinstance(history, codec.Answer) and history.messages is not None
    assert turn_ended_in(history.messages) is ended


# --- recovery -------------------------------------------------------------------------------


def rejoin(
    core: SessionCore,
    status: str | None,
    messages: list[Any],
    *,
    held: tuple[str, ...] = (),
    heartbeat: bool = False,
    paging: bool = False,
) -> int:
    frames = core.start_rejoin()
    assert [f.TYPE for f in frames] == ["connect_session", "get_messages"]
    ack = _frames.connect_ack(SID, participant_status=status, history_after=paging)
    core.receive([text(ack)])
    for frame in held:
        core.receive([frame])
    core.receive([text(_frames.history(SID, messages))])
    assert core.rejoin_done and core.rejoin_error is None
    return core.finish_rejoin(heartbeat=heartbeat)


def asked_after(core: SessionCore) -> str | None:
    """The ``after`` of the history a rejoin asks for now (the rejoin is abandoned)."""
    (history,) = [f for f in core.start_rejoin() if isinstance(f, codec.GetMessages)]
    core.abandon_rejoin()
    return history.after


def connected(core: SessionCore, *, paging: bool, status: str | None = "Idle") -> None:
    ack = _frames.connect_ack(SID, participant_status=status, history_after=paging)
    answer = codec.decode_engine_frame(text(ack))
    assert isinstance(answer, codec.Answer)
    core.connected(answer)
    core.state = State.CONNECTED


def turn_messages(n: int) -> list[Any]:
    return [
        stored(f"u{n}", _frames.text_content("hi"), USER),
        stored(f"m{n}", _frames.text_content(f"a{n}")),
    ]


def answer_live(core: SessionCore, n: int) -> None:
    """Turn ``n``'s answer, delivered live (its user message is stored, never notified)."""
    core.receive([text(_frames.message_notification(turn_messages(n)[1]))])


def test_a_part_of_the_history_goes_on_the_turn_that_was_running() -> None:
    part = codec.decode_engine_frame(
        text(_frames.history(SID, [stored("m2", _frames.text_content("more"))]))
    )
    assert isinstance(part, codec.Answer) and part.messages is not None
    assert last_turn(part.messages) is None
    assert [m.id for m in last_turn(part.messages, continues=True) or ()] == ["m2"]
    assert last_turn([], continues=True) == []


def test_a_paging_engine_is_asked_only_for_what_was_stored_after_the_last_read() -> None:
    core = SessionCore(SID, 100)
    cursor = listening(core)
    connected(core, paging=True)
    answer_live(core, 1)
    core.connection_lost(None, recover=True)
    assert asked_after(core) is None  # nothing read yet: the whole history
    rejoin(core, "Idle", turn_messages(1), paging=True)
    answer_live(core, 2)
    core.connection_lost(None, recover=True)
    assert asked_after(core) == "m1"
    # Turn 3 ran while away: only the part after m1 comes, and m3 is delivered once.
    assert rejoin(core, "Idle", turn_messages(2) + turn_messages(3), paging=True) == 1
    core.connection_lost(None, recover=True)
    assert asked_after(core) == "m3"
    completes = [e.message_id for e in drain(core, cursor) if e.is_complete]
    assert completes == ["m1", "m2", "m3"]


@pytest.mark.parametrize(
    ("paging", "status"), [(False, "Idle"), (True, None)], ids=["not-offered", "no-status"]
)
def test_without_both_extensions_the_whole_history_is_asked(
    paging: bool, status: str | None
) -> None:
    """Paging needs the offer, and the ack's status: a part of the history cannot show the
    end of a turn that ended before it."""
    core = SessionCore(SID, 100)
    connected(core, paging=paging, status=status)
    for n in range(1, 4):
        answer_live(core, n)
        core.connection_lost(None, recover=True)
        assert asked_after(core) is None
        rejoin(core, status, [m for k in range(1, n + 1) for m in turn_messages(k)], paging=paging)


def test_an_engine_that_answers_all_despite_after_is_read_from_the_cursor_on() -> None:
    """The ids of what was read long ago are forgotten; a whole history (an engine that
    ignored ``after``) is read from the cursor, so nothing before it comes again."""
    core = SessionCore(SID, 100)
    cursor = listening(core)
    connected(core, paging=True)
    everything: list[Any] = []
    for n in range(1, 5):
        everything += turn_messages(n)
        answer_live(core, n)
        core.connection_lost(None, recover=True)
        rejoin(core, "Idle", everything, paging=True)
    assert "m1" not in core._seen  # forgotten: two recoveries ago
    everything += turn_messages(5)
    core.connection_lost(None, recover=True)
    assert rejoin(core, "Idle", everything, paging=True) == 1
    completes = [e.message_id for e in drain(core, cursor) if e.is_complete]
    assert completes == ["m1", "m2", "m3", "m4", "m5"]


def test_a_message_stored_while_streaming_is_read_once_and_the_cursor_passes_it() -> None:
    """The engine stores a message as it first stores it (here still streaming); its final
    form is told live only. The cursor moves past it, so later recoveries neither read it
    again nor deliver what follows it twice."""
    core = SessionCore(SID, 100)
    cursor = listening(core)
    connected(core, paging=True)
    answer_live(core, 1)
    core.connection_lost(None, recover=True)
    rejoin(core, "Idle", turn_messages(1), paging=True)
    draft = stored("x", _frames.text_content("draft", "Streaming"))
    core.receive([text(_frames.message_notification(draft))])
    core.receive([text(_frames.message_notification(stored("x", _frames.text_content("final"))))])
    core.receive([text(_frames.message_notification(stored("y", _frames.text_content("after"))))])
    stored_since = [
        stored("u2", _frames.text_content("hi"), USER),
        draft,
        stored("y", _frames.text_content("after")),
    ]
    core.connection_lost(None, recover=True)
    assert asked_after(core) == "m1"
    assert rejoin(core, "Idle", stored_since, paging=True) == 0
    for _ in range(3):
        core.connection_lost(None, recover=True)
        assert asked_after(core) == "y"
        assert rejoin(core, "Idle", [], paging=True) == 0
    events = drain(core, cursor)
    assert [e.message_id for e in events if e.is_complete] == ["m1", "x", "y"]
    assert [e.message_id for e in events if e.type is ET.MESSAGE_STREAMING] == ["x"]


def test_get_messages_after_asks_a_part_only_of_an_engine_that_pages() -> None:
    core = SessionCore(SID, 100)
    connected(core, paging=True)
    asked = core.history_request("m1")
    assert asked == codec.GetMessages(SID, "m1")
    part = codec.decode_engine_frame(text(_frames.history(SID, turn_messages(2), after="m1")))
    assert isinstance(part, codec.Answer)
    assert [m.id for m in core.history_answer(part, asked, "m1")] == ["u2", "m2"]
    # An engine that offered paging but answers the whole history: cut it here, and an id
    # that is not in it is an error, not the whole history.
    whole = codec.decode_engine_frame(
        text(_frames.history(SID, turn_messages(1) + turn_messages(2)))
    )
    assert isinstance(whole, codec.Answer)
    assert [m.id for m in core.history_answer(whole, asked, "m1")] == ["u2", "m2"]
    with pytest.raises(SessionError, match="'m9' is not in session"):
        core.history_answer(whole, core.history_request("m9"), "m9")
    # Reconnected to an engine that no longer offers paging: asked again without after.
    core.connection_lost(None, recover=True)
    core.start_rejoin()
    core.receive([text(_frames.connect_ack(SID))])
    assert core.history_reask(asked) == codec.GetMessages(SID)
    assert core.history_request("m1") == codec.GetMessages(SID)


@pytest.mark.parametrize("failure", ["refused", "offer-withdrawn"])
def test_a_paged_read_that_fails_asks_for_the_whole_history_from_then_on(failure: str) -> None:
    core = SessionCore(SID, 100)
    cursor = listening(core)
    connected(core, paging=True)
    answer_live(core, 1)
    core.connection_lost(None, recover=True)
    rejoin(core, "Idle", turn_messages(1), paging=True)
    core.connection_lost(None, recover=True)
    assert core.start_rejoin()[1] == codec.GetMessages(SID, "m1")
    if failure == "refused":
        core.receive(
            [text(_frames.connect_ack(SID, participant_status="Idle", history_after=True))]
        )
        core.receive([text(_frames.error_frame("no such message", "get_messages", SID))])
    else:  # this ack offers nothing: the part that comes cannot be trusted to show the end
        core.receive([text(_frames.connect_ack(SID))])
        core.receive([text(_frames.history(SID, turn_messages(2), after="m1"))])
    assert core.rejoin_done and isinstance(core.rejoin_error, SessionError)
    core.abandon_rejoin()
    assert asked_after(core) is None
    assert rejoin(core, "Idle", turn_messages(1) + turn_messages(2), paging=True) == 1
    completes = [e.message_id for e in drain(core, cursor) if e.is_complete]
    assert completes == ["m1", "m2"]


@pytest.mark.parametrize("extension", [True, False])
def test_a_turn_that_ended_while_away_ends_for_listeners(extension: bool) -> None:
    core = SessionCore(SID, 100)
    cursor = listening(core)
    core.receive([text(_frames.participant_status(SID, "Processing"))])
    core.connection_lost(ConnectionError("cut"), recover=True)
    history = [
        stored("u1", _frames.text_content("hi"), USER),
        stored("m1", _frames.text_content("hello")),
    ]
    assert rejoin(core, "Idle" if extension else None, history) == 1
    events = drain(core, cursor)
    statuses = [(e.data["status"], e.data.get("source")) for e in events if e.participant_status]
    assert statuses == [
        ("Processing", None),
        ("Offline", "client"),
        ("Connected", "client"),
        ("Idle", None),
    ]
    assert [e.message_id for e in events if e.is_complete] == ["m1"]
    assert events[-1].is_turn_end and events[-1].data["recovered"]


def test_an_end_read_from_the_history_waits_for_the_live_stream() -> None:
    """Without the extension the history can only suggest the end (an agent may go on after a
    complete message): with a heartbeat, it is said after two quiet beats, unless the turn
    shows itself live first."""
    history = [
        stored("u1", _frames.text_content("hi"), USER),
        stored("m1", _frames.text_content("hello")),
    ]
    for goes_on in (False, True):
        core = SessionCore(SID, 100)
        cursor = listening(core)
        core.receive([text(_frames.participant_status(SID, "Processing"))])
        core.connection_lost(None, recover=True)
        rejoin(core, None, history, heartbeat=True)
        core.heartbeat(1.0, None)
        if goes_on:  # the agent was not done: its stream goes on, then its own end
            core.receive([text(_frames.message_delta(SID, "m2", "more", 0))])
        core.heartbeat(2.0, None)
        if goes_on:
            core.receive([text(_frames.participant_status(SID, "Idle"))])
        ends = [e.data.get("recovered") for e in drain(core, cursor) if e.is_turn_end]
        assert ends == ([None] if goes_on else [True])


def test_the_engines_own_end_after_a_recovered_one_is_not_said_twice() -> None:
    core = SessionCore(SID, 100)
    cursor = listening(core)
    core.receive([text(_frames.participant_status(SID, "Processing"))])
    core.connection_lost(None, recover=True)
    rejoin(core, "Idle", [stored("u1", _frames.text_content("hi"), USER)])
    core.receive([text(_frames.participant_status(SID, "Idle"))])  # late, from the old turn
    core.receive([text(_frames.participant_status(SID, "Processing"))])  # the next turn
    core.receive([text(_frames.participant_status(SID, "Idle"))])
    statuses = [e.data["status"] for e in drain(core, cursor) if e.participant_status]
    assert statuses == ["Processing", "Offline", "Connected", "Idle", "Processing", "Idle"]


def test_a_backfilled_request_is_not_delivered_again_by_its_late_notification() -> None:
    core = SessionCore(SID, 100)
    cursor = listening(core)
    core.receive([text(_frames.participant_status(SID, "Processing"))])
    core.connection_lost(None, recover=True)
    approval = stored("a1", _frames.approval_request_content("book", "c1"))
    late = [text(_frames.message_notification(approval))]
    rejoin(core, "AwaitingApproval", [stored("u1", _frames.text_content("hi"), USER), approval])
    core.receive(late)
    requests = [e for e in drain(core, cursor) if e.type is ET.APPROVAL_REQUEST]
    assert [e.message_id for e in requests] == ["a1"]


def test_a_refused_history_fails_the_rejoin_so_it_is_tried_again() -> None:
    core = SessionCore(SID, 100)
    core.connection_lost(None, recover=True)
    core.start_rejoin()
    core.receive([text(_frames.connect_ack(SID))])
    core.receive([text(_frames.error_frame("busy", "get_messages", SID))])
    assert core.rejoin_done and isinstance(core.rejoin_error, SessionError)


def test_a_turn_still_running_is_not_ended_by_a_recovery() -> None:
    core = SessionCore(SID, 100)
    cursor = listening(core)
    core.receive([text(_frames.participant_status(SID, "Processing"))])
    core.connection_lost(None, recover=True)
    rejoin(core, None, [stored("u1", _frames.text_content("hi"), USER)])
    assert not [e for e in drain(core, cursor) if e.is_turn_end]
    assert core.state is State.CONNECTED


def test_frames_during_a_rejoin_come_after_the_backfill_and_nothing_twice() -> None:
    core = SessionCore(SID, 100)
    cursor = listening(core)
    core.receive([text(_frames.participant_status(SID, "Processing"))])
    core.connection_lost(None, recover=True)
    m1 = stored("m1", _frames.text_content("one"))
    held = [text(_frames.message_notification(m1))]  # the live notification, again
    rejoin(
        core, "Processing", [stored("u1", _frames.text_content("hi"), USER), m1], held=tuple(held)
    )
    completes = [e for e in drain(core, cursor) if e.is_complete]
    assert [e.message_id for e in completes] == ["m1"]


def test_a_session_gone_fails_the_rejoin() -> None:
    core = SessionCore(SID, 100)
    core.connection_lost(None, recover=True)
    core.start_rejoin()
    core.receive([text(_frames.connect_ack(SID, success=False, error="no such session"))])
    assert core.rejoin_done
    assert isinstance(core.rejoin_error, SessionNotFoundError)


# --- the stateful machine -------------------------------------------------------------------


class RecoveryMachine(RuleBasedStateMachine):
    """An engine runs turns; the connection drops and comes back at any point."""

    @initialize(
        extension=st.booleans(),
        heartbeat=st.booleans(),
        paging=st.sampled_from(["none", "paged", "ignores-after"]),
    )
    def start(self, extension: bool, heartbeat: bool, paging: str) -> None:
        self.heartbeat = heartbeat
        self.clock = 0.0
        self.core = SessionCore(SID, 10_000)
        # The engine offers paging, and pages (or answers everything all the same).
        self.paging = paging if extension else "none"
        connected(self.core, paging=self.paging != "none", status="Idle" if extension else None)
        self.reads: list[int] = []  # how many messages were stored at each history read
        self.cursor = listening(self.core)
        self.extension = extension
        self.connected = True
        self.history: list[Any] = []
        self.pending: list[dict[str, Any]] = []  # frames of the running turn, in order
        self.status = "Idle"
        self.turns = 0
        self.seen: list[SessionEvent] = []

    def _engine_emits(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "message_notification":
            self.history.append(frame["message"])
        if frame["type"] == "participant_status":
            self.status = frame["message"]["status"]
        if self.connected:
            self.core.receive([text(frame)])

    @precondition(lambda self: not self.pending and self.status == "Idle" and self.connected)
    @rule(deltas=st.integers(0, 3))
    def send_turn(self, deltas: int) -> None:
        self.turns += 1
        turn = self.turns
        self.history.append(stored(f"u{turn}", _frames.text_content("hi"), USER))
        self.core.receive([text(_frames.post_ack("post_message", SID))])  # the user's post
        message_id = f"m{turn}"
        self.pending = [_frames.participant_status(SID, "Processing")]
        self.pending += [_frames.message_delta(SID, message_id, "x", i) for i in range(deltas)]
        self.pending.append(
            _frames.message_notification(stored(message_id, _frames.text_content("x" * deltas)))
        )
        self.pending.append(_frames.participant_status(SID, "Idle"))

    @precondition(lambda self: bool(self.pending))
    @rule()
    def engine_step(self) -> None:
        self._engine_emits(self.pending.pop(0))

    @precondition(lambda self: len(self.pending) > 1)
    @rule(count=st.integers(2, 6))
    def engine_burst(self, count: int) -> None:
        """Several frames in one read, as a fast stream comes."""
        frames = self.pending[:count]
        del self.pending[:count]
        for frame in frames:
            if frame["type"] == "message_notification":
                self.history.append(frame["message"])
            if frame["type"] == "participant_status":
                self.status = frame["message"]["status"]
        if self.connected:
            self.core.receive([text(frame) for frame in frames])

    @precondition(lambda self: self.connected)
    @rule()
    def drop(self) -> None:
        self.connected = False
        self.core.connection_lost(ConnectionError("cut"), recover=True)

    @precondition(lambda self: not self.connected)
    @rule(steps_meanwhile=st.integers(0, 2), late=st.booleans())
    def come_back(self, steps_meanwhile: int, late: bool = False) -> None:
        core = self.core
        (asked,) = [f for f in core.start_rejoin() if isinstance(f, codec.GetMessages)]
        status = self.status if self.extension else None
        paging = self.paging != "none"
        core.receive(
            [text(_frames.connect_ack(SID, participant_status=status, history_after=paging))]
        )
        self.connected = True  # frames from now on reach the core (held until the history)
        for _ in range(min(steps_meanwhile, len(self.pending))):
            frame = self.pending.pop(0)
            if frame["type"] == "message_notification":
                self.history.append(frame["message"])
            if frame["type"] == "participant_status":
                self.status = frame["message"]["status"]
            core.receive([text(frame)])
        # ``late``: the next message is stored before the history is answered (so it is in
        # it), but its live notification on this connection comes after (the engine's
        # broadcast was held up by another connection).
        delayed = None
        if late and self.pending and self.pending[0]["type"] == "message_notification":
            delayed = self.pending.pop(0)
            self.history.append(delayed["message"])
        answer = list(self.history)
        if asked.after is not None:
            assert self.paging != "none", "asked for a part of an engine that never offered it"
            ids = [m["id"] for m in answer]
            if self.paging == "paged":
                answer = answer[ids.index(asked.after) + 1 :]
        core.receive([text(_frames.history(SID, answer, after=asked.after))])
        core.finish_rejoin(heartbeat=self.heartbeat)
        if delayed is not None:
            core.receive([text(delayed)])
        self.reads.append(len(self.history))
        if self.paging != "none" and len(self.reads) > 2:
            # What is remembered is what was stored since the read before last, and the
            # message being streamed (its deltas came; it is not stored yet), no more.
            assert len(core._seen) <= len(self.history) - self.reads[-3] + 1

    @rule()
    def tick(self) -> None:
        self.clock += 1.0
        self.core.heartbeat(self.clock, None)

    @rule(count=st.integers(1, 5))
    def read(self, count: int) -> None:
        while count and (
            self.cursor.taken < len(self.cursor.batch) or self.core.log.refill(self.cursor)
        ):
            self.seen.append(self.cursor.batch[self.cursor.taken])
            self.cursor.taken += 1
            count -= 1

    @invariant()
    def nothing_twice(self) -> None:
        completes = [e.message_id for e in self.seen if e.is_complete]
        assert len(completes) == len(set(completes))

    def teardown(self) -> None:
        if not hasattr(self, "core"):
            return
        if not self.connected:
            self.come_back(0)
        while self.pending:
            self.engine_step()
        self.tick()
        self.tick()  # a turn end read from the history is said after two quiet beats
        self.read(10**9)
        completes = [e.message_id for e in self.seen if e.is_complete]
        assert completes == [f"m{t}" for t in range(1, self.turns + 1)], (
            "each answer once, in order"
        )
        ends = 0
        processing = False
        for event in self.seen:
            if event.participant_status == "Processing" and event.data.get("source") is None:
                processing = True
            elif event.is_turn_end and processing and event.data.get("source") is None:
                ends += 1
                processing = False
        assert ends == self.turns, "every turn's end reaches the listener"


RecoveryMachine.TestCase.settings = settings(
    max_examples=500, stateful_step_count=40, deadline=None
)
TestRecovery = RecoveryMachine.TestCase
