"""A turn being read: its post, then the engine's frames for it, as replay steps.

The statuses the engine shows around every turn (``Processing`` first, ``Idle`` last) and
those ``request_approval`` shows itself (``AwaitingApproval`` next to the request, on either
side, and ``Processing`` after the answer) are no steps: the replay shows them anyway.
"""

from __future__ import annotations

from typing import Any, Union, cast

import attrs

from ..._content import DecodedContent, WireContent
from ..._types import ParticipantStatus
from ._model import RecordedFrame
from ._reader import corrupt
from ._steps import Answer, Approval, Delta, Message, Raw, Status, Step

__all__ = [
    "ACCEPTED",
    "LOST",
    "POSTED",
    "REFUSED",
    "Approvals",
    "Building",
    "Waiting",
    "parse_delta",
    "parse_notification",
    "parse_status",
]

_PROCESSING = ParticipantStatus.PROCESSING.value
_AWAITING = ParticipantStatus.AWAITING_APPROVAL.value
# A post: waiting for its ack, acked, refused, or lost with its connection.
POSTED, ACCEPTED, REFUSED, LOST = "posted", "accepted", "refused", "lost"


class Approvals:
    """The cassette's approval requests by message id (an answer may come from another
    recording), and the answers read before their request."""

    def __init__(self) -> None:
        self.steps: dict[str, Approval] = {}
        self.early: dict[str, Answer] = {}

    def asked(self, step: Approval) -> None:
        if step.message_id:
            self.steps[step.message_id] = step
            step.answer = self.early.pop(step.message_id, None)

    def answered(self, parent: str, reply: Answer) -> Waiting:
        """Record an answer; what waits for its ack (``None``: it answers nothing new)."""
        step = self.steps.get(parent)
        if step is None:
            self.early.setdefault(parent, reply)
            return (parent, reply)
        if step.answer is None:
            step.answer = reply
            return (step, reply)
        return None

    def forget(self, target: Approval | str, reply: Answer) -> None:
        """An answer the engine did not take."""
        if isinstance(target, Approval):
            if target.answer is reply:
                target.answer = None
        elif self.early.get(target) is reply:
            del self.early[target]


@attrs.define(eq=False)
class Building:
    """A turn being read: its post (``contents``, ``decoded``, or why it does not decode:
    ``bad``), its place among the session's posts (``order``), its ``state``, and what the
    engine sent for it."""

    rec: str
    post: RecordedFrame
    contents: list[WireContent]
    decoded: tuple[DecodedContent, ...] | None
    bad: str | None
    order: int
    state: str = POSTED
    frames: list[RecordedFrame] = attrs.field(factory=list)
    steps: list[Step] = attrs.field(factory=list)
    approvals: list[Approval] = attrs.field(factory=list)
    saw_processing: bool = False  # its leading Processing came
    skip_processing: bool = False  # the Processing that follows an answered approval

    @property
    def kept(self) -> bool:
        return self.state in (POSTED, ACCEPTED)

    def add_status(self, rec: str, item: RecordedFrame, status: str) -> bool:
        """A status other than ``Idle``; ``False`` for the ``Processing`` that starts the
        turn (no frame of it)."""
        if status == _PROCESSING and not self.saw_processing and not self.steps:
            self.saw_processing = True
            return False
        self.saw_processing = self.saw_processing or status == _PROCESSING
        last = self.steps[-1] if self.steps else None
        if status == _PROCESSING and self.skip_processing:
            self.skip_processing = False  # shown by request_approval() after the answer
        elif status == _AWAITING and isinstance(last, Approval) and not last.awaiting_dropped:
            last.awaiting_dropped = True  # shown by request_approval() itself
        else:
            self.steps.append(Status(item.t, rec, item.line, status))
        return True

    def add_delta(self, rec: str, item: RecordedFrame, delta: tuple[str | None, str, int]) -> None:
        self.steps.append(Delta(item.t, rec, item.line, *delta))

    def add_raw(self, rec: str, item: RecordedFrame, frame: dict[str, Any]) -> None:
        self.steps.append(Raw(item.t, rec, item.line, frame))

    def add_message(
        self, rec: str, item: RecordedFrame, message: dict[str, Any], approvals: Approvals
    ) -> None:
        """A stored message (a notification's, or one the history held)."""
        if message["content"]["type"] != "tool_call_approval":
            self.steps.append(Message(item.t, rec, item.line, message))
            return
        step = Approval(item.t, rec, item.line, message)
        last = self.steps[-1] if self.steps else None
        if isinstance(last, Status) and last.status == _AWAITING:
            self.steps.pop()  # shown by request_approval() itself
            step.awaiting_dropped = True
        approvals.asked(step)
        self.steps.append(step)
        self.approvals.append(step)
        self.skip_processing = True


#: What waits for a post ack: a turn, an approval answer (with its request, or the request's
#: id while the request is not read yet), or ``None`` (an answer to nothing).
Waiting = Union[Building, tuple[Union[Approval, str], Answer], None]


# --- the engine frames of a turn, checked -------------------------------------------------


def parse_status(name: str, item: RecordedFrame, frame: dict[str, Any]) -> str:
    message = frame.get("message")
    status = cast("dict[str, Any]", message).get("status") if type(message) is dict else None
    if type(status) is not str:
        raise corrupt(name, item.line, "a participant_status without message.status")
    return status


def parse_delta(
    name: str, item: RecordedFrame, frame: dict[str, Any]
) -> tuple[str | None, str, int]:
    """A ``message_delta``'s message id, text and index."""
    value, index, mid = frame.get("value"), frame.get("index"), frame.get("message_id")
    if type(value) is not str:
        raise corrupt(name, item.line, "a message_delta without a string 'value'")
    if index is None:
        index = 0
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise corrupt(name, item.line, f"a message_delta whose 'index' is {index!r:.60}")
    if mid is not None and type(mid) is not str:
        raise corrupt(name, item.line, f"a message_delta whose 'message_id' is {mid!r:.60}")
    return mid, value, index


def parse_notification(name: str, item: RecordedFrame, frame: dict[str, Any]) -> dict[str, Any]:
    """A ``message_notification``'s stored message."""
    message = frame.get("message")
    if type(message) is not dict:
        raise corrupt(name, item.line, "a message_notification without a 'message' object")
    message = cast("dict[str, Any]", message)
    content = message.get("content")
    if type(content) is not dict or type(cast("dict[str, Any]", content).get("type")) is not str:
        raise corrupt(name, item.line, "a message_notification whose message has no content type")
    mid = message.get("id")
    if mid is not None and type(mid) is not str:
        raise corrupt(name, item.line, f"a message_notification whose message id is {mid!r:.60}")
    return message
