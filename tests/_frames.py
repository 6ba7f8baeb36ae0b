"""Sample wire frames, written out by hand from /work/shared/protocol.md.

They are literal dicts on purpose: tests compare the codec's builders and encoders against
them, so a field renamed in the code (but not in the protocol) shows up as a failure.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

SID = "sess-1"
MID = "msg-1"
AGENT = {"object_id": "agent-1", "object_type": "agent"}
USER = {"user_id": "user-1"}

FILE_CONTENT: dict[str, Any] = {
    "type_string": "file",
    "value": {
        "raw_bytes": "aGVsbG8=",  # b"hello"
        "metadata": {"name": "hello.txt", "mime_type": "text/plain"},
    },
}
APPROVE_CONTENT: dict[str, Any] = {
    "type_string": "response_message",
    "value": {"tool_call_approval": {"confirm": {"to": "a@b.c"}}},
}
DENY_CONTENT: dict[str, Any] = {
    "type_string": "response_message",
    "value": {"tool_call_approval": {"deny": "User denied tool call."}},
}

#: Client -> engine frames, one per row of the protocol's table (and variants).
CLIENT_FRAMES: dict[str, dict[str, Any]] = {
    "create_session agent": {
        "type": "create_session",
        "object_type": "agent",
        "object_id": "agent-1",
    },
    "create_session chatbot": {
        "type": "create_session",
        "object_type": "chatbot",
        "object_id": "bot-1",
    },
    "connect_session": {"type": "connect_session", "session_id": SID},
    "post_message": {"type": "post_message", "session_id": SID, "content": "hi"},
    "post_message typed text": {
        "type": "post_message",
        "session_id": SID,
        "content": {"type_string": "text/markdown", "value": "# hi"},
    },
    "post_message file": {"type": "post_message", "session_id": SID, "content": FILE_CONTENT},
    "post_message with parent": {
        "type": "post_message",
        "session_id": SID,
        "content": "hi",
        "parent_message_id": MID,
    },
    "post_message approve": {
        "type": "post_message",
        "session_id": SID,
        "content": APPROVE_CONTENT,
        "parent_message_id": MID,
    },
    "post_message deny": {
        "type": "post_message",
        "session_id": SID,
        "content": DENY_CONTENT,
        "parent_message_id": MID,
    },
    "post_messages": {
        "type": "post_messages",
        "session_id": SID,
        "messages": ["summarize", FILE_CONTENT],
    },
    "post_messages empty": {"type": "post_messages", "session_id": SID, "messages": []},
    "get_messages": {"type": "get_messages", "session_id": SID},
    "ping_session": {"type": "ping_session", "session_id": SID},
    "disconnect_session": {"type": "disconnect_session", "session_id": SID},
    "terminate_session": {"type": "terminate_session", "session_id": SID},
}


def stored(content: dict[str, Any], sender: dict[str, Any] | None = None) -> dict[str, Any]:
    """A stored message as the protocol's "Stored message" section describes it."""
    return {"id": MID, "session_id": SID, "sender": sender or AGENT, "content": content}


def notification(content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message_notification", "session_id": SID, "message": stored(content)}


# --- JSON values for property-based tests ---------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=10,
)

ENGINE_FRAME_TYPES = [
    "session_created",
    "connect_session",
    "post_message",
    "post_messages",
    "message_delta",
    "message_notification",
    "participant_status",
    "get_messages",
    "pong",
    "error",
    "disconnect_session",
    "terminate_session",
]
CLIENT_FRAME_TYPES = [
    "create_session",
    "connect_session",
    "post_message",
    "post_messages",
    "get_messages",
    "ping_session",
    "disconnect_session",
    "terminate_session",
]
CONTENT_TYPES = [
    "data_type_message",
    "error_message",
    "tool_call",
    "tool_result",
    "thinking",
    "reasoning",
    "tool_call_approval",
    "reauthorization_request",
    "search_message",
    "agent_task",
    "something_new",
]
FIELD_NAMES = [
    "type",
    "session_id",
    "message_id",
    "success",
    "error",
    "request_type",
    "value",
    "index",
    "message",
    "messages",
    "content",
    "parent_message_id",
    "object_type",
    "object_id",
    "id",
    "sender",
    "status",
    "user_id",
    "tool_name",
    "summary",
]


def _field_values() -> st.SearchStrategy[Any]:
    return json_values | st.sampled_from([*CONTENT_TYPES, "Complete", "Streaming"])


