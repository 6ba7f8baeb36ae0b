"""Public value types: events, stored messages, outbound messages.

They mirror ``vectorshift.events`` and ``vectorshift.session`` of the official client
(same names, fields, string values and helper behaviour) as frozen, slotted attrs classes.
"""

from __future__ import annotations

import enum
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Union, cast

import attrs

__all__ = [
    "ApprovalResponse",
    "Attachment",
    "Content",
    "MessageSender",
    "ParticipantStatus",
    "SendManyItem",
    "SessionEvent",
    "SessionEventType",
    "SessionMessage",
    "SessionMessageRole",
    "SessionMessageStatus",
    "UserSessionMessage",
]

_REPR_TEXT_LIMIT = 80


class _StrEnum(str, enum.Enum):
    """``enum.StrEnum`` for Python 3.10: members are their string values."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, format_spec: str) -> str:
        return str.__format__(str(self.value), format_spec)


class ParticipantStatus(_StrEnum):
    """What the agent is doing, as a ``PARTICIPANT_STATUS`` event says.

    Attributes:
        IDLE: Waiting for the user: the turn is over (``"Idle"``).
        PROCESSING: Working on the turn (``"Processing"``).
        OFFLINE: Not available (``"Offline"``).
        CONNECTED: Joined the session (``"Connected"``).
        TYPING: Writing an answer (``"Typing"``).
        AWAITING_APPROVAL: The turn waits for the user's answer to an approval request
            (``"AwaitingApproval"``).
    """

    IDLE = "Idle"
    PROCESSING = "Processing"
    OFFLINE = "Offline"
    CONNECTED = "Connected"
    TYPING = "Typing"
    AWAITING_APPROVAL = "AwaitingApproval"


class SessionMessageRole(_StrEnum):
    """Who sent a stored message (``MessageSender.role``).

    Attributes:
        USER: The user.
        OBJECT: The agent or chatbot the session belongs to.
        UNKNOWN: A sender the engine did not name.
    """

    USER = "user"
    OBJECT = "object"
    UNKNOWN = "unknown"


class SessionMessageStatus(_StrEnum):
    """How far a message has come.

    Attributes:
        STREAMING: Still being written (its deltas are arriving).
        COMPLETE: Finished.
        ERROR: Ended in an error.
    """

    STREAMING = "streaming"
    COMPLETE = "complete"
    ERROR = "error"


class SessionEventType(_StrEnum):
    """The kind of a ``SessionEvent``; the values are the wire's names.

    Attributes:
        MESSAGE_DELTA: A chunk of a message being streamed (``event.delta``).
        MESSAGE_COMPLETE: A finished message (``event.text``).
        MESSAGE_STREAMING: A message started streaming.
        TOOL_CALL: The agent called a tool (``event.tool_name``).
        TOOL_RESULT: A tool call's result.
        THINKING: The agent's reasoning.
        SEARCH_RESULT: A search and its results.
        APPROVAL_REQUEST: A tool call waits for the user's approval: answer it with
            ``respond()``.
        REAUTH_REQUEST: The agent needs the user to re-authorize a provider.
        ERROR: Something failed (``event.error``).
        PARTICIPANT_STATUS: The agent's status changed (``event.participant_status``).
        SESSION_CREATED: The engine created the session.
        SESSION_CONNECTED: The connection joined the session.
        MESSAGE_POSTED: The engine acknowledged a posted message.
        MESSAGES_POSTED: The engine acknowledged posted messages.
        PONG: The answer to a ping.
    """

    MESSAGE_DELTA = "message_delta"
    MESSAGE_COMPLETE = "message_complete"
    MESSAGE_STREAMING = "message_streaming"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    THINKING = "thinking"
    SEARCH_RESULT = "search_result"
    APPROVAL_REQUEST = "approval_request"
    REAUTH_REQUEST = "reauth_request"
    ERROR = "error"
    PARTICIPANT_STATUS = "participant_status"
    SESSION_CREATED = "session_created"
    SESSION_CONNECTED = "session_connected"
    MESSAGE_POSTED = "message_posted"
    MESSAGES_POSTED = "messages_posted"
    PONG = "pong"


#: The event types' wire names, for error messages that list what is accepted.
EVENT_TYPE_NAMES = ", ".join(t.value for t in SessionEventType)


def _short(value: Any) -> str:
    """repr() of a value, strings cut to a readable length (the data itself is never cut)."""
    if isinstance(value, str) and len(value) > _REPR_TEXT_LIMIT:
        return repr(value[:_REPR_TEXT_LIMIT]) + f"...(+{len(value) - _REPR_TEXT_LIMIT} chars)"
    if isinstance(value, Mapping):
        items = cast("Mapping[object, object]", value).items()
        return "{" + ", ".join(f"{k!r}: {_short(v)}" for k, v in items) + "}"
    return repr(value)


@attrs.frozen(repr=False)
class SessionEvent:
    """One event of a session, as yielded by ``listen()``.

    Attributes:
        type: What kind of event it is.
        session_id: The session it belongs to.
        message_id: The message it is about, if any.
        data: The event's fields as the engine sent them; the properties below read the
            common ones.
    """

    type: SessionEventType
    session_id: str
    message_id: str | None = None
    data: dict[str, Any] = attrs.field(factory=dict, hash=False)

    @property
    def delta(self) -> str | None:
        """The streamed chunk of a ``MESSAGE_DELTA`` event, else ``None``."""
        if self.type == SessionEventType.MESSAGE_DELTA:
            return self.data.get("delta")
        return None

    @property
    def text(self) -> str | None:
        """The complete text of a ``MESSAGE_COMPLETE`` event, else ``None``."""
        if self.type == SessionEventType.MESSAGE_COMPLETE:
            return self.data.get("text")
        return None

    @property
    def tool_name(self) -> str | None:
        """The tool a ``TOOL_CALL`` event calls, else ``None``."""
        if self.type == SessionEventType.TOOL_CALL:
            return self.data.get("tool_name")
        return None

    @property
    def status(self) -> SessionMessageStatus | None:
        """The message status in the event's data, if it names a known one."""
        raw = self.data.get("status")
        if raw:
            try:
                return SessionMessageStatus(raw)
            except ValueError:
                return None
        return None

    @property
    def is_complete(self) -> bool:
        """Whether this is a ``MESSAGE_COMPLETE`` event."""
        return self.type == SessionEventType.MESSAGE_COMPLETE

    @property
    def participant_status(self) -> ParticipantStatus | None:
        """The new status of a ``PARTICIPANT_STATUS`` event, if it is a known one."""
        if self.type == SessionEventType.PARTICIPANT_STATUS:
            try:
                return ParticipantStatus(self.data.get("status"))
            except ValueError:
                return None
        return None

    @property
    def is_turn_end(self) -> bool:
        """Whether the agent went ``Idle``: the turn is over."""
        return self.participant_status == ParticipantStatus.IDLE

    @property
    def requires_action(self) -> bool:
        """Whether the turn waits for the user: an approval or re-authorization request, or the
        ``AwaitingApproval`` status."""
        return (
            self.type in (SessionEventType.APPROVAL_REQUEST, SessionEventType.REAUTH_REQUEST)
            or self.participant_status == ParticipantStatus.AWAITING_APPROVAL
        )

    @property
    def error(self) -> str | None:
        """The message of an ``ERROR`` event, else ``None``."""
        if self.type == SessionEventType.ERROR:
            return self.data.get("error")
        return None

    def __repr__(self) -> str:
        parts = [f"type={self.type}", f"session_id={self.session_id!r}"]
        if self.message_id is not None:
            parts.append(f"message_id={self.message_id!r}")
        if self.data:
            parts.append(f"data={_short(self.data)}")
        return f"SessionEvent({', '.join(parts)})"


