"""The wire codec: sans-I/O, the one place that knows the protocol's frames.

Client side: typed client frames -> JSON text (``encode_client_frame``), and engine frames ->
``SessionEvent`` (news) / ``Answer`` (to a named request) / ``None`` (``decode_engine_frame``,
the hot path).
Engine side: JSON text -> typed client frames (``decode_client_frame``); the engine builds its
own frames and stored messages (``engine/_frames.py``), which clients read back here.
Content: the approval answer (``approval_content`` builds it, ``parse_approval_content`` reads
it) and stored messages (``decode_stored_message``); the content a user posts (text, text with
a MIME type, files) is built and read back in ``_content.py``.

Malformed input raises `CodecError` naming the frame type and the field, never a bare
``KeyError`` / ``TypeError`` / ``AttributeError``. Unknown frame types are dropped with a debug log
and unknown content types fall back to ``MESSAGE_STREAMING``, as the protocol asks.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Union, cast

import attrs
import cattrs

from ._content import WireContent
from ._content import json_type as _json_type
from ._errors import CodecError
from ._types import (
    ApprovalResponse,
    MessageSender,
    SessionEvent,
    SessionEventType,
    SessionMessage,
    SessionMessageRole,
    SessionMessageStatus,
)

__all__ = [
    "Answer",
    "ClientFrame",
    "ConnectSession",
    "CreateSession",
    "DEFAULT_DENY_REASON",
    "DisconnectSession",
    "GetMessages",
    "PingSession",
    "PostMessage",
    "PostMessages",
    "TerminateSession",
    "approval_answer",
    "approval_content",
    "converter",
    "decode_client_frame",
    "decode_engine_frame",
    "decode_engine_frames",
    "decode_stored_message",
    "dumps",
    "encode_client_frame",
    "parse_approval_content",
    "stored_message_event",
]

logger = logging.getLogger("vectorshift_sessions.connection")  # see _logs.py

ET = SessionEventType

#: ``deny`` reason sent when the user gives none (as the official client does).
DEFAULT_DENY_REASON = "User denied tool call."


def dumps(frame: Mapping[str, Any]) -> str:
    """One frame as compact JSON text."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def _loads(text: str | bytes | bytearray, frame_kind: str) -> dict[str, Any]:
    try:
        frame = json.loads(text)
    except (ValueError, TypeError) as exc:  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise CodecError(f"{frame_kind} is not valid JSON: {exc}") from None
    except RecursionError:
        raise CodecError(f"{frame_kind} is nested too deeply to decode") from None
    if type(frame) is not dict:
        raise CodecError(f"{frame_kind} must be a JSON object, got {_json_type(frame)}")
    return cast("dict[str, Any]", frame)


# --- field readers: each names the frame type and the field when the value is wrong ---------


def _str(obj: Mapping[str, Any], key: str, frame_type: str, path: str = "") -> str:
    value = obj.get(key)
    if type(value) is str:
        return value
    what = "missing" if value is None else f"expected a string, got {_json_type(value)}"
    raise CodecError(what, frame_type=frame_type, field=path + key)


def _opt_str(obj: Mapping[str, Any], key: str, frame_type: str, path: str = "") -> str | None:
    value = obj.get(key)
    if value is None or type(value) is str:
        return value
    raise CodecError(
        f"expected a string, got {_json_type(value)}", frame_type=frame_type, field=path + key
    )


def _opt_obj(obj: Mapping[str, Any], key: str, frame_type: str, path: str = "") -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if type(value) is dict:
        return value  # pyright: ignore[reportUnknownVariableType]  # cast() costs a call
    raise CodecError(
        f"expected an object, got {_json_type(value)}", frame_type=frame_type, field=path + key
    )


def _obj(obj: Mapping[str, Any], key: str, frame_type: str, path: str = "") -> dict[str, Any]:
    value = obj.get(key)
    if type(value) is dict:
        return value  # pyright: ignore[reportUnknownVariableType]  # cast() costs a call
    what = "missing" if value is None else f"expected an object, got {_json_type(value)}"
    raise CodecError(what, frame_type=frame_type, field=path + key)


