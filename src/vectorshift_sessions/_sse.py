"""Server-Sent Events: a session's events as the messages a browser's ``EventSource`` reads.

Pure functions, for any web framework's streaming response (Flask ``Response``, Django
``StreamingHttpResponse``, Starlette ``StreamingResponse``)::

    def answer(question):
        with Session(session_id=...) as session:
            for event in session.stream(question):
                yield to_sse(event)

In the browser, ``JSON.parse(message.data)`` gives back the event: ``type``, ``session_id``,
``message_id`` and ``data``.
"""

from __future__ import annotations

import json

from ._types import SessionEvent

__all__ = ["SSE_HEARTBEAT", "to_sse"]

#: A comment line, which browsers ignore: send it every few seconds while a turn is quiet, so
#: that proxies and load balancers do not close the idle response.
SSE_HEARTBEAT = ": keep-alive\n\n"

_UNSAFE_IN_A_FIELD = ("\n", "\r", "\0")


def to_sse(event: SessionEvent) -> str:
    """One SSE message for ``event``: ``event:`` its type, ``id:`` its message id (when it has
    one that a field can carry: no line breaks or NUL), and ``data:`` the event as compact
    JSON (``type``, ``session_id``, ``message_id``, ``data``), ended by a blank line.

    The JSON is one line (line breaks in strings are escaped), so the browser parses exactly
    the event back. Raises ``TypeError`` if the event's data holds something JSON cannot
    carry.
    """
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