@attrs.frozen
class MessageSender:
    """Who sent a stored message: a user, or the agent/chatbot (an object).

    Attributes:
        role: The user, the object, or unknown.
        user_id: The user's id, when the user sent it.
        object_id: The agent's or chatbot's id, when it sent it.
        object_type: ``"agent"`` or ``"chatbot"``, when the object sent it.
    """

    role: SessionMessageRole
    user_id: str | None = None
    object_id: str | None = None
    object_type: str | None = None


@attrs.frozen(repr=False)
class SessionMessage:
    """A stored message of a session's history (``get_messages()``).

    Attributes:
        id: The message's id (what ``get_messages(after=...)`` takes).
        session_id: The session it belongs to.
        sender: Who sent it.
        content_type: The kind of content, as the engine names it (such as ``"text"``).
        text: Its text, when it has one.
        status: How far it has come, when the engine said.
        raw: The message exactly as the engine stored it.
    """

    id: str
    session_id: str
    sender: MessageSender
    content_type: str = ""
    text: str | None = None
    status: SessionMessageStatus | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, hash=False, eq=False)

    @property
    def is_user(self) -> bool:
        """Whether the user sent it."""
        return self.sender.role == SessionMessageRole.USER

    @property
    def is_agent(self) -> bool:
        """Whether the agent or chatbot sent it."""
        return self.sender.role == SessionMessageRole.OBJECT

    def __repr__(self) -> str:
        role = "user" if self.is_user else "agent" if self.is_agent else "unknown"
        status = self.status.value if self.status else None
        return (
            f"SessionMessage(id={self.id!r}, role={role!r}, content_type={self.content_type!r}, "
            f"text={_short(self.text)}, status={status!r})"
        )


#: What can be attached to a message: a path, raw bytes, or an open file object.
Attachment = Union[Path, bytes, bytearray, io.IOBase]
#: What ``send()`` accepts as content: text or an attachment.
Content = Union[str, Path, bytes, bytearray, io.IOBase]


@attrs.frozen(repr=False)
class UserSessionMessage:
    """An authored outbound message for ``send_many()``: content plus attachments.

    ``UserSessionMessage(content="summarize", files=[Path("chart.png")])``

    Attributes:
        content: Text, or a file (a path, bytes or an open file object).
        files: Attachments: paths, bytes or open file objects.
        mime_type: The content's MIME type, when it is a file (guessed when not given).
        filename: The content's file name, when it is a file.
        references: Accepted for the official client's v2, and not used.
    """

    content: Content | None = None
    files: Sequence[Attachment] | None = None
    mime_type: str | None = None
    filename: str | None = None
    references: Mapping[str, Any] | None = None  # accepted for the official client's v2; unused

    def __repr__(self) -> str:
        content = self.content
        shown = _short(content) if isinstance(content, str) else type(content).__name__
        n_files = len(self.files) if self.files else 0
        return f"UserSessionMessage(content={shown}, files={n_files}, mime_type={self.mime_type!r})"


SendManyItem = Union[str, Path, bytes, bytearray, io.IOBase, UserSessionMessage, SessionMessage]
"""What ``send_many()`` accepts as one item."""


@attrs.frozen
class ApprovalResponse:
    """An answer to an ``APPROVAL_REQUEST``: approve (with optional field values) or deny.

    Attributes:
        approved: Whether the tool call may go ahead.
        confirm: Values for the request's fields, when approving.
        deny_reason: Why not, when denying.
    """

    approved: bool
    confirm: Mapping[str, Any] | None = None
    deny_reason: str | None = None