@st.composite
def _mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with some fields dropped or replaced by any JSON value, and some added."""
    out: dict[str, Any] = {}
    for key, value in base.items():
        roll = draw(st.integers(0, 11))
        if roll == 0:
            continue  # drop the field
        out[key] = draw(_field_values()) if roll == 1 else value
    extra = draw(st.dictionaries(st.sampled_from(FIELD_NAMES), _field_values(), max_size=2))
    for key, value in extra.items():
        out.setdefault(key, value)
    return out


_ids = st.text(min_size=1, max_size=8)
_texts = st.text(max_size=10)
_maybe_text = st.none() | _texts
_statuses = st.sampled_from(["Complete", "Streaming", "Error", "complete", "Pending", ""])
_participant = st.sampled_from(
    ["Idle", "Processing", "Offline", "Connected", "Typing", "AwaitingApproval", "idle"]
)


@st.composite
def content_objects(draw: st.DrawFn) -> dict[str, Any]:
    """A message content of a known (or unknown) type, well formed or slightly broken."""
    kind = draw(st.sampled_from(CONTENT_TYPES))
    base: dict[str, Any] = {"type": kind}
    if kind in ("data_type_message", "reasoning", "agent_task", "something_new"):
        base["value"] = draw(_texts | st.integers() | st.none())
        base["status"] = draw(_statuses)
    if kind in ("reasoning", "agent_task", "thinking"):
        base["content"] = draw(_maybe_text)
    if kind == "thinking":
        base["summary"] = draw(_maybe_text)
    if kind == "error_message":
        base["error"] = draw(_maybe_text)
    if kind in ("tool_call", "tool_result", "tool_call_approval"):
        base.update(tool_name=draw(_texts), tool_id=draw(_ids), status=draw(_texts))
    if kind == "tool_result":
        base["output"] = draw(json_values)
    return draw(_mutated(base))


@st.composite
def stored_messages(draw: st.DrawFn) -> dict[str, Any]:
    """A stored message, well formed or slightly broken."""
    sender = draw(
        st.sampled_from([{"user_id": "u1"}, {"object_id": "a1", "object_type": "agent"}, {}])
    )
    base = {
        "id": draw(_ids),
        "session_id": draw(_ids),
        "sender": draw(_mutated(sender)),
        "content": draw(content_objects()),
    }
    return draw(_mutated(base))


_client_content = _texts | st.builds(
    lambda mime, value: {"type_string": mime, "value": value}, _texts, json_values
)


def _engine_base(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    sid = {"session_id": _ids}
    fields: dict[str, st.SearchStrategy[Any]] = {
        "session_created": sid,
        "connect_session": {**sid, "success": st.booleans(), "error": _maybe_text},
        "post_message": {**sid, "success": st.booleans(), "error": _maybe_text},
        "post_messages": {**sid, "success": st.booleans(), "error": _maybe_text},
        "message_delta": {**sid, "message_id": _ids, "value": _texts, "index": st.integers(0)},
        "message_notification": {**sid, "message": stored_messages()},
        "participant_status": {
            **sid,
            "message": st.fixed_dictionaries({"status": _participant}).flatmap(_mutated),
        },
        "get_messages": {**sid, "messages": st.lists(stored_messages(), max_size=3)},
        "pong": sid,
        "error": {**sid, "error": _maybe_text, "request_type": _maybe_text},
        "disconnect_session": sid,
        "terminate_session": sid,
    }[kind]
    return st.fixed_dictionaries({"type": st.just(kind), **fields})


def _client_base(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    sid = {"session_id": _ids}
    fields: dict[str, st.SearchStrategy[Any]] = {
        "create_session": {
            "object_type": st.sampled_from(["agent", "chatbot"]),
            "object_id": _ids,
        },
        "post_message": {
            **sid,
            "content": _client_content,
            "parent_message_id": st.none() | _ids,
        },
        "post_messages": {**sid, "messages": st.lists(_client_content, max_size=3)},
    }.get(kind, sid)
    return st.fixed_dictionaries({"type": st.just(kind), **fields})


@st.composite
def frames_with_type(draw: st.DrawFn, types: list[str]) -> dict[str, Any]:
    """A frame of a valid ``type`` whose other fields are right, missing, or any JSON value."""
    kind = draw(st.sampled_from(types))
    base = draw(_engine_base(kind) if types is ENGINE_FRAME_TYPES else _client_base(kind))
    frame = draw(_mutated(base))
    frame["type"] = kind
    return frame
