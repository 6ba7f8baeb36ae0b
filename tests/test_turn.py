"""TurnWatcher: the one place that knows where a turn ends (socket-free)."""

from __future__ import annotations

from vectorshift_sessions import SessionEvent, SessionEventType, TurnStatus, TurnWatcher

ET = SessionEventType


def status(value: str) -> SessionEvent:
    return SessionEvent(ET.PARTICIPANT_STATUS, "s", None, {"status": value})


def event(kind: SessionEventType, message_id: str | None = "m", **data: object) -> SessionEvent:
    return SessionEvent(kind, "s", message_id, dict(data))


def feed_all(watcher: TurnWatcher, events: list[SessionEvent]) -> list[bool]:
    return [watcher.feed(e) for e in events]


def test_a_turn_ends_at_idle_after_processing_not_at_a_leftover_idle() -> None:
    watcher = TurnWatcher()
    done = feed_all(
        watcher,
        [
            status("Idle"),  # the end of an earlier turn, read late
            status("Processing"),
            event(ET.MESSAGE_DELTA, delta="hi"),
            event(ET.MESSAGE_COMPLETE, text="hi"),
            status("Idle"),
        ],
    )
    assert done == [False, False, False, False, True]
    result = watcher.result("s")
    assert (result.status, result.text, len(result.events)) == (TurnStatus.COMPLETE, "hi", 5)


def test_it_stops_for_an_approval_only_when_asked_to() -> None:
    approval = event(ET.APPROVAL_REQUEST, tool_name="book")
    asking = TurnWatcher(stop_for_action=True)
    assert feed_all(asking, [status("Processing"), approval]) == [False, True]
    assert asking.status == TurnStatus.AWAITING_APPROVAL
    assert asking.result("s").action_event == approval

    through = TurnWatcher()  # the chat and the demo answer it and read on
    after = [
        status("AwaitingApproval"),
        status("Processing"),
        event(ET.MESSAGE_COMPLETE, text="ok"),
    ]
    events = [status("Processing"), approval, *after, status("Idle")]
    assert feed_all(through, events)[-1] is True
    assert through.status == TurnStatus.COMPLETE and through.text == "ok"


def test_reauth_and_errors() -> None:
    reauth = TurnWatcher(stop_for_action=True)
    assert reauth.feed(event(ET.REAUTH_REQUEST, provider="drive"))
    assert reauth.status == TurnStatus.REAUTH_REQUIRED
    failed = TurnWatcher()
    feed_all(failed, [status("Processing"), event(ET.ERROR, error="boom"), status("Idle")])
    assert failed.status == TurnStatus.ERROR
    unrelated = TurnWatcher()  # an error that is not the agent's message does not fail the turn
    feed_all(unrelated, [status("Processing"), event(ET.ERROR, None, error="overflow")])
    assert unrelated.status == TurnStatus.COMPLETE


def test_what_comes_before_the_turns_processing_is_an_earlier_turns() -> None:
    watcher = TurnWatcher()
    leftover = [event(ET.MESSAGE_DELTA, delta="x"), event(ET.MESSAGE_COMPLETE), status("Idle")]
    assert [watcher.earlier(e) for e in leftover] == [True, True, True]
    assert not watcher.earlier(event(ET.MESSAGE_POSTED, None))  # the post's own ack
    processing = status("Processing")
    assert not watcher.earlier(processing)
    watcher.feed(processing)
    assert [watcher.earlier(e) for e in leftover] == [False, False, False]
