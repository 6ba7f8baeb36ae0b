"""One turn: ``TurnWatcher`` tells where it ends; ``TurnResult`` is what ``ask()`` and the
one-shot ``run()`` return."""

from __future__ import annotations

import attrs

from ._types import ParticipantStatus, SessionEvent, SessionEventType, _short

__all__ = ["TurnResult", "TurnStatus", "TurnWatcher"]


class TurnStatus:
    """How a turn ended (plain strings, so they print and compare simply).

    Attributes:
        COMPLETE: The turn ended normally (``"complete"``).
        AWAITING_APPROVAL: The turn waits for the user's answer to an approval request.
        REAUTH_REQUIRED: The turn waits for the user to re-authorize a provider.
        ERROR: The turn ended in an error (``TurnResult.error`` says which).
    """

    COMPLETE = "complete"
    AWAITING_APPROVAL = "awaiting_approval"
    REAUTH_REQUIRED = "reauth_required"
    ERROR = "error"


@attrs.frozen(repr=False)
class TurnResult:
    """One turn: its final ``text``, how it ended (``status``), and every event it produced.

    Attributes:
        session_id: The session the turn ran in.
        status: How it ended: one of the ``TurnStatus`` strings.
        text: The last complete message's text, or ``None`` when there was none.
        events: Every event of the turn, in order.
    """

    session_id: str
    status: str
    text: str | None
    events: tuple[SessionEvent, ...]

    @property
    def action_event(self) -> SessionEvent | None:
        """The approval or re-authorization request the turn is waiting on, if any."""
        for event in reversed(self.events):
            if event.type in (SessionEventType.APPROVAL_REQUEST, SessionEventType.REAUTH_REQUEST):
                return event
        return None

    @property
    def error(self) -> str | None:
        """The turn's error message, when it ended in an error."""
        for event in reversed(self.events):
            if event.type == SessionEventType.ERROR:
                return event.error
        return None

    def __repr__(self) -> str:
        return (
            f"TurnResult(session_id={self.session_id!r}, status={self.status!r}, "
            f"text={_short(self.text)}, events={len(self.events)})"
        )


class TurnWatcher:
    """Follows the events of one turn and says when it is over: the single place that knows
    what ends a turn. Feed it every event from ``listen()`` after ``send()``::

        watcher = TurnWatcher()
        for event in session.listen():
            if watcher.feed(event):
                break

    A turn ends at ``Idle`` after ``Processing`` (an ``Idle`` left over from an earlier turn
    does not end it). With ``stop_for_action=True`` (what ``ask()`` does) it also stops at an
    approval or re-authorization request, which the user must answer first; ``status`` then
    says which. ``events`` and ``text`` (the last complete message) collect the turn.

    Args:
        stop_for_action: Also stop at an approval or re-authorization request.

    Attributes:
        events: The events fed so far.
        text: The last complete message's text so far, or ``None``.
        status: How the turn stands: one of the ``TurnStatus`` strings.
    """

    __slots__ = ("_processing", "_stop_for_action", "events", "status", "text")

    def __init__(self, *, stop_for_action: bool = False):
        self._stop_for_action = stop_for_action
        self._processing = False
        self.events: list[SessionEvent] = []
        self.text: str | None = None
        self.status = TurnStatus.COMPLETE

    def earlier(self, event: SessionEvent) -> bool:
        """Whether ``event``, read after ``send()``, belongs to an earlier turn still running
        (turns run one after another): this turn starts at its ``Processing`` status, and
        before it only the post's own acknowledgement is this turn's.

        Args:
            event: An event read after ``send()``.

        Returns:
            ``True`` when the event is an earlier turn's, to pass over.
        """
        return not (
            self._processing
            or event.participant_status is ParticipantStatus.PROCESSING
            or event.type is SessionEventType.MESSAGE_POSTED
        )

    def feed(self, event: SessionEvent) -> bool:
        """Take the next event.

        Args:
            event: The turn's next event.

        Returns:
            ``True`` when the turn is over (or waits for the user, with ``stop_for_action``).
        """
        self.events.append(event)
        kind = event.type
        if kind is SessionEventType.MESSAGE_COMPLETE:
            self.text = event.text
        elif kind is SessionEventType.APPROVAL_REQUEST:
            self.status = TurnStatus.AWAITING_APPROVAL
            return self._stop_for_action
        elif kind is SessionEventType.REAUTH_REQUEST:
            self.status = TurnStatus.REAUTH_REQUIRED
            return self._stop_for_action
        elif kind is SessionEventType.ERROR and event.message_id is not None:
            self.status = TurnStatus.ERROR
        elif kind is SessionEventType.PARTICIPANT_STATUS:
            state = event.participant_status
            if state is ParticipantStatus.PROCESSING:
                self._processing = True
                if self.status != TurnStatus.ERROR:
                    self.status = TurnStatus.COMPLETE  # an answered approval: going on
            elif state is ParticipantStatus.IDLE and self._processing:
                return True
        return False

    def result(self, session_id: str) -> TurnResult:
        """What the watcher collected, as a result.

        Args:
            session_id: The session the turn ran in.

        Returns:
            The turn's result, with the events fed so far.
        """
        return TurnResult(session_id, self.status, self.text, tuple(self.events))
