"""What the engine sends: engine frames, and the stored messages that history holds and
notifications carry (with their content). Only the engine builds these; clients read them with
the codec (``_codec.decode_engine_frame``, ``_codec.decode_stored_message``), and tests that
play an engine build them here too.

Frames are plain dicts, sent with ``_codec.dumps``; `encoded_message_deltas` builds many
``message_delta`` frames as ready-to-send JSON text, for streaming.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._codec import dumps
from .._types import ParticipantStatus

__all__ = [
    "agent_task_content",
    "approval_request_content",
    "approval_response_content",
    "connect_ack",
    "disconnect_ack",
    "encoded_message_deltas",
    "error_content",
    "error_frame",
    "history",
    "message_delta",
    "message_notification",
    "object_sender",
    "participant_status",
    "pong",
    "post_ack",
    "reauth_content",
    "search_content",
    "session_created",
    "stored_file_content",
    "stored_message",
    "terminate_ack",
    "text_content",
    "thinking_content",
    "tool_call_content",
    "tool_result_content",
    "user_sender",
]

# --- engine frames --------------------------------------------------------------------------


def session_created(session_id: str) -> dict[str, Any]:
    return {"type": "session_created", "session_id": session_id}


def connect_ack(
    session_id: str,
    success: bool = True,
    error: str | None = None,
    participant_status: ParticipantStatus | str | None = None,
    history_after: bool = False,
) -> dict[str, Any]:
    """The ack of ``connect_session``. **Extensions**: ``participant_status`` tells a client
    that comes back (after a dropped connection) whether the session is still in a turn;
    ``history_after`` says this engine answers ``get_messages`` with ``after`` (see
    `history`)."""
    frame = {
        "type": "connect_session",
        "session_id": session_id,
        "success": success,
        "error": error,
    }
    if participant_status is not None:
        frame["participant_status"] = str(participant_status)
    if history_after:
        frame["history_after"] = True
    return frame


def post_ack(
    request_type: str, session_id: str, success: bool = True, error: str | None = None
) -> dict[str, Any]:
    """The ack of ``post_message`` or ``post_messages`` (``request_type``)."""
    return {"type": request_type, "session_id": session_id, "success": success, "error": error}


def message_delta(session_id: str, message_id: str, value: str, index: int) -> dict[str, Any]:
    return {
        "type": "message_delta",
        "session_id": session_id,
        "message_id": message_id,
        "value": value,
        "index": index,
    }


def message_notification(message: Mapping[str, Any]) -> dict[str, Any]:
    """Notify a stored message (built with `stored_message`)."""
    return {
        "type": "message_notification",
        "session_id": message["session_id"],
        "message": dict(message),
    }


def participant_status(session_id: str, status: ParticipantStatus | str) -> dict[str, Any]:
    return {
        "type": "participant_status",
        "session_id": session_id,
        "message": {"status": str(status)},
    }


def history(
    session_id: str, messages: Sequence[Mapping[str, Any]], after: str | None = None
) -> dict[str, Any]:
    """The answer to ``get_messages``: the session's stored messages, oldest first.
    **Extension**: asked with ``after`` (a message id), only those stored after that message,
    and the answer says ``after`` too (so a reader of recorded frames knows it is a part)."""
    frame = {"type": "get_messages", "session_id": session_id, "messages": list(messages)}
    if after is not None:
        frame["after"] = after
    return frame


def pong(session_id: str) -> dict[str, Any]:
    return {"type": "pong", "session_id": session_id}


def error_frame(
    error: str, request_type: str | None = None, session_id: str | None = None
) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "error": error, "request_type": request_type}
    if session_id is not None:
        frame["session_id"] = session_id
    return frame


def disconnect_ack(session_id: str) -> dict[str, Any]:
    return {"type": "disconnect_session", "session_id": session_id}


def terminate_ack(session_id: str) -> dict[str, Any]:
    return {"type": "terminate_session", "session_id": session_id}


def encoded_message_deltas(
    session_id: str, message_id: str, values: Iterable[str], start_index: int = 0
) -> list[str]:
    """Many ``message_delta`` frames as JSON text, for bulk streaming.

    The same frames as `message_delta` + ``dumps``, but built from one template, so
    an engine can stream a long answer without paying for a full ``json.dumps`` per delta.
    """
    head = dumps({"type": "message_delta", "session_id": session_id, "message_id": message_id})
    head = head[:-1] + ',"index":'
    tails: dict[str, str] = {}  # repeated values (e.g. benchmark tokens) are encoded once
    frames: list[str] = []
    for index, value in enumerate(values, start_index):
        tail = tails.get(value)
        if tail is None:
            tail = ',"value":' + json.dumps(value, ensure_ascii=False) + "}"
            if len(tails) < 1024:
                tails[value] = tail
        frames.append(f"{head}{index}{tail}")
    return frames


# --- stored messages and their content ------------------------------------------------------


def user_sender(user_id: str) -> dict[str, Any]:
    return {"user_id": user_id}


def object_sender(object_id: str, object_type: str) -> dict[str, Any]:
    return {"object_id": object_id, "object_type": object_type}


def stored_message(
    message_id: str, session_id: str, sender: Mapping[str, Any], content: Mapping[str, Any]
) -> dict[str, Any]:
    """A stored message, as history holds it and notifications carry it.

    ``content`` is one of the content builders below (``text_content`` ...).
    """
    return {
        "id": message_id,
        "session_id": session_id,
        "sender": dict(sender),
        "content": dict(content),
    }


def text_content(value: Any, status: str = "Complete") -> dict[str, Any]:
    """``data_type_message`` content; ``status`` is ``"Complete"`` or ``"Streaming"``."""
    return {"type": "data_type_message", "value": value, "status": status}


def error_content(error: str) -> dict[str, Any]:
    return {"type": "error_message", "error": error}


def tool_call_content(tool_name: str, tool_id: str, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "tool_call",
        "tool_name": tool_name,
        "tool_id": tool_id,
        "status": status,
        **extra,
    }


def tool_result_content(tool_name: str, tool_id: str, status: str, output: Any) -> dict[str, Any]:
    return {
        "type": "tool_result",
        "tool_name": tool_name,
        "tool_id": tool_id,
        "status": status,
        "output": output,
    }


def agent_task_content(content: str) -> dict[str, Any]:
    """A step of the agent's plan (clients show it as ``MESSAGE_STREAMING``)."""
    return {"type": "agent_task", "content": content}


def thinking_content(content: str, summary: str | None = None) -> dict[str, Any]:
    return {"type": "thinking", "content": content, "summary": summary}


def approval_request_content(tool_name: str, tool_id: str, **extra: Any) -> dict[str, Any]:
    return {"type": "tool_call_approval", "tool_name": tool_name, "tool_id": tool_id, **extra}


def reauth_content(provider: str, **extra: Any) -> dict[str, Any]:
    return {"type": "reauthorization_request", "provider": provider, **extra}


def search_content(query: str, results: list[Any], **extra: Any) -> dict[str, Any]:
    return {"type": "search_message", "query": query, "results": results, **extra}


def stored_file_content(name: str, mime_type: str, size: int) -> dict[str, Any]:
    """A file the user posted, as history keeps it: its metadata, not its bytes."""
    return {"type": "file", "name": name, "mime_type": mime_type, "size": size}


def approval_response_content(tool_call_approval: Mapping[str, Any]) -> dict[str, Any]:
    """The user's answer to an approval request, as history keeps it (``tool_call_approval``
    as ``_codec.approval_answer`` builds it)."""
    return {"type": "response_message", "tool_call_approval": dict(tool_call_approval)}
