"""What a session's public methods accept: every check that runs before anything is sent, in one
place for both flavours. Pure functions: each raises a ``TypeError`` / ``ValueError`` that names
what was wrong and what to do."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from . import _codec as codec
from ._config import OWNER_TYPES
from ._retry import ReconnectPolicy
from ._types import EVENT_TYPE_NAMES, ApprovalResponse, SessionEvent, SessionEventType

__all__ = [
    "approval_post",
    "check_approval",
    "check_approval_session",
    "check_maxsize",
    "check_seconds",
    "check_session_id",
    "check_session_options",
    "event_type_filter",
]

ET = SessionEventType


def check_session_id(session_id: object) -> None:
    if not isinstance(session_id, str) or not session_id.strip():
        raise ValueError(f"session_id must be a non-empty string, got {session_id!r}")
    if session_id != session_id.strip() or any(
        c.isspace() or not c.isprintable() for c in session_id
    ):
        raise ValueError(
            f"session_id {session_id!r} is malformed: it contains spaces or control characters"
        )


def check_session_options(
    *,
    session_id: str | None,
    owner_type: str,
    seconds: Mapping[str, float | None],
    backlog_size: int,
    reconnect: object,
) -> None:
    """A session's constructor arguments (``seconds``: each timeout or interval by name;
    ``None`` turns an interval off)."""
    if session_id is not None:
        check_session_id(session_id)
    if owner_type and owner_type not in OWNER_TYPES:
        raise ValueError(f"owner_type must be 'agent' or 'chatbot', got {owner_type!r}")
    for name, value in seconds.items():
        check_seconds(name, value)
    if backlog_size < 1:
        raise ValueError(f"backlog_size must be at least 1, got {backlog_size!r}")
    if not isinstance(reconnect, (bool, ReconnectPolicy)):
        raise TypeError(f"reconnect must be True, False or a ReconnectPolicy, got {reconnect!r}")


def check_seconds(name: str, value: object) -> None:
    """A timeout or interval: a positive number of seconds, or ``None`` (none)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds or None, got {value!r}")
    if not 0 < value < math.inf:
        raise ValueError(f"{name} must be a positive, finite number of seconds, got {value!r}")


def event_type_filter(
    event_types: Iterable[SessionEventType | str] | None,
) -> frozenset[SessionEventType] | None:
    """``listen(event_types=...)`` as a set (``None``: every type)."""
    if event_types is None:
        return None
    if isinstance(event_types, (str, SessionEventType)):
        event_types = [event_types]
    chosen: set[SessionEventType] = set()
    for value in event_types:
        try:
            chosen.add(SessionEventType(value))
        except ValueError:
            raise ValueError(
                f"unknown event type {value!r} in event_types; known types: {EVENT_TYPE_NAMES}"
            ) from None
    return frozenset(chosen) if chosen else None


def check_after(after: object) -> str | None:
    """``get_messages(after=...)``: a message id (a ``SessionMessage``'s or an event's
    ``message_id``), or ``None``."""
    if after is None:
        return None
    if not isinstance(after, str):
        raise TypeError(
            f"after must be a message id (a str, such as an event's message_id) or None, "
            f"got {type(after).__name__}"
        )
    if not after:
        raise ValueError("after must be a message id, got an empty string")
    return after


def check_maxsize(maxsize: object) -> int:
    if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 0:
        raise ValueError(f"maxsize must be an integer >= 0 (0 = unbounded), got {maxsize!r}")
    return maxsize


def check_approval(
    event: object,
    response: ApprovalResponse | None,
    *,
    approved: bool | None,
    confirm: Mapping[str, Any] | None,
    deny_reason: str | None,
) -> ApprovalResponse:
    """What ``respond()`` was given, checked: the answer to an ``APPROVAL_REQUEST``."""
    if not isinstance(event, SessionEvent):
        raise TypeError(f"respond() takes the SessionEvent to answer, got {type(event).__name__}")
    if event.type != ET.APPROVAL_REQUEST:
        hint = (
            "re-authorize the integration, then send a new message"
            if event.type == ET.REAUTH_REQUEST
            else "only APPROVAL_REQUEST events can be answered"
        )
        raise TypeError(f"cannot respond to a {event.type} event: {hint}")
    if response is not None:
        if approved is not None:
            raise TypeError("pass either an ApprovalResponse or approved=..., not both")
        approved, confirm, deny_reason = response.approved, response.confirm, response.deny_reason
    if approved is None:
        raise TypeError("respond(APPROVAL_REQUEST) requires approved=True|False")
    if not isinstance(approved, bool):
        raise TypeError(f"approved must be True or False, got {approved!r}")
    if confirm is not None and not isinstance(confirm, Mapping):
        raise TypeError(f"confirm must be a mapping of field values, got {type(confirm).__name__}")
    return ApprovalResponse(approved, confirm, deny_reason)


def check_approval_session(session_id: str, event: SessionEvent) -> None:
    """An approval request is answered in its own session."""
    if event.session_id and event.session_id != session_id:
        raise ValueError(
            f"this approval request belongs to session {event.session_id!r}, "
            f"not to this session {session_id!r}"
        )


def approval_post(
    session_id: str, event: SessionEvent, answer: ApprovalResponse
) -> codec.PostMessage:
    """The post that answers ``event`` in ``session_id`` (``check_approval`` made ``answer``)."""
    check_approval_session(session_id, event)
    content = codec.approval_content(answer.approved, answer.confirm, answer.deny_reason)
    return codec.PostMessage(session_id, content, event.message_id)