def _opt_bool(obj: Mapping[str, Any], key: str, frame_type: str) -> bool | None:
    value = obj.get(key)
    if value is None or type(value) is bool:
        return value
    raise CodecError(
        f"expected a boolean, got {_json_type(value)}", frame_type=frame_type, field=key
    )


# --- client frames (client -> engine) -----------------------------------------------------


@attrs.frozen
class CreateSession:
    TYPE: ClassVar[str] = "create_session"
    object_type: str
    object_id: str


@attrs.frozen
class ConnectSession:
    TYPE: ClassVar[str] = "connect_session"
    session_id: str


@attrs.frozen
class PostMessage:
    """One user turn, or (with ``parent_message_id``) an answer to an approval request."""

    TYPE: ClassVar[str] = "post_message"
    session_id: str
    content: WireContent
    parent_message_id: str | None = None


@attrs.frozen
class PostMessages:
    """A batch of content posted as one turn."""

    TYPE: ClassVar[str] = "post_messages"
    session_id: str
    messages: list[WireContent]


@attrs.frozen
class GetMessages:
    """The history. **Extension** ``after`` (a message id): only what was stored after that
    message; sent only to an engine whose ``connect_session`` ack says ``history_after``."""

    TYPE: ClassVar[str] = "get_messages"
    session_id: str
    after: str | None = None


@attrs.frozen
class PingSession:
    TYPE: ClassVar[str] = "ping_session"
    session_id: str


@attrs.frozen
class DisconnectSession:
    TYPE: ClassVar[str] = "disconnect_session"
    session_id: str


@attrs.frozen
class TerminateSession:
    TYPE: ClassVar[str] = "terminate_session"
    session_id: str


ClientFrame = Union[
    CreateSession,
    ConnectSession,
    PostMessage,
    PostMessages,
    GetMessages,
    PingSession,
    DisconnectSession,
    TerminateSession,
]
_CLIENT_FRAMES: dict[str, type[Any]] = {
    cls.TYPE: cls
    for cls in (
        CreateSession,
        ConnectSession,
        PostMessage,
        PostMessages,
        GetMessages,
        PingSession,
        DisconnectSession,
        TerminateSession,
    )
}


def approval_answer(
    approved: bool, confirm: Mapping[str, Any] | None = None, deny_reason: str | None = None
) -> dict[str, Any]:
    """The ``tool_call_approval`` of an answer: ``{"confirm": {...}}`` or ``{"deny": reason}``."""
    if approved:
        return {"confirm": dict(confirm or {})}
    return {"deny": deny_reason or DEFAULT_DENY_REASON}


def approval_content(
    approved: bool, confirm: Mapping[str, Any] | None = None, deny_reason: str | None = None
) -> dict[str, Any]:
    """The ``response_message`` content that answers a tool-call approval request."""
    answer = approval_answer(approved, confirm, deny_reason)
    return {"type_string": "response_message", "value": {"tool_call_approval": answer}}


def parse_approval_content(
    content: WireContent, frame_type: str = "post_message", path: str = "content."
) -> ApprovalResponse | None:
    """The answer in `approval_content`'s content; ``None`` when ``content`` is not an
    approval answer (not a ``response_message``), ``CodecError`` when it is a malformed one."""
    if type(content) is not dict or content.get("type_string") != "response_message":
        return None
    value = _obj(content, "value", frame_type, path)
    answer = _obj(value, "tool_call_approval", frame_type, path + "value.")
    confirm = answer.get("confirm")
    if type(confirm) is dict:
        return ApprovalResponse(True, confirm=cast("dict[str, Any]", confirm))
    deny = answer.get("deny")
    if type(deny) is str:
        return ApprovalResponse(False, deny_reason=deny)
    raise CodecError(
        "an approval answer must be {'confirm': {...}} or {'deny': <reason>}",
        frame_type=frame_type,
        field=path + "value.tool_call_approval",
    )


# --- the one converter: client frames and public types <-> plain JSON values ---------------

converter = cattrs.Converter()


def _strict_str(value: Any, _: type) -> str:
    if type(value) is not str:
        raise TypeError(f"expected a string, got {_json_type(value)}")
    return value


