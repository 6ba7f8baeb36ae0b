"""to_sse: what a browser's EventSource parses back is the event (a round trip through a
parser written from the HTML standard's event-stream rules)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vectorshift_sessions import (
    SSE_HEARTBEAT,
    SessionEvent,
    SessionEventType,
    event_from_json,
    to_sse,
)


def parse_event_stream(stream: str) -> list[dict[str, str]]:
    """The messages a browser dispatches (HTML standard, "Interpreting an event stream"):
    lines end at CRLF, LF or CR; a line starting with ':' is a comment; 'field: value'
    (one leading space dropped); data lines join with LF; a blank line dispatches."""
    messages: list[dict[str, str]] = []
    data: list[str] = []
    kind, last_id = "", ""
    for line in re.split(r"\r\n|\n|\r", stream):
        if line == "":
            if data:
                messages.append(
                    {"event": kind or "message", "id": last_id, "data": "\n".join(data)}
                )
            data, kind = [], ""
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            data.append(value)
        elif field == "event":
            kind = value
        elif field == "id" and "\0" not in value:
            last_id = value
    return messages


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(list(SessionEventType)),
    session_id=st.text(),
    message_id=st.none() | st.text(),
    data=st.dictionaries(st.text(), json_values, max_size=4),
)
def test_what_the_browser_parses_is_the_event(
    kind: SessionEventType, session_id: str, message_id: str | None, data: dict[str, Any]
) -> None:
    event = SessionEvent(kind, session_id, message_id, data)
    text = to_sse(event)
    text.encode("utf-8")  # what the response sends: always encodable
    (message,) = parse_event_stream(SSE_HEARTBEAT + text + SSE_HEARTBEAT)
    assert message["event"] == kind.value
    parsed = json.loads(message["data"])
    assert parsed == {
        "type": kind.value,
        "session_id": session_id,
        "message_id": message_id,
        "data": data,
    }
    safe = message_id and not any(c in message_id for c in "\r\n\0")
    assert message["id"] == (message_id if safe else "")
    # posted back by the browser (as text or parsed), it is the event again
    assert event_from_json(message["data"]) == event
    assert event_from_json(parsed) == event


def test_the_message_reads_as_the_issue_describes() -> None:
    event = SessionEvent(SessionEventType.MESSAGE_DELTA, "s1", "m1", {"delta": "Hé\nllo"})
    assert to_sse(event) == (
        "event: message_delta\n"
        "id: m1\n"
        'data: {"type":"message_delta","session_id":"s1","message_id":"m1",'
        '"data":{"delta":"Hé\\nllo"}}\n\n'
    )


def test_the_heartbeat_is_a_comment_that_dispatches_nothing() -> None:
    assert SSE_HEARTBEAT.startswith(":") and SSE_HEARTBEAT.endswith("\n\n")
    assert parse_event_stream(SSE_HEARTBEAT * 3) == []


def test_a_lone_surrogate_is_escaped_so_utf8_can_carry_it() -> None:
    event = SessionEvent(SessionEventType.MESSAGE_DELTA, "s", None, {"delta": "\ud800"})
    text = to_sse(event)
    text.encode("utf-8")
    (message,) = parse_event_stream(text)
    assert json.loads(message["data"])["data"] == {"delta": "\ud800"}


def test_none_is_the_heartbeat() -> None:
    assert to_sse(None) == SSE_HEARTBEAT


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("{not json", "did not parse"),
        ("[1, 2]", "a JSON object with type, session_id"),
        ({"type": "nonsense", "session_id": "s"}, "'nonsense' is not one of: message_delta"),
        ({"session_id": "s"}, "type None is not one of"),
        ({"type": "message_delta", "session_id": 3}, "session_id must be a string, got 3"),
        ({"type": "message_delta", "session_id": "s", "message_id": 4}, "message_id must be"),
        ({"type": "message_delta", "session_id": "s", "data": [1]}, "data must be an object"),
    ],
)
def test_a_bad_event_from_a_browser_says_what_is_wrong(value: Any, complaint: str) -> None:
    with pytest.raises(ValueError, match=re.escape(complaint)):
        event_from_json(value)


def test_an_event_without_message_id_or_data_is_read_leniently() -> None:
    event = event_from_json({"type": "pong", "session_id": "s"})
    assert event == SessionEvent(SessionEventType.PONG, "s", None, {})
