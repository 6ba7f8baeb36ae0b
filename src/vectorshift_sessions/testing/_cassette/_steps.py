"""Replay steps: what a replaying agent does, one recorded engine frame at a time.

Each step knows where it came from (``rec``, ``t``, ``line``) and how long to wait before it
at the recorded pace (``wait``, seconds; set once its turn is complete).
"""

from __future__ import annotations

from typing import Any, Union

import attrs

from ...engine._turn import ApprovalAnswer

__all__ = ["Answer", "Approval", "Delta", "Message", "Raw", "Status", "Step"]


@attrs.define(eq=False)
class _Step:
    t: float
    rec: str
    line: int
    wait: float = attrs.field(default=0.0, kw_only=True)


@attrs.define(eq=False)
class Delta(_Step):
    """One ``message_delta`` (``turn.delta``)."""

    message_id: str | None
    text: str
    index: int


@attrs.define(eq=False)
class Message(_Step):
    """One stored message to notify (``turn.emit``): the recorded message, whole."""

    message: dict[str, Any]

    @property
    def message_id(self) -> str | None:
        value = self.message.get("id")
        return value if isinstance(value, str) and value else None

    @property
    def content(self) -> dict[str, Any]:
        content: dict[str, Any] = self.message["content"]
        return content


@attrs.define(eq=False)
class Status(_Step):
    """A participant status inside the turn (``turn.status``)."""

    status: str


@attrs.define(eq=False)
class Raw(_Step):
    """A frame sent as recorded (an engine ``error`` frame, a frame type of its own)."""

    frame: dict[str, Any]


@attrs.frozen
class Answer:
    """A recorded answer to an approval request, and where it was sent."""

    answer: ApprovalAnswer
    t: float
    rec: str
    line: int


@attrs.define(eq=False)
class Approval(Message):
    """An approval request (``turn.request_approval``) and the recorded answer to compare
    the user's with (``None``: never answered)."""

    answer: Answer | None = None
    awaiting_dropped: bool = False  # its AwaitingApproval, sent by request_approval itself

    @property
    def tool_name(self) -> str:
        name = self.content.get("tool_name")
        return name if isinstance(name, str) else "a tool call"


Step = Union[Delta, Message, Status, Raw, Approval]
