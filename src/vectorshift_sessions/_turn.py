"""The outcome of one turn, as ``ask()`` and the one-shot ``run()`` return it."""

from __future__ import annotations

import attrs

from ._types import SessionEvent, SessionEventType, _short

__all__ = ["TurnResult", "TurnStatus"]


class TurnStatus:
    """How a turn ended (plain strings, so they print and compare simply)."""

    COMPLETE = "complete"
    AWAITING_APPROVAL = "awaiting_approval"
    REAUTH_REQUIRED = "reauth_required"
    ERROR = "error"


@attrs.frozen(repr=False)
class TurnResult:
    """One turn: its final ``text``, how it ended (``status``), and every event it produced."""

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