def _wire_content(value: Any, _: Any) -> WireContent:
    if type(value) is str or type(value) is dict:
        return cast("WireContent", value)
    raise TypeError(f"expected a string or an object, got {_json_type(value)}")


def _wire_content_list(value: Any, _: Any) -> list[WireContent]:
    if type(value) is not list:
        raise TypeError(f"expected an array, got {_json_type(value)}")
    return [_wire_content(item, None) for item in cast("Sequence[Any]", value)]


converter.register_structure_hook(str, _strict_str)
converter.register_structure_hook_func(lambda t: t == WireContent, _wire_content)
converter.register_structure_hook_func(lambda t: t == list[WireContent], _wire_content_list)


def _unstructure_client_frame(frame: ClientFrame) -> dict[str, Any]:
    out: dict[str, Any] = {"type": frame.TYPE}
    for field in attrs.fields(type(frame)):
        value = getattr(frame, field.name)
        if value is not None:
            out[field.name] = value
    return out


for _cls in _CLIENT_FRAMES.values():
    converter.register_unstructure_hook(_cls, _unstructure_client_frame)

converter.register_unstructure_hook(
    SessionEvent,
    lambda e: {
        "type": e.type.value,
        "session_id": e.session_id,
        "message_id": e.message_id,
        "data": e.data,
    },
)
converter.register_structure_hook(
    SessionEvent,
    lambda d, _: SessionEvent(
        SessionEventType(d["type"]), d["session_id"], d.get("message_id"), dict(d.get("data") or {})
    ),
)
converter.register_unstructure_hook(SessionMessage, lambda m: m.raw)
converter.register_structure_hook(SessionMessage, lambda d, _: decode_stored_message(d))


def encode_client_frame(frame: ClientFrame) -> str:
    """A client frame as JSON text, ready to send."""
    return dumps(converter.unstructure(frame))


def _sub_errors(exc: cattrs.BaseValidationError) -> Sequence[BaseException]:
    # ExceptionGroup's, which cattrs takes from the exceptiongroup backport before 3.11
    return cast("Sequence[BaseException]", exc.exceptions)


def _field_of(exc: BaseException) -> tuple[str | None, str]:
    """The failing attribute and the reason, out of cattrs' detailed validation error."""
    if isinstance(exc, cattrs.ClassValidationError):
        for sub in _sub_errors(exc):
            notes = getattr(sub, "__notes__", [])
            for note in notes:
                if note.startswith("Structuring class") and "@ attribute" in note:
                    name = note.rsplit("@ attribute ", 1)[1].split(" ", 1)[0].strip()
                    if isinstance(sub, KeyError):
                        return name, "missing"
                    inner_field, reason = _field_of(sub)
                    return name if inner_field is None else f"{name}.{inner_field}", reason
        return None, str(_sub_errors(exc)[0]) if _sub_errors(exc) else str(exc)
    if isinstance(exc, cattrs.IterableValidationError):
        return None, str(_sub_errors(exc)[0]) if _sub_errors(exc) else str(exc)
    return None, str(exc)


def decode_client_frame(text: str | bytes | bytearray | Mapping[str, Any]) -> ClientFrame:
    """Engine side: a client frame (JSON text, or an already parsed object) -> its typed frame."""
    frame = text if isinstance(text, Mapping) else _loads(text, "client frame")
    frame_type = frame.get("type")
    if type(frame_type) is not str:
        what = (
            "missing" if frame_type is None else f"expected a string, got {_json_type(frame_type)}"
        )
        raise CodecError(what, field="type")
    cls = _CLIENT_FRAMES.get(frame_type)
    if cls is None:
        raise CodecError(
            f"unknown client frame type; expected one of {', '.join(sorted(_CLIENT_FRAMES))}",
            frame_type=frame_type,
            field="type",
        )
    try:
        result: ClientFrame = converter.structure(frame, cls)
    except Exception as exc:  # cattrs wraps whatever a hook raised
        field, reason = _field_of(exc)
        raise CodecError(reason, frame_type=frame_type, field=field) from None
    return result


# --- stored messages ------------------------------------------------------------------------


