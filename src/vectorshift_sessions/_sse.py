"""Server-Sent Events: a session's events as the messages a browser's ``EventSource`` reads.

Pure functions, for any web framework's streaming response (Flask ``Response``, Django
``StreamingHttpResponse``, Starlette ``StreamingResponse``)::

    def answer(question):
        with Session(session_id=...) as session:
            for event in session.stream(question, heartbeat=15):
                yield to_sse(event)  # None, after 15 quiet seconds: the heartbeat

In the browser, ``JSON.parse(message.data)`` gives back the event: ``type``, ``session_id``,
``message_id`` and ``data``; `event_from_json` turns that object, posted back (say, to
answer an approval request), into the ``SessionEvent`` again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

from ._types import EVENT_TYPE_NAMES, SessionEvent, SessionEventType

__all__ = ["SSE_HEARTBEAT", "event_from_json", "to_sse"]

SSE_HEARTBEAT = ": keep-alive\n\n"
"""A comment line, which browsers ignore: send it every few seconds while a turn is quiet, so
that proxies and load balancers do not close the idle response.
"""

_UNSAFE_IN_A_FIELD = ("\n", "\r", "\0")


def to_sse(event: SessionEvent | None) -> str:
    """One SSE message for ``event``: ``event:`` its type, ``id:`` its message id (when it has
    one that a field can carry: no line breaks or NUL), and ``data:`` the event as compact
    JSON (``type``, ``session_id``, ``message_id``, ``data``), ended by a blank line.

    The JSON is one line (line breaks in strings are escaped), so the browser parses exactly
    the event back. ``None`` (what ``stream(..., heartbeat=...)`` yields while a turn is
    quiet) gives ``SSE_HEARTBEAT``.

    Args:
        event: The event to send, or ``None`` for a heartbeat.

    Returns:
        The SSE message, ending in a blank line, to write to the response as it is.

    Raises:
        TypeError: The event's data holds something JSON cannot carry.
    """
    if event is None:
        return SSE_HEARTBEAT
    body = {
        "type": event.type.value,
        "session_id": event.session_id,
        "message_id": event.message_id,
        "data": event.data,
    }
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    if not data.isascii():
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: UTF-8 cannot carry it, escapes can
            data = json.dumps(body, separators=(",", ":"))
    lines = [f"event: {event.type.value}\n"]
    message_id = event.message_id
    if message_id and not any(c in message_id for c in _UNSAFE_IN_A_FIELD):
        lines.append(f"id: {message_id}\n")
    lines.append(f"data: {data}\n\n")
    return "".join(lines)


def event_from_json(value: object) -> SessionEvent:
    """The ``SessionEvent`` that `to_sse` sent, from its ``data:`` JSON (the text, or
    the object a browser parsed and posted back).

    Check what a browser posts against what the server knows (``respond()`` refuses a
    request that belongs to another session).

    Args:
        value: The ``data:`` JSON as text or bytes, or the object it parses to.

    Returns:
        The event, equal to the one ``to_sse()`` was given.

    Raises:
        ValueError: The JSON does not parse, or a field is missing or wrong (the message
            names it).
    """
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"an event's JSON did not parse: {exc}") from None
    if not isinstance(value, Mapping):
        raise ValueError(
            f"an event is a JSON object with type, session_id, message_id and data, "
            f"got {type(value).__name__}"
        )
    value = cast("Mapping[str, Any]", value)
    try:
        kind = SessionEventType(value.get("type"))
    except ValueError:
        wrong = value.get("type")
        raise ValueError(f"the event's type {wrong!r} is not one of: {EVENT_TYPE_NAMES}") from None
    session_id, message_id, data = (value.get(k) for k in ("session_id", "message_id", "data"))
    if not isinstance(session_id, str):
        raise ValueError(f"the event's session_id must be a string, got {session_id!r}")
    if message_id is not None and not isinstance(message_id, str):
        raise ValueError(f"the event's message_id must be a string or null, got {message_id!r}")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"the event's data must be an object, got {type(data).__name__}")
    return SessionEvent(kind, session_id, message_id, cast("dict[str, Any]", data))