def _sender(raw: dict[str, Any], frame_type: str, path: str) -> MessageSender:
    if not raw:
        return MessageSender(role=SessionMessageRole.UNKNOWN)
    if "user_id" in raw:
        return MessageSender(
            role=SessionMessageRole.USER, user_id=_opt_str(raw, "user_id", frame_type, path)
        )
    if "object_id" in raw:
        return MessageSender(
            role=SessionMessageRole.OBJECT,
            object_id=_opt_str(raw, "object_id", frame_type, path),
            object_type=_opt_str(raw, "object_type", frame_type, path),
        )
    return MessageSender(role=SessionMessageRole.UNKNOWN)


def decode_stored_message(
    message: Any, frame_type: str = "get_messages", path: str = "messages[]."
) -> SessionMessage:
    """A stored message (history item, or the ``message`` of a notification) -> ``SessionMessage``."""
    if type(message) is not dict:
        raise CodecError(
            f"a stored message must be an object, got {_json_type(message)}",
            frame_type=frame_type,
            field=path.rstrip(".") or None,
        )
    fields: dict[str, Any] = message  # pyright: ignore[reportUnknownVariableType]  # no cast() call
    content = _opt_obj(fields, "content", frame_type, path)
    content_type = _opt_str(content, "type", frame_type, path + "content.") or ""
    text: str | None = None
    status: SessionMessageStatus | None = None
    if content_type == "data_type_message":
        value = content.get("value")
        text = None if value is None else str(value)
        raw_status = _opt_str(content, "status", frame_type, path + "content.")
        if raw_status:
            try:
                status = SessionMessageStatus(raw_status.lower())
            except ValueError:
                status = None
    elif content_type == "error_message":
        text = _opt_str(content, "error", frame_type, path + "content.")
    elif content_type in ("thinking", "tool_call", "agent_task", "tool_result"):
        found = content.get("content") or content.get("tool_name")
        text = str(found) if found else None
    return SessionMessage(
        id=_opt_str(fields, "id", frame_type, path) or "",
        session_id=_opt_str(fields, "session_id", frame_type, path) or "",
        sender=_sender(_opt_obj(fields, "sender", frame_type, path), frame_type, path + "sender."),
        content_type=content_type,
        text=text,
        status=status,
        raw=fields,
    )


# --- engine frames -> events (client side; the hot path) ------------------------------------


@attrs.frozen
class Answer:
    """An engine frame that answers a client request (``request``: its frame type).

    ``event`` is what listeners are shown of it (``None`` for the history), ``error`` the
    engine's refusal (the event is then an ``ERROR``), ``messages`` the history, ``after``
    what a paged history says it follows (the extension).
    """

    request: str
    event: SessionEvent | None
    error: str | None = None
    messages: list[SessionMessage] | None = None
    after: str | None = None


Decoded = Union[SessionEvent, Answer, None]


def _ack(event_type: SessionEventType) -> Callable[[dict[str, Any], str], Answer]:
    def decode(frame: dict[str, Any], session_id: str) -> Answer:
        frame_type = frame["type"]
        if _opt_bool(frame, "success", frame_type) is False:
            error = _opt_str(frame, "error", frame_type) or f"{frame_type} failed"
            data = {"error": error, "request_type": frame_type}
            return Answer(frame_type, SessionEvent(ET.ERROR, session_id, None, data), error)
        return Answer(frame_type, SessionEvent(event_type, session_id, None, frame))

    return decode


def _session_created(frame: dict[str, Any], session_id: str) -> Answer:
    created = _str(frame, "session_id", "session_created")
    return Answer("create_session", SessionEvent(ET.SESSION_CREATED, created, None, frame))


def _message_delta(frame: dict[str, Any], session_id: str) -> SessionEvent:
    value = frame.get("value")
    if type(value) is not str:
        _str(frame, "value", "message_delta")  # raises, naming the field
    index = frame.get("index")
    if index is not None and type(index) is not int:
        raise CodecError(
            f"expected an integer, got {_json_type(index)}",
            frame_type="message_delta",
            field="index",
        )
    message_id = frame.get("message_id")
    if message_id is not None and type(message_id) is not str:
        _opt_str(frame, "message_id", "message_delta")
    return SessionEvent(ET.MESSAGE_DELTA, session_id, message_id, {"delta": value, "index": index})


def _text_of(content: dict[str, Any]) -> dict[str, Any]:
    return {"text": content.get("value") or content.get("content")}


def _notification(frame: dict[str, Any], session_id: str) -> SessionEvent:
    ft = "message_notification"
    message = _obj(frame, "message", ft)
    message_id = _opt_str(message, "id", ft, "message.")
    content = _opt_obj(message, "content", ft, "message.")
    content_type = _opt_str(content, "type", ft, "message.content.")
    if content_type == "data_type_message":
        status = _opt_str(content, "status", ft, "message.content.")
        if status == "Complete":
            return SessionEvent(
                ET.MESSAGE_COMPLETE,
                session_id,
                message_id,
                {"text": content.get("value"), "status": "complete"},
            )
        return SessionEvent(
            ET.MESSAGE_STREAMING,
            session_id,
            message_id,
            {"text": content.get("value"), "status": "streaming"},
        )
    if content_type == "error_message":
        error = _opt_str(content, "error", ft, "message.content.")
        return SessionEvent(ET.ERROR, session_id, message_id, {"error": error or "Unknown error"})
    if content_type == "tool_call":
        data = {k: content.get(k) for k in ("tool_name", "tool_id", "status")}
        return SessionEvent(ET.TOOL_CALL, session_id, message_id, data)
    if content_type == "tool_result":
        data = {k: content.get(k) for k in ("tool_name", "tool_id", "status", "output")}
        return SessionEvent(ET.TOOL_RESULT, session_id, message_id, data)
    if content_type == "thinking":
        data = {"content": content.get("content"), "summary": content.get("summary")}
        return SessionEvent(ET.THINKING, session_id, message_id, data)
    if content_type == "reasoning":
        return SessionEvent(ET.THINKING, session_id, message_id, _text_of(content))
    event_type = _CONTENT_AS_IS.get(content_type or "")
    if event_type is not None:
        return SessionEvent(event_type, session_id, message_id, content)
    if content_type == "agent_task":
        return SessionEvent(ET.MESSAGE_STREAMING, session_id, message_id, _text_of(content))
    return SessionEvent(ET.MESSAGE_STREAMING, session_id, message_id, content)


def stored_message_event(message: dict[str, Any], session_id: str) -> SessionEvent:
    """The event a stored message gives when notified (used to backfill after a reconnect)."""
    return _notification({"type": "message_notification", "message": message}, session_id)


_CONTENT_AS_IS = {
    "tool_call_approval": ET.APPROVAL_REQUEST,
    "reauthorization_request": ET.REAUTH_REQUEST,
    "search_message": ET.SEARCH_RESULT,
}


def _participant_status(frame: dict[str, Any], session_id: str) -> SessionEvent:
    message = _obj(frame, "message", "participant_status")
    return SessionEvent(ET.PARTICIPANT_STATUS, session_id, None, message)


def _history(frame: dict[str, Any], session_id: str) -> Answer:
    messages = frame.get("messages")
    if messages is None:
        messages = []
    elif type(messages) is not list:
        raise CodecError(
            f"expected an array, got {_json_type(messages)}",
            frame_type="get_messages",
            field="messages",
        )
    after = frame.get("after")
    return Answer(
        "get_messages",
        None,
        messages=[decode_stored_message(m) for m in cast("Sequence[Any]", messages)],
        after=after if isinstance(after, str) else None,
    )


def _pong(frame: dict[str, Any], session_id: str) -> Answer:
    return Answer("ping_session", SessionEvent(ET.PONG, session_id, None, frame))


def _error(frame: dict[str, Any], session_id: str) -> SessionEvent | Answer:
    """An ``error`` frame: the refusal of a request when it names one of ours, else news."""
    error = _opt_str(frame, "error", "error") or "Unknown error"
    request_type = _opt_str(frame, "request_type", "error")
    event = SessionEvent(ET.ERROR, session_id, None, {"error": error, "request_type": request_type})
    if request_type in _CLIENT_FRAMES:
        return Answer(request_type, event, error)
    return event


def _no_event(frame: dict[str, Any], session_id: str) -> None:
    return None


_ENGINE_DECODERS: dict[str, Callable[[dict[str, Any], str], Decoded]] = {
    "message_delta": _message_delta,
    "message_notification": _notification,
    "participant_status": _participant_status,
    "session_created": _session_created,
    "connect_session": _ack(ET.SESSION_CONNECTED),
    "post_message": _ack(ET.MESSAGE_POSTED),
    "post_messages": _ack(ET.MESSAGES_POSTED),
    "get_messages": _history,
    "pong": _pong,
    "error": _error,
    "disconnect_session": _no_event,
    "terminate_session": _no_event,
}


_DELTA = ET.MESSAGE_DELTA


def decode_engine_frame(text: str | bytes | bytearray, session_id: str = "") -> Decoded:
    """Client side: one engine frame -> its event, an answer to a request, or ``None`` (no
    event). ``session_id`` is used for frames that do not name their session."""
    return _decode_engine_object(_load_engine_frame(text), session_id)


def decode_engine_frames(
    texts: Iterable[str | bytes | bytearray], session_id: str = ""
) -> tuple[list[SessionEvent | Answer], bool, list[CodecError]]:
    """Client side, the hot path: many engine frames, in order -> what they decode to (frames
    that are no event left out), whether every one was a message delta, and the errors of
    the malformed ones (left out too)."""
    decoded: list[SessionEvent | Answer] = []
    errors: list[CodecError] = []
    only_deltas = True
    loads, keep = json.loads, decoded.append
    for text in texts:
        try:
            frame = loads(text)
        except Exception:  # said properly by the general path
            frame = None
        # Declared, not cast(): no call per frame on the hot path.
        delta: dict[str, Any] | None = frame if type(frame) is dict else None  # pyright: ignore[reportUnknownVariableType]
        if delta is not None and delta.get("type") == "message_delta":
            # A well-formed delta, inline. Anything unusual in it takes the general path
            # (``_message_delta``), which decodes it the same way or names the bad field.
            sid = delta.get("session_id", session_id)
            value = delta.get("value")
            index = delta.get("index")
            message_id = delta.get("message_id")
            if (
                type(sid) is str
                and type(value) is str
                and (index is None or type(index) is int)
                and (message_id is None or type(message_id) is str)
            ):
                keep(SessionEvent(_DELTA, sid, message_id, {"delta": value, "index": index}))
                continue
        only_deltas = False
        try:
            item = _decode_engine_object(
                _load_engine_frame(text) if frame is None else frame, session_id
            )
        except CodecError as exc:
            errors.append(exc)
            continue
        if item is not None:
            keep(item)
    return decoded, only_deltas, errors


def _load_engine_frame(text: str | bytes | bytearray) -> Any:
    try:
        return json.loads(text)
    except (ValueError, TypeError) as exc:
        raise CodecError(f"engine frame is not valid JSON: {exc}") from None
    except RecursionError:
        raise CodecError("engine frame is nested too deeply to decode") from None


def _decode_engine_object(frame: Any, session_id: str) -> Decoded:
    if type(frame) is not dict:
        raise CodecError(f"engine frame must be a JSON object, got {_json_type(frame)}")
    fields: dict[str, Any] = frame  # pyright: ignore[reportUnknownVariableType]  # no cast() call
    frame_type = fields.get("type")
    decoder = _ENGINE_DECODERS.get(frame_type) if type(frame_type) is str else None
    if decoder is None:
        if type(frame_type) is not str:
            what = (
                "missing"
                if frame_type is None
                else f"expected a string, got {_json_type(frame_type)}"
            )
            raise CodecError(what, field="type")
        logger.debug(
            "session %s: dropping an engine frame of unknown type %r",
            session_id or "(new)",
            frame_type,
            extra={"session_id": session_id or None},
        )
        return None
    sid = fields.get("session_id", session_id)
    if type(sid) is not str:
        if sid is not None:
            raise CodecError(
                f"expected a string, got {_json_type(sid)}",
                frame_type=frame_type,
                field="session_id",
            )
        sid = session_id
    return decoder(fields, sid)
