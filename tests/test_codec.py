"""The wire codec: every frame of the protocol, both directions, and malformed input."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests._frames import (
    AGENT,
    APPROVE_CONTENT,
    CLIENT_FRAME_TYPES,
    CLIENT_FRAMES,
    DENY_CONTENT,
    ENGINE_FRAME_TYPES,
    FILE_CONTENT,
    MID,
    SID,
    USER,
    content_objects,
    frames_with_type,
    json_values,
    notification,
    stored,
    stored_messages,
)
from vectorshift_sessions import (
    ApprovalResponse,
    CodecError,
    MessageSender,
    ParticipantStatus,
    SessionEvent,
    SessionEventType,
    SessionMessage,
    SessionMessageRole,
    SessionMessageStatus,
    VectorShiftError,
)
from vectorshift_sessions import _codec as codec
from vectorshift_sessions._codec import (
    Answer,
    ConnectSession,
    CreateSession,
    DisconnectSession,
    GetMessages,
    PingSession,
    PostMessage,
    PostMessages,
    TerminateSession,
    approval_answer,
    approval_content,
    decode_client_frame,
    decode_engine_frame,
    decode_engine_frames,
    decode_stored_message,
    dumps,
    encode_client_frame,
    parse_approval_content,
)
from vectorshift_sessions.engine import _frames

ET = SessionEventType
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- client frames --------------------------------------------------------------------------

TYPED_CLIENT_FRAMES: dict[str, Any] = {
    "create_session agent": CreateSession(object_type="agent", object_id="agent-1"),
    "create_session chatbot": CreateSession(object_type="chatbot", object_id="bot-1"),
    "connect_session": ConnectSession(session_id=SID),
    "post_message": PostMessage(session_id=SID, content="hi"),
    "post_message typed text": PostMessage(
        session_id=SID, content={"type_string": "text/markdown", "value": "# hi"}
    ),
    "post_message file": PostMessage(session_id=SID, content=FILE_CONTENT),
    "post_message with parent": PostMessage(session_id=SID, content="hi", parent_message_id=MID),
    "post_message approve": PostMessage(
        session_id=SID,
        content=approval_content(True, {"to": "a@b.c"}),
        parent_message_id=MID,
    ),
    "post_message deny": PostMessage(
        session_id=SID, content=approval_content(False), parent_message_id=MID
    ),
    "post_messages": PostMessages(session_id=SID, messages=["summarize", FILE_CONTENT]),
    "post_messages empty": PostMessages(session_id=SID, messages=[]),
    "get_messages": GetMessages(session_id=SID),
    "ping_session": PingSession(session_id=SID),
    "disconnect_session": DisconnectSession(session_id=SID),
    "terminate_session": TerminateSession(session_id=SID),
}


def test_every_client_frame_type_is_covered() -> None:
    assert {f["type"] for f in CLIENT_FRAMES.values()} == set(CLIENT_FRAME_TYPES)
    assert set(TYPED_CLIENT_FRAMES) == set(CLIENT_FRAMES)


@pytest.mark.parametrize("name", sorted(CLIENT_FRAMES))
def test_client_frame_json_matches_protocol(name: str) -> None:
    text = encode_client_frame(TYPED_CLIENT_FRAMES[name])
    assert json.loads(text) == CLIENT_FRAMES[name]


@pytest.mark.parametrize("name", sorted(CLIENT_FRAMES))
def test_client_frame_round_trips(name: str) -> None:
    frame = TYPED_CLIENT_FRAMES[name]
    text = encode_client_frame(frame)
    decoded = decode_client_frame(text)
    assert type(decoded) is type(frame)
    assert decoded == frame
    assert decode_client_frame(text.encode()) == frame
    assert decode_client_frame(bytearray(text.encode())) == frame
    assert decode_client_frame(CLIENT_FRAMES[name]) == frame  # an already parsed object


def test_post_message_without_parent_omits_the_field() -> None:
    assert "parent_message_id" not in json.loads(
        encode_client_frame(PostMessage(session_id=SID, content="hi"))
    )
    assert decode_client_frame(CLIENT_FRAMES["post_message"]).parent_message_id is None  # type: ignore[union-attr]


def test_client_frame_json_is_compact_and_keeps_unicode() -> None:
    text = encode_client_frame(PostMessage(session_id=SID, content="héllo ☃ 日本"))
    assert text == '{"type":"post_message","session_id":"sess-1","content":"héllo ☃ 日本"}'
    assert decode_client_frame(text) == PostMessage(session_id=SID, content="héllo ☃ 日本")


def test_decode_client_frame_ignores_unknown_fields() -> None:
    frame = {**CLIENT_FRAMES["ping_session"], "extra": {"x": 1}}
    assert decode_client_frame(frame) == PingSession(session_id=SID)


def test_approval_content_matches_protocol() -> None:
    assert approval_content(True, {"to": "a@b.c"}) == APPROVE_CONTENT
    assert approval_content(False) == DENY_CONTENT
    assert approval_content(False, deny_reason="not now") == {
        "type_string": "response_message",
        "value": {"tool_call_approval": {"deny": "not now"}},
    }
    assert approval_content(True) == {
        "type_string": "response_message",
        "value": {"tool_call_approval": {"confirm": {}}},
    }
    # Approving ignores a deny reason; denying ignores confirm values.
    assert approval_content(True, {}, deny_reason="x") == approval_content(True)
    assert approval_content(False, {"a": 1}) == DENY_CONTENT


def test_approval_content_copies_confirm() -> None:
    confirm = {"to": "a@b.c"}
    content = approval_content(True, confirm)
    confirm["to"] = "changed"
    assert content["value"]["tool_call_approval"]["confirm"] == {"to": "a@b.c"}


@settings(max_examples=200, deadline=None)
@given(
    approved=st.booleans(),
    confirm=st.none() | st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    deny_reason=st.none() | st.text(max_size=20),
)
def test_approval_content_round_trips(
    approved: bool, confirm: dict[str, Any] | None, deny_reason: str | None
) -> None:
    content = approval_content(approved, confirm, deny_reason)
    # Through the wire, as the engine receives it.
    frame = PostMessage(session_id=SID, content=content, parent_message_id=MID)
    received = decode_client_frame(encode_client_frame(frame))
    assert isinstance(received, PostMessage)
    answer = parse_approval_content(received.content)
    if approved:
        assert answer == ApprovalResponse(True, confirm=confirm or {})
    else:
        assert answer == ApprovalResponse(
            False, deny_reason=deny_reason or "User denied tool call."
        )
    assert approval_content(True, {"a": 1})["value"]["tool_call_approval"] == approval_answer(
        True, {"a": 1}
    )


@pytest.mark.parametrize(
    "content",
    ["hi", {"type_string": "text/plain", "value": "hi"}, FILE_CONTENT, {"value": {}}],
    ids=str,
)
def test_other_content_is_not_an_approval_answer(content: Any) -> None:
    assert parse_approval_content(content) is None


@pytest.mark.parametrize(
    ("content", "field", "reason"),
    [
        ({"type_string": "response_message"}, "content.value", "missing"),
        ({"type_string": "response_message", "value": "yes"}, "content.value", "got a string"),
        (
            {"type_string": "response_message", "value": {}},
            "content.value.tool_call_approval",
            "missing",
        ),
        (
            {"type_string": "response_message", "value": {"tool_call_approval": []}},
            "content.value.tool_call_approval",
            "got an array",
        ),
        (
            {"type_string": "response_message", "value": {"tool_call_approval": {}}},
            "content.value.tool_call_approval",
            "'confirm'",
        ),
        (
            {
                "type_string": "response_message",
                "value": {"tool_call_approval": {"confirm": "yes", "deny": 5}},
            },
            "content.value.tool_call_approval",
            "'deny'",
        ),
    ],
    ids=lambda v: str(v)[:50],
)
def test_malformed_approval_answers(content: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(CodecError) as info:
        parse_approval_content(content)
    assert (info.value.frame_type, info.value.field) == ("post_message", field)
    assert reason in str(info.value)
    with pytest.raises(CodecError) as info:
        parse_approval_content(content, "post_messages", "messages[].")
    assert info.value.frame_type == "post_messages"
    assert info.value.field == field.replace("content.", "messages[].", 1)


if sys.version_info >= (3, 11):
    try:
        import vectorshift.session as official_session
    except ImportError:  # pragma: no cover
        official_session = None
else:
    official_session = None

needs_official = pytest.mark.skipif(
    official_session is None, reason="the official client (vectorshift, Python 3.11+) is absent"
)


def _official_frames(action: Any) -> list[dict[str, Any]]:
    """The frames the official client sends for ``action(session)``, captured at its socket."""
    import asyncio

    sent: list[dict[str, Any]] = []

    class Capturing(official_session.Session):  # type: ignore[misc,name-defined]
        def _ensure_connected(self) -> None:
            pass

        async def _ws_send(self, data: dict[str, Any]) -> None:
            sent.append(json.loads(json.dumps(data)))

    asyncio.run(action(Capturing(session_id=SID)))
    return sent


def _approval(message_id: str | None = MID) -> Any:
    from vectorshift.events import SessionEvent as OfficialEvent
    from vectorshift.events import SessionEventType as OfficialType

    return OfficialEvent(type=OfficialType.APPROVAL_REQUEST, session_id=SID, message_id=message_id)


@needs_official
@pytest.mark.parametrize(
    ("kwargs", "ours"),
    [
        ({"approved": True}, approval_content(True)),
        ({"approved": True, "confirm": {"to": "a@b.c"}}, approval_content(True, {"to": "a@b.c"})),
        ({"approved": False}, approval_content(False)),
        ({"approved": False, "deny_reason": "no"}, approval_content(False, deny_reason="no")),
    ],
    ids=["approve", "approve with fields", "deny", "deny with reason"],
)
def test_approval_frame_matches_the_official_client(
    kwargs: dict[str, Any], ours: dict[str, Any]
) -> None:
    (theirs,) = _official_frames(lambda s: s.respond_approval(_approval(), **kwargs))
    frame = PostMessage(session_id=SID, content=ours, parent_message_id=MID)
    assert json.loads(encode_client_frame(frame)) == theirs
    assert codec.DEFAULT_DENY_REASON == "User denied tool call."


# --- engine frames: builders match the protocol's field names -------------------------------

BUILT_VS_PROTOCOL: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (_frames.session_created(SID), {"type": "session_created", "session_id": SID}),
    (
        _frames.connect_ack(SID),
        {"type": "connect_session", "session_id": SID, "success": True, "error": None},
    ),
    (
        _frames.connect_ack(SID, False, "unknown session"),
        {
            "type": "connect_session",
            "session_id": SID,
            "success": False,
            "error": "unknown session",
        },
    ),
    (
        _frames.post_ack("post_message", SID),
        {"type": "post_message", "session_id": SID, "success": True, "error": None},
    ),
    (
        _frames.post_ack("post_messages", SID, False, "busy"),
        {"type": "post_messages", "session_id": SID, "success": False, "error": "busy"},
    ),
    (
        _frames.message_delta(SID, MID, "Hel", 0),
        {"type": "message_delta", "session_id": SID, "message_id": MID, "value": "Hel", "index": 0},
    ),
    (
        _frames.participant_status(SID, ParticipantStatus.IDLE),
        {"type": "participant_status", "session_id": SID, "message": {"status": "Idle"}},
    ),
    (
        _frames.participant_status(SID, "AwaitingApproval"),
        {
            "type": "participant_status",
            "session_id": SID,
            "message": {"status": "AwaitingApproval"},
        },
    ),
    (
        _frames.history(SID, [stored({"type": "data_type_message", "value": "hi"})]),
        {
            "type": "get_messages",
            "session_id": SID,
            "messages": [stored({"type": "data_type_message", "value": "hi"})],
        },
    ),
    (_frames.pong(SID), {"type": "pong", "session_id": SID}),
    (
        _frames.error_frame("bad", "post_message", SID),
        {"type": "error", "error": "bad", "request_type": "post_message", "session_id": SID},
    ),
    (_frames.error_frame("bad"), {"type": "error", "error": "bad", "request_type": None}),
    (_frames.disconnect_ack(SID), {"type": "disconnect_session", "session_id": SID}),
    (_frames.terminate_ack(SID), {"type": "terminate_session", "session_id": SID}),
    (
        _frames.message_notification(
            _frames.stored_message(
                MID, SID, _frames.object_sender("agent-1", "agent"), _frames.text_content("Hello")
            )
        ),
        notification({"type": "data_type_message", "value": "Hello", "status": "Complete"}),
    ),
    (_frames.user_sender("user-1"), USER),
    (_frames.object_sender("agent-1", "agent"), AGENT),
    (_frames.error_content("oops"), {"type": "error_message", "error": "oops"}),
    (
        _frames.tool_call_content("search", "t1", "running"),
        {"type": "tool_call", "tool_name": "search", "tool_id": "t1", "status": "running"},
    ),
    (
        _frames.tool_result_content("search", "t1", "complete", {"hits": 2}),
        {
            "type": "tool_result",
            "tool_name": "search",
            "tool_id": "t1",
            "status": "complete",
            "output": {"hits": 2},
        },
    ),
    (
        _frames.thinking_content("hmm", "short"),
        {"type": "thinking", "content": "hmm", "summary": "short"},
    ),
    (
        _frames.approval_request_content("send_email", "t2", fields=["to"]),
        {
            "type": "tool_call_approval",
            "tool_name": "send_email",
            "tool_id": "t2",
            "fields": ["to"],
        },
    ),
    (
        _frames.reauth_content("gmail"),
        {"type": "reauthorization_request", "provider": "gmail"},
    ),
    (
        _frames.search_content("q", [1]),
        {"type": "search_message", "query": "q", "results": [1]},
    ),
]


@pytest.mark.parametrize(("built", "expected"), BUILT_VS_PROTOCOL, ids=lambda v: str(v)[:50])
def test_engine_builders_match_protocol(built: dict[str, Any], expected: dict[str, Any]) -> None:
    assert built == expected
    assert json.loads(dumps(built)) == expected


def test_dumps_is_compact_and_keeps_unicode() -> None:
    assert dumps({"type": "pong", "x": "日本"}) == '{"type":"pong","x":"日本"}'


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.text(), max_size=6),
    start=st.integers(0, 10**6),
    ids=st.tuples(st.text(min_size=1, max_size=8), st.text(min_size=1, max_size=8)),
)
def test_encoded_message_deltas_are_the_same_frames(
    values: list[str], start: int, ids: tuple[str, str]
) -> None:
    session_id, message_id = ids
    frames = _frames.encoded_message_deltas(session_id, message_id, values, start)
    assert [json.loads(f) for f in frames] == [
        _frames.message_delta(session_id, message_id, v, i) for i, v in enumerate(values, start)
    ]
    for frame, (index, value) in zip(frames, enumerate(values, start), strict=True):
        event = decode_engine_frame(frame, "other")
        assert event == SessionEvent(
            ET.MESSAGE_DELTA, session_id, message_id, {"delta": value, "index": index}
        )


def test_history_only_contents_decode() -> None:
    upload = decode_stored_message(
        stored(_frames.stored_file_content("a.png", "image/png", 3), USER)
    )
    assert (upload.content_type, upload.text, upload.is_user) == ("file", None, True)
    answer = _frames.approval_response_content({"confirm": {}})
    assert answer == {"type": "response_message", "tool_call_approval": {"confirm": {}}}
    assert decode_stored_message(stored(answer, USER)).content_type == "response_message"
    assert _decode(notification(answer)) == SessionEvent(ET.MESSAGE_STREAMING, SID, MID, answer)


# --- engine frames -> events ----------------------------------------------------------------


def _decode(frame: dict[str, Any], default: str = "default-sid") -> Any:
    """The decoded frame; for an answer to a request, the event listeners are shown of it."""
    return _shown(decode_engine_frame(dumps(frame), default))


def _shown(result: Any) -> Any:
    return result.event if isinstance(result, Answer) and result.event is not None else result


def _expect(frame: dict[str, Any], kind: ET, data: dict[str, Any], message_id: str | None) -> None:
    event = _decode(frame)
    assert isinstance(event, SessionEvent)
    assert event == SessionEvent(kind, SID, message_id, data)
    assert event.type is kind


def test_session_created() -> None:
    frame = _frames.session_created(SID)
    _expect(frame, ET.SESSION_CREATED, frame, None)


def test_session_created_takes_its_own_session_id_not_the_default() -> None:
    event = _shown(decode_engine_frame(dumps(_frames.session_created("new-id")), "old-id"))
    assert isinstance(event, SessionEvent)
    assert event.session_id == "new-id"


def test_connect_ack() -> None:
    frame = _frames.connect_ack(SID)
    _expect(frame, ET.SESSION_CONNECTED, frame, None)


@pytest.mark.parametrize(
    ("request_type", "kind"),
    [("post_message", ET.MESSAGE_POSTED), ("post_messages", ET.MESSAGES_POSTED)],
)
def test_post_acks(request_type: str, kind: ET) -> None:
    frame = _frames.post_ack(request_type, SID)
    _expect(frame, kind, frame, None)
    # "success" absent counts as success, as in the official client.
    bare = {"type": request_type, "session_id": SID}
    _expect(bare, kind, bare, None)


@pytest.mark.parametrize("request_type", ["connect_session", "post_message", "post_messages"])
def test_failed_acks_become_errors(request_type: str) -> None:
    frame = {"type": request_type, "session_id": SID, "success": False, "error": "nope"}
    _expect(frame, ET.ERROR, {"error": "nope", "request_type": request_type}, None)
    event = _decode(frame)
    assert event.error == "nope"
    # With no error text the event still says what failed.
    for error in ({"error": None}, {}):
        frame = {"type": request_type, "session_id": SID, "success": False, **error}
        _expect(
            frame, ET.ERROR, {"error": f"{request_type} failed", "request_type": request_type}, None
        )


def test_failed_ack_built_with_builders() -> None:
    _expect(
        _frames.connect_ack(SID, False, "unknown session"),
        ET.ERROR,
        {"error": "unknown session", "request_type": "connect_session"},
        None,
    )
    _expect(
        _frames.post_ack("post_messages", SID, False, "busy"),
        ET.ERROR,
        {"error": "busy", "request_type": "post_messages"},
        None,
    )


def test_message_delta() -> None:
    _expect(
        _frames.message_delta(SID, MID, "Hel", 3),
        ET.MESSAGE_DELTA,
        {"delta": "Hel", "index": 3},
        MID,
    )
    event = _decode(_frames.message_delta(SID, MID, "Hel", 3))
    assert event.delta == "Hel"
    # index and message_id are optional on the wire
    _expect(
        {"type": "message_delta", "session_id": SID, "value": ""},
        ET.MESSAGE_DELTA,
        {"delta": "", "index": None},
        None,
    )


NOTIFICATION_ROWS: list[tuple[str, dict[str, Any], ET, dict[str, Any]]] = [
    (
        "data_type_message Complete",
        _frames.text_content("Hello", "Complete"),
        ET.MESSAGE_COMPLETE,
        {"text": "Hello", "status": "complete"},
    ),
    (
        "data_type_message Streaming",
        _frames.text_content("Hel", "Streaming"),
        ET.MESSAGE_STREAMING,
        {"text": "Hel", "status": "streaming"},
    ),
    (
        "data_type_message no status",
        {"type": "data_type_message", "value": "Hel"},
        ET.MESSAGE_STREAMING,
        {"text": "Hel", "status": "streaming"},
    ),
    (
        "data_type_message lower-case complete",  # only the exact "Complete" completes
        {"type": "data_type_message", "value": "Hel", "status": "complete"},
        ET.MESSAGE_STREAMING,
        {"text": "Hel", "status": "streaming"},
    ),
    (
        "error_message",
        _frames.error_content("it broke"),
        ET.ERROR,
        {"error": "it broke"},
    ),
    (
        "error_message without error",
        {"type": "error_message"},
        ET.ERROR,
        {"error": "Unknown error"},
    ),
    (
        "tool_call",
        _frames.tool_call_content("search", "t1", "running", arguments={"q": "x"}),
        ET.TOOL_CALL,
        {"tool_name": "search", "tool_id": "t1", "status": "running"},
    ),
    (
        "tool_result",
        _frames.tool_result_content("search", "t1", "complete", ["a", "b"]),
        ET.TOOL_RESULT,
        {"tool_name": "search", "tool_id": "t1", "status": "complete", "output": ["a", "b"]},
    ),
    (
        "thinking",
        _frames.thinking_content("let me see", "seeing"),
        ET.THINKING,
        {"content": "let me see", "summary": "seeing"},
    ),
    (
        "reasoning value",
        {"type": "reasoning", "value": "because"},
        ET.THINKING,
        {"text": "because"},
    ),
    (
        "reasoning content",
        {"type": "reasoning", "content": "because"},
        ET.THINKING,
        {"text": "because"},
    ),
    (
        "tool_call_approval",
        _frames.approval_request_content("send_email", "t2", arguments={"to": "x"}),
        ET.APPROVAL_REQUEST,
        _frames.approval_request_content("send_email", "t2", arguments={"to": "x"}),
    ),
    (
        "reauthorization_request",
        _frames.reauth_content("gmail", url="https://example.invalid/auth"),
        ET.REAUTH_REQUEST,
        _frames.reauth_content("gmail", url="https://example.invalid/auth"),
    ),
    (
        "search_message",
        _frames.search_content("cats", [{"title": "Cats"}]),
        ET.SEARCH_RESULT,
        _frames.search_content("cats", [{"title": "Cats"}]),
    ),
    (
        "agent_task value",
        {"type": "agent_task", "value": "step 1"},
        ET.MESSAGE_STREAMING,
        {"text": "step 1"},
    ),
    (
        "agent_task content",
        {"type": "agent_task", "content": "step 2"},
        ET.MESSAGE_STREAMING,
        {"text": "step 2"},
    ),
    (
        "unknown content type",
        {"type": "hologram", "value": 42},
        ET.MESSAGE_STREAMING,
        {"type": "hologram", "value": 42},
    ),
    ("content without type", {"value": 1}, ET.MESSAGE_STREAMING, {"value": 1}),
    ("empty content", {}, ET.MESSAGE_STREAMING, {}),
]


@pytest.mark.parametrize(
    ("content", "kind", "data"),
    [row[1:] for row in NOTIFICATION_ROWS],
    ids=[row[0] for row in NOTIFICATION_ROWS],
)
def test_message_notification_rows(content: dict[str, Any], kind: ET, data: dict[str, Any]) -> None:
    frame = _frames.message_notification(
        _frames.stored_message(MID, SID, _frames.object_sender("agent-1", "agent"), content)
    )
    _expect(frame, kind, data, MID)


def test_message_notification_helpers() -> None:
    complete = _decode(notification(_frames.text_content("Hello")))
    assert (complete.text, complete.is_complete, complete.status) == (
        "Hello",
        True,
        SessionMessageStatus.COMPLETE,
    )
    tool = _decode(notification(_frames.tool_call_content("search", "t1", "running")))
    assert tool.tool_name == "search"
    approval = _decode(notification(_frames.approval_request_content("send_email", "t2")))
    assert approval.requires_action is True
    assert approval.message_id == MID  # what respond() sends back as parent_message_id
    error = _decode(notification(_frames.error_content("bad")))
    assert error.error == "bad"


def test_message_notification_without_message_id() -> None:
    frame = {"type": "message_notification", "session_id": SID, "message": {"content": {}}}
    event = _decode(frame)
    assert event.message_id is None
    assert event.type is ET.MESSAGE_STREAMING


@pytest.mark.parametrize("status", list(ParticipantStatus))
def test_participant_status(status: ParticipantStatus) -> None:
    frame = _frames.participant_status(SID, status)
    _expect(frame, ET.PARTICIPANT_STATUS, {"status": status.value}, None)
    assert _decode(frame).participant_status is status


def test_pong() -> None:
    frame = _frames.pong(SID)
    _expect(frame, ET.PONG, frame, None)


def test_error_frame() -> None:
    frame = _frames.error_frame("bad frame", "post_message", SID)
    _expect(frame, ET.ERROR, {"error": "bad frame", "request_type": "post_message"}, None)
    bare = {"type": "error", "session_id": SID}
    _expect(bare, ET.ERROR, {"error": "Unknown error", "request_type": None}, None)


@pytest.mark.parametrize("frame", [_frames.disconnect_ack(SID), _frames.terminate_ack(SID)])
def test_disconnect_and_terminate_give_no_event(frame: dict[str, Any]) -> None:
    assert _decode(frame) is None


@pytest.mark.parametrize("frame_type", ["session_deleted", "", "PONG", "message_complete"])
def test_unknown_frame_types_are_dropped_with_a_debug_log(
    frame_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="vectorshift_sessions.connection"):
        assert _decode({"type": frame_type, "session_id": SID, "anything": [1]}) is None
    records = [r for r in caplog.records if r.name == "vectorshift_sessions.connection"]
    assert len(records) == 1
    assert records[0].levelno == logging.DEBUG
    assert repr(frame_type) in records[0].getMessage()


def test_known_frames_do_not_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="vectorshift_sessions.connection"):
        _decode(_frames.pong(SID))
    assert not [r for r in caplog.records if r.name == "vectorshift_sessions.connection"]


SESSIONLESS_FRAMES: list[tuple[dict[str, Any], ET]] = [
    ({"type": "pong"}, ET.PONG),
    ({"type": "error", "error": "x"}, ET.ERROR),
    ({"type": "connect_session", "success": True}, ET.SESSION_CONNECTED),
    ({"type": "connect_session", "success": False, "error": "x"}, ET.ERROR),
    ({"type": "post_message", "success": True}, ET.MESSAGE_POSTED),
    ({"type": "post_messages", "success": True}, ET.MESSAGES_POSTED),
    ({"type": "message_delta", "value": "x", "index": 0}, ET.MESSAGE_DELTA),
    ({"type": "participant_status", "message": {"status": "Idle"}}, ET.PARTICIPANT_STATUS),
    (
        {"type": "message_notification", "message": {"content": _frames.text_content("x")}},
        ET.MESSAGE_COMPLETE,
    ),
]


@pytest.mark.parametrize(("frame", "kind"), SESSIONLESS_FRAMES, ids=lambda v: str(v)[:40])
def test_frames_without_session_id_take_the_default(frame: dict[str, Any], kind: ET) -> None:
    for f in (frame, {**frame, "session_id": None}):
        event = _shown(decode_engine_frame(dumps(f), "the-default"))
        assert isinstance(event, SessionEvent)
        assert event.type is kind
        assert event.session_id == "the-default"
    assert _shown(decode_engine_frame(dumps(frame))).session_id == ""
    named = _shown(decode_engine_frame(dumps({**frame, "session_id": "named"}), "the-default"))
    assert named.session_id == "named"


def test_engine_frame_as_bytes() -> None:
    text = dumps(_frames.pong(SID))
    assert decode_engine_frame(text.encode(), "x") == decode_engine_frame(text, "x")
    assert decode_engine_frame(bytearray(text.encode()), "x") == decode_engine_frame(text, "x")


# --- get_messages -> an Answer with the history, and stored messages ------------------------------------


def test_history_answer() -> None:
    messages = [
        _frames.stored_message(
            "m1", SID, _frames.user_sender("user-1"), _frames.text_content("hi", "Complete")
        ),
        _frames.stored_message(
            "m2",
            SID,
            _frames.object_sender("agent-1", "agent"),
            _frames.text_content("yo", "Streaming"),
        ),
    ]
    answer = _decode(_frames.history(SID, messages))
    assert isinstance(answer, Answer)
    assert answer.request == "get_messages" and answer.event is None and answer.error is None
    assert answer.messages is not None
    assert [m.id for m in answer.messages] == ["m1", "m2"]
    first, second = answer.messages
    assert first == SessionMessage(
        id="m1",
        session_id=SID,
        sender=MessageSender(SessionMessageRole.USER, user_id="user-1"),
        content_type="data_type_message",
        text="hi",
        status=SessionMessageStatus.COMPLETE,
    )
    assert first.raw == messages[0]
    assert first.is_user and not first.is_agent
    assert second.sender == MessageSender(
        SessionMessageRole.OBJECT, object_id="agent-1", object_type="agent"
    )
    assert second.status is SessionMessageStatus.STREAMING
    assert second.is_agent


def test_history_answer_empty() -> None:
    empty = Answer("get_messages", None, messages=[])
    assert decode_engine_frame(dumps(_frames.history(SID, [])), "x") == empty
    assert decode_engine_frame('{"type":"get_messages"}', "dflt") == empty
    assert decode_engine_frame('{"type":"get_messages","messages":null}', "d") == empty


@pytest.mark.parametrize(
    ("frame", "answered", "kind", "error"),
    [
        (_frames.session_created(SID), "create_session", ET.SESSION_CREATED, None),
        (_frames.connect_ack(SID), "connect_session", ET.SESSION_CONNECTED, None),
        (_frames.connect_ack(SID, False, "gone"), "connect_session", ET.ERROR, "gone"),
        (_frames.post_ack("post_message", SID), "post_message", ET.MESSAGE_POSTED, None),
        (_frames.post_ack("post_messages", SID), "post_messages", ET.MESSAGES_POSTED, None),
        (_frames.pong(SID), "ping_session", ET.PONG, None),
        (_frames.error_frame("bad", "post_message", SID), "post_message", ET.ERROR, "bad"),
    ],
    ids=lambda v: str(v)[:30],
)
def test_answers_name_the_request_they_answer(
    frame: dict[str, Any], answered: str, kind: ET, error: str | None
) -> None:
    answer = decode_engine_frame(dumps(frame), SID)
    assert isinstance(answer, Answer)
    assert (answer.request, answer.error) == (answered, error)
    assert answer.event is not None and answer.event.type is kind


def test_an_error_naming_no_request_of_ours_is_news() -> None:
    for frame in (_frames.error_frame("bad"), _frames.error_frame("bad", "made_up", SID)):
        assert isinstance(decode_engine_frame(dumps(frame), SID), SessionEvent)


STORED_ROWS: list[tuple[str, dict[str, Any], str, str | None, SessionMessageStatus | None]] = [
    (
        "complete",
        {"type": "data_type_message", "value": "hi", "status": "Complete"},
        "data_type_message",
        "hi",
        SessionMessageStatus.COMPLETE,
    ),
    (
        "streaming",
        {"type": "data_type_message", "value": "h", "status": "Streaming"},
        "data_type_message",
        "h",
        SessionMessageStatus.STREAMING,
    ),
    (
        "error status",
        {"type": "data_type_message", "value": "h", "status": "Error"},
        "data_type_message",
        "h",
        SessionMessageStatus.ERROR,
    ),
    (
        "lower-case",
        {"type": "data_type_message", "value": "h", "status": "complete"},
        "data_type_message",
        "h",
        SessionMessageStatus.COMPLETE,
    ),
    (
        "other status",
        {"type": "data_type_message", "value": "h", "status": "Pending"},
        "data_type_message",
        "h",
        None,
    ),
    (
        "empty status",
        {"type": "data_type_message", "value": "h", "status": ""},
        "data_type_message",
        "h",
        None,
    ),
    ("no status", {"type": "data_type_message", "value": "h"}, "data_type_message", "h", None),
    (
        "number value",
        {"type": "data_type_message", "value": 42, "status": "Complete"},
        "data_type_message",
        "42",
        SessionMessageStatus.COMPLETE,
    ),
    (
        "object value",
        {"type": "data_type_message", "value": {"a": 1}},
        "data_type_message",
        "{'a': 1}",
        None,
    ),
    ("null value", {"type": "data_type_message", "value": None}, "data_type_message", None, None),
    ("empty value", {"type": "data_type_message", "value": ""}, "data_type_message", "", None),
    ("error_message", {"type": "error_message", "error": "bad"}, "error_message", "bad", None),
    ("error_message no error", {"type": "error_message"}, "error_message", None, None),
    ("thinking", {"type": "thinking", "content": "hmm", "summary": "s"}, "thinking", "hmm", None),
    (
        "tool_call",
        {"type": "tool_call", "tool_name": "search", "tool_id": "t"},
        "tool_call",
        "search",
        None,
    ),
    (
        "tool_call with content",
        {"type": "tool_call", "content": "c", "tool_name": "search"},
        "tool_call",
        "c",
        None,
    ),
    ("agent_task", {"type": "agent_task", "content": "step"}, "agent_task", "step", None),
    ("agent_task empty", {"type": "agent_task"}, "agent_task", None, None),
    (
        "tool_result",
        {"type": "tool_result", "tool_name": "search", "output": 1},
        "tool_result",
        "search",
        None,
    ),
    (
        "approval",
        {"type": "tool_call_approval", "tool_name": "x"},
        "tool_call_approval",
        None,
        None,
    ),
    ("unknown", {"type": "hologram", "value": "v"}, "hologram", None, None),
    ("no type", {"value": "v"}, "", None, None),
]


@pytest.mark.parametrize(
    ("content", "content_type", "text", "status"),
    [row[1:] for row in STORED_ROWS],
    ids=[row[0] for row in STORED_ROWS],
)
def test_stored_message_text_and_status(
    content: dict[str, Any],
    content_type: str,
    text: str | None,
    status: SessionMessageStatus | None,
) -> None:
    raw = stored(content)
    message = decode_stored_message(raw)
    assert message.content_type == content_type
    assert message.text == text
    assert message.status is status
    assert message.raw == raw
    assert (message.id, message.session_id) == (MID, SID)


def test_stored_message_without_content_or_ids() -> None:
    message = decode_stored_message({})
    assert message == SessionMessage(
        id="", session_id="", sender=MessageSender(SessionMessageRole.UNKNOWN)
    )
    assert message.raw == {}


SENDER_ROWS: list[tuple[Any, MessageSender]] = [
    ({"user_id": "u1"}, MessageSender(SessionMessageRole.USER, user_id="u1")),
    ({"user_id": None}, MessageSender(SessionMessageRole.USER)),
    (
        {"object_id": "a1", "object_type": "agent"},
        MessageSender(SessionMessageRole.OBJECT, object_id="a1", object_type="agent"),
    ),
    (
        {"object_id": "c1", "object_type": "chatbot"},
        MessageSender(SessionMessageRole.OBJECT, object_id="c1", object_type="chatbot"),
    ),
    ({"object_id": "a1"}, MessageSender(SessionMessageRole.OBJECT, object_id="a1")),
    ({"user_id": "u1", "object_id": "a1"}, MessageSender(SessionMessageRole.USER, user_id="u1")),
    ({"somebody": "x"}, MessageSender(SessionMessageRole.UNKNOWN)),
    ({}, MessageSender(SessionMessageRole.UNKNOWN)),
    (None, MessageSender(SessionMessageRole.UNKNOWN)),
]


@pytest.mark.parametrize(("sender", "expected"), SENDER_ROWS, ids=lambda v: str(v)[:40])
def test_stored_message_sender(sender: Any, expected: MessageSender) -> None:
    raw = {"id": "m", "session_id": "s", "sender": sender, "content": {}}
    assert decode_stored_message(raw).sender == expected


def test_stored_message_raw_is_kept_whole() -> None:
    raw = {**stored(_frames.text_content("hi")), "created_at": "2024-01-01", "extra": [1, 2]}
    message = decode_stored_message(raw)
    assert message.raw == raw
    assert message.raw["created_at"] == "2024-01-01"


def test_converter_round_trips_public_types() -> None:
    event = SessionEvent(ET.MESSAGE_DELTA, SID, MID, {"delta": "x", "index": 1})
    plain = codec.converter.unstructure(event)
    assert plain == {
        "type": "message_delta",
        "session_id": SID,
        "message_id": MID,
        "data": event.data,
    }
    assert codec.converter.structure(plain, SessionEvent) == event
    raw = stored(_frames.text_content("hi"))
    message = decode_stored_message(raw)
    assert codec.converter.unstructure(message) == raw
    assert codec.converter.structure(raw, SessionMessage) == message


# --- the official client as an oracle ------------------------------------------------------

ORACLE_FRAMES: list[dict[str, Any]] = [
    _frames.session_created(SID),
    _frames.connect_ack(SID),
    _frames.connect_ack(SID, False, "unknown session"),
    _frames.post_ack("post_message", SID),
    _frames.post_ack("post_messages", SID),
    _frames.post_ack("post_message", SID, False, "busy"),
    _frames.message_delta(SID, MID, "Hel", 0),
    {"type": "message_delta", "value": "x"},
    _frames.pong(SID),
    {"type": "pong"},
    _frames.error_frame("bad", "post_message", SID),
    {"type": "error"},
    _frames.disconnect_ack(SID),
    _frames.terminate_ack(SID),
    {"type": "who_knows", "session_id": SID},
    *(_frames.participant_status(SID, s) for s in ParticipantStatus),
    # every notification row except tool_result (an extension: the official client has no frame)
    *(notification(row[1]) for row in NOTIFICATION_ROWS if row[1].get("type") != "tool_result"),
]


def _official_parse(frame: dict[str, Any], default: str) -> Any:
    session = official_session.Session(session_id=default)
    logging.getLogger("vectorshift.session").disabled = True
    try:
        return session._parse_server_message(json.loads(dumps(frame)))
    finally:
        logging.getLogger("vectorshift.session").disabled = False


def _as_tuple(event: Any) -> Any:
    if event is None:
        return None
    return (str(event.type.value), event.session_id, event.message_id, event.data)


@needs_official
@pytest.mark.parametrize("frame", ORACLE_FRAMES, ids=lambda f: json.dumps(f)[:60])
def test_engine_frames_decode_like_the_official_client(frame: dict[str, Any]) -> None:
    ours = _shown(decode_engine_frame(dumps(frame), "default-sid"))
    theirs = _official_parse(frame, "default-sid")
    assert _as_tuple(ours) == _as_tuple(theirs)


@needs_official
def test_tool_result_is_an_extension_over_the_official_client() -> None:
    frame = notification(_frames.tool_result_content("search", "t1", "complete", 1))
    assert _decode(frame).type is ET.TOOL_RESULT
    assert _official_parse(frame, SID).type.value == "message_streaming"


@needs_official
def test_get_messages_is_not_an_event_unlike_the_official_client() -> None:
    frame = _frames.history(SID, [stored(_frames.text_content("hi"))])
    assert isinstance(_decode(frame), Answer)
    assert _official_parse(frame, SID).type.value == "message_complete"  # the known fault


def _documented_difference(frame: dict[str, Any]) -> bool:
    """Frames on which ours and the official client are documented to differ."""
    ftype = frame.get("type")
    if ftype == "get_messages":
        return True  # ours answers the caller; the official client fakes a MESSAGE_COMPLETE
    if "session_id" in frame and frame["session_id"] is None:
        return True  # the official client keeps None; ours uses the default
    failed_ack = ftype in ("connect_session", "post_message", "post_messages") and (
        frame.get("success") is False
    )
    if (failed_ack or ftype == "error") and not frame.get("error"):
        return True  # ours says what failed instead of an empty or null error
    if ftype == "message_notification":
        content = (frame.get("message") or {}).get("content") or {}
        if content.get("type") == "tool_result":
            return True  # extension
        if content.get("type") == "error_message" and not content.get("error", "absent"):
            return True  # ours says "Unknown error" instead of an empty or null error
    return False


@needs_official
@FUZZ
@given(frame=frames_with_type(ENGINE_FRAME_TYPES))
def test_whatever_we_decode_matches_the_official_client(frame: dict[str, Any]) -> None:
    try:
        ours = _shown(decode_engine_frame(dumps(frame), "default-sid"))
    except CodecError:
        return  # malformed for us; the official client may crash or guess
    if _documented_difference(frame):
        return
    try:
        theirs = _official_parse(frame, "default-sid")
    except (AttributeError, TypeError):
        return  # the official client crashes on explicit nulls that ours reads as absent
    assert _as_tuple(ours) == _as_tuple(theirs)


@needs_official
@FUZZ
@given(message=stored_messages())
def test_stored_messages_decode_like_the_official_client(message: dict[str, Any]) -> None:
    from vectorshift.events import SessionMessage as OfficialMessage

    try:
        ours = decode_stored_message(message)
    except CodecError:
        return
    content = message.get("content") or {}
    if content.get("type") in ("tool_result",):
        return  # extension: ours reads a text out of tool results
    try:
        theirs = OfficialMessage.from_dict(message)
    except (AttributeError, TypeError):
        return  # the official client crashes on explicit nulls that ours reads as absent
    assert ours.content_type == (theirs.content_type or "")  # a null type reads as ""
    assert ours.status == theirs.status
    # Ours turns non-string texts (thinking/tool_call content) into strings.
    expected_text = theirs.text if theirs.text is None else str(theirs.text)
    assert ours.text == expected_text
    # Ours keeps the ids typed as str: an explicit null becomes "" (the official client keeps None).
    assert (ours.id, ours.session_id) == (theirs.id or "", theirs.session_id or "")
    assert ours.sender.role.value == theirs.sender.role.value
    assert ours.raw is message


# --- malformed input: CodecError naming the frame type and the field ----------------------

NOT_OBJECTS = ["not json", "", "{", "[]", "1", '"pong"', "null", "true", '{"type": "pong"', "\x00"]


@pytest.mark.parametrize("text", NOT_OBJECTS)
def test_engine_frame_not_a_json_object(text: str) -> None:
    with pytest.raises(CodecError) as info:
        decode_engine_frame(text, SID)
    assert "engine frame" in str(info.value)
    assert info.value.frame_type is None


@pytest.mark.parametrize("text", NOT_OBJECTS)
def test_client_frame_not_a_json_object(text: str) -> None:
    with pytest.raises(CodecError) as info:
        decode_client_frame(text)
    assert "client frame" in str(info.value)
    assert info.value.frame_type is None


def test_not_json_messages_say_what_was_wrong() -> None:
    with pytest.raises(CodecError, match="not valid JSON"):
        decode_engine_frame("nope")
    with pytest.raises(CodecError, match="must be a JSON object, got an array"):
        decode_engine_frame("[1]")
    with pytest.raises(CodecError, match="must be a JSON object, got a string"):
        decode_client_frame('"x"')
    with pytest.raises(CodecError, match="must be a JSON object, got null"):
        decode_client_frame("null")


@pytest.mark.parametrize("data", [b"\xff\xfe\x00garbage", b'{"type":"pong","x":"\xff"}', b"\x80"])
def test_bad_utf8_is_a_codec_error(data: bytes) -> None:
    with pytest.raises(CodecError):
        decode_engine_frame(data)
    with pytest.raises(CodecError):
        decode_client_frame(data)


@pytest.mark.parametrize("bad", [None, 42, object(), ["x"]])
def test_non_text_input_is_a_codec_error(bad: Any) -> None:
    with pytest.raises(CodecError):
        decode_engine_frame(bad)
    with pytest.raises(CodecError):
        decode_client_frame(bad)


def test_deeply_nested_json_is_a_codec_error() -> None:
    depth = 100_000  # past any interpreter's recursion limit
    for text in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        with pytest.raises(CodecError, match="nested"):
            decode_engine_frame(text)
        with pytest.raises(CodecError, match="nested"):
            decode_client_frame(text)


def _field_error(frame: Any, frame_type: str | None, field: str, decoder: Any) -> CodecError:
    text = frame if isinstance(frame, str) else dumps(frame)
    with pytest.raises(CodecError) as info:
        decoder(text)
    error = info.value
    assert error.frame_type == frame_type
    assert error.field == field
    if frame_type is not None:
        assert f"frame {frame_type!r}" in str(error)
    assert f"field {field!r}" in str(error)
    assert isinstance(error, VectorShiftError)
    return error


MALFORMED_ENGINE: list[tuple[dict[str, Any], str | None, str, str]] = [
    ({"no_type": 1}, None, "type", "missing"),
    ({"type": None}, None, "type", "missing"),
    ({"type": 5}, None, "type", "expected a string, got a number"),
    ({"type": ["pong"]}, None, "type", "expected a string, got an array"),
    ({"type": "pong", "session_id": 5}, "pong", "session_id", "got a number"),
    ({"type": "pong", "session_id": {}}, "pong", "session_id", "got an object"),
    ({"type": "session_created"}, "session_created", "session_id", "missing"),
    ({"type": "session_created", "session_id": 1.5}, "session_created", "session_id", "number"),
    (
        {"type": "connect_session", "success": "false"},
        "connect_session",
        "success",
        "expected a boolean, got a string",
    ),
    ({"type": "connect_session", "success": 0}, "connect_session", "success", "boolean"),
    (
        {"type": "post_message", "success": False, "error": 5},
        "post_message",
        "error",
        "expected a string",
    ),
    ({"type": "post_messages", "success": []}, "post_messages", "success", "got an array"),
    ({"type": "message_delta"}, "message_delta", "value", "missing"),
    ({"type": "message_delta", "value": 5}, "message_delta", "value", "got a number"),
    (
        {"type": "message_delta", "value": "x", "index": "0"},
        "message_delta",
        "index",
        "expected an integer, got a string",
    ),
    ({"type": "message_delta", "value": "x", "index": 1.0}, "message_delta", "index", "integer"),
    ({"type": "message_delta", "value": "x", "index": True}, "message_delta", "index", "integer"),
    (
        {"type": "message_delta", "value": "x", "message_id": 7},
        "message_delta",
        "message_id",
        "string",
    ),
    ({"type": "message_notification"}, "message_notification", "message", "missing"),
    (
        {"type": "message_notification", "message": "hi"},
        "message_notification",
        "message",
        "expected an object, got a string",
    ),
    (
        {"type": "message_notification", "message": {"id": 5}},
        "message_notification",
        "message.id",
        "string",
    ),
    (
        {"type": "message_notification", "message": {"content": "x"}},
        "message_notification",
        "message.content",
        "object",
    ),
    (
        {"type": "message_notification", "message": {"content": {"type": 1}}},
        "message_notification",
        "message.content.type",
        "string",
    ),
    (
        {
            "type": "message_notification",
            "message": {"content": {"type": "data_type_message", "status": 1}},
        },
        "message_notification",
        "message.content.status",
        "string",
    ),
    (
        {
            "type": "message_notification",
            "message": {"content": {"type": "error_message", "error": []}},
        },
        "message_notification",
        "message.content.error",
        "string",
    ),
    ({"type": "participant_status"}, "participant_status", "message", "missing"),
    ({"type": "participant_status", "message": ["Idle"]}, "participant_status", "message", "array"),
    (
        {"type": "get_messages", "messages": {}},
        "get_messages",
        "messages",
        "expected an array, got an object",
    ),
    ({"type": "get_messages", "messages": [5]}, "get_messages", "messages[]", "must be an object"),
    ({"type": "get_messages", "messages": [{"id": 5}]}, "get_messages", "messages[].id", "string"),
    (
        {"type": "get_messages", "messages": [{"session_id": []}]},
        "get_messages",
        "messages[].session_id",
        "string",
    ),
    (
        {"type": "get_messages", "messages": [{"sender": "u"}]},
        "get_messages",
        "messages[].sender",
        "object",
    ),
    (
        {"type": "get_messages", "messages": [{"sender": {"user_id": 5}}]},
        "get_messages",
        "messages[].sender.user_id",
        "string",
    ),
    (
        {"type": "get_messages", "messages": [{"sender": {"object_id": "a", "object_type": 1}}]},
        "get_messages",
        "messages[].sender.object_type",
        "string",
    ),
    (
        {"type": "get_messages", "messages": [{"content": 1}]},
        "get_messages",
        "messages[].content",
        "object",
    ),
    (
        {"type": "get_messages", "messages": [{"content": {"type": {}}}]},
        "get_messages",
        "messages[].content.type",
        "string",
    ),
    (
        {
            "type": "get_messages",
            "messages": [{"content": {"type": "data_type_message", "status": True}}],
        },
        "get_messages",
        "messages[].content.status",
        "string",
    ),
    (
        {"type": "get_messages", "messages": [{"content": {"type": "error_message", "error": 1}}]},
        "get_messages",
        "messages[].content.error",
        "string",
    ),
    ({"type": "error", "error": 5}, "error", "error", "string"),
    ({"type": "error", "error": "x", "request_type": 5}, "error", "request_type", "string"),
]


@pytest.mark.parametrize(
    ("frame", "frame_type", "field", "reason"), MALFORMED_ENGINE, ids=lambda v: str(v)[:60]
)
def test_malformed_engine_frames(
    frame: dict[str, Any], frame_type: str | None, field: str, reason: str
) -> None:
    error = _field_error(frame, frame_type, field, lambda t: decode_engine_frame(t, SID))
    assert reason in str(error)


MALFORMED_CLIENT: list[tuple[dict[str, Any], str | None, str, str]] = [
    ({"session_id": SID}, None, "type", "missing"),
    ({"type": 1}, None, "type", "expected a string, got a number"),
    (
        {"type": "open_session", "session_id": SID},
        "open_session",
        "type",
        "unknown client frame type",
    ),
    ({"type": "pong"}, "pong", "type", "create_session"),  # lists what is accepted
    ({"type": "create_session", "object_id": "a"}, "create_session", "object_type", "missing"),
    ({"type": "create_session", "object_type": "agent"}, "create_session", "object_id", "missing"),
    (
        {"type": "create_session", "object_type": 1, "object_id": "a"},
        "create_session",
        "object_type",
        "expected a string, got a number",
    ),
    (
        {"type": "create_session", "object_type": "agent", "object_id": None},
        "create_session",
        "object_id",
        "expected a string, got null",
    ),
    ({"type": "connect_session"}, "connect_session", "session_id", "missing"),
    (
        {"type": "connect_session", "session_id": ["s"]},
        "connect_session",
        "session_id",
        "got an array",
    ),
    ({"type": "post_message", "session_id": SID}, "post_message", "content", "missing"),
    ({"type": "post_message", "content": "x"}, "post_message", "session_id", "missing"),
    (
        {"type": "post_message", "session_id": SID, "content": 5},
        "post_message",
        "content",
        "expected a string or an object, got a number",
    ),
    (
        {"type": "post_message", "session_id": SID, "content": None},
        "post_message",
        "content",
        "got null",
    ),
    (
        {"type": "post_message", "session_id": SID, "content": ["x"]},
        "post_message",
        "content",
        "got an array",
    ),
    (
        {"type": "post_message", "session_id": SID, "content": "x", "parent_message_id": 5},
        "post_message",
        "parent_message_id",
        "expected a string, got a number",
    ),
    ({"type": "post_messages", "session_id": SID}, "post_messages", "messages", "missing"),
    (
        {"type": "post_messages", "session_id": SID, "messages": "x"},
        "post_messages",
        "messages",
        "expected an array, got a string",
    ),
    (
        {"type": "post_messages", "session_id": SID, "messages": ["x", 5]},
        "post_messages",
        "messages",
        "got a number",
    ),
    (
        {"type": "post_messages", "session_id": 5, "messages": []},
        "post_messages",
        "session_id",
        "got a number",
    ),
    ({"type": "get_messages"}, "get_messages", "session_id", "missing"),
    ({"type": "ping_session", "session_id": True}, "ping_session", "session_id", "got a boolean"),
    (
        {"type": "disconnect_session", "session_id": 1.5},
        "disconnect_session",
        "session_id",
        "got a number",
    ),
    (
        {"type": "terminate_session", "session_id": {}},
        "terminate_session",
        "session_id",
        "got an object",
    ),
]


@pytest.mark.parametrize(
    ("frame", "frame_type", "field", "reason"), MALFORMED_CLIENT, ids=lambda v: str(v)[:60]
)
def test_malformed_client_frames(
    frame: dict[str, Any], frame_type: str | None, field: str, reason: str
) -> None:
    error = _field_error(frame, frame_type, field, decode_client_frame)
    assert reason in str(error)
    # The already-parsed form fails the same way.
    with pytest.raises(CodecError) as info:
        decode_client_frame(frame)
    assert (info.value.frame_type, info.value.field) == (frame_type, field)


def test_decode_stored_message_rejects_non_objects() -> None:
    for bad in (None, "x", 1, [], True):
        with pytest.raises(CodecError) as info:
            decode_stored_message(bad)
        assert (info.value.frame_type, info.value.field) == ("get_messages", "messages[]")
    with pytest.raises(CodecError) as info:
        decode_stored_message("x", "message_notification", "message.")
    assert (info.value.frame_type, info.value.field) == ("message_notification", "message")


def test_codec_error_without_location() -> None:
    error = CodecError("plain")
    assert str(error) == "plain"
    assert (error.frame_type, error.field) == (None, None)


# --- property-based: nothing but CodecError, ever ------------------------------------------


def _check_engine_result(result: Any, frame: Any) -> None:
    """A decoded engine frame is well typed; frames without a session id got the default."""
    assert result is None or isinstance(result, (SessionEvent, Answer))
    if isinstance(result, Answer):
        assert result.event is not None or result.messages is not None
        result = result.event if result.event is not None else result
    if isinstance(result, SessionEvent):
        named = frame.get("session_id")
        assert result.session_id == (named if isinstance(named, str) else "d")
    if isinstance(result, SessionEvent):
        assert isinstance(result.type, SessionEventType)
        assert isinstance(result.session_id, str)
        assert result.message_id is None or isinstance(result.message_id, str)
        assert isinstance(result.data, dict)
        repr(result)
        for helper in ("delta", "text", "tool_name", "status", "participant_status", "error"):
            getattr(result, helper)
        assert isinstance(result.requires_action, bool)
        assert isinstance(result.is_turn_end, bool)
    if isinstance(result, Answer):
        for message in result.messages or ():
            assert isinstance(message, SessionMessage)
            repr(message)


@FUZZ
@given(values=st.lists(json_values, max_size=6), deltas=st.lists(st.integers(0, 5), max_size=6))
def test_a_batch_decodes_as_its_frames_one_by_one(values: list[Any], deltas: list[int]) -> None:
    texts = [json.dumps(v) for v in values]
    texts += [dumps(_frames.message_delta(SID, "m", "x" * n, n)) for n in deltas]
    texts.append("{broken")
    decoded, only_deltas, errors = decode_engine_frames(texts, "d")
    one_by_one: list[Any] = []
    failures = 0
    for text in texts:
        try:
            item = decode_engine_frame(text, "d")
        except CodecError:
            failures += 1
            continue
        if item is not None:
            one_by_one.append(item)
    assert decoded == one_by_one
    assert len(errors) == failures >= 1
    assert only_deltas is False
    assert decode_engine_frames(texts[len(values) : -1], "d")[1] is True


@FUZZ
@given(value=json_values)
def test_engine_decoder_on_any_json_value(value: Any) -> None:
    try:
        result = decode_engine_frame(json.dumps(value), "d")
    except CodecError:
        return
    _check_engine_result(result, value)


@FUZZ
@given(frame=frames_with_type(ENGINE_FRAME_TYPES))
def test_engine_decoder_on_typed_frames_with_any_fields(frame: dict[str, Any]) -> None:
    try:
        result = decode_engine_frame(dumps(frame), "d")
    except CodecError as exc:
        assert exc.frame_type == frame["type"]
        assert exc.field
        return
    _check_engine_result(result, frame)


@FUZZ
@given(data=st.text() | st.binary())
def test_engine_decoder_on_any_text_or_bytes(data: str | bytes) -> None:
    try:
        result = decode_engine_frame(data, "d")
    except CodecError:
        return
    _check_engine_result(result, json.loads(data))


def _check_client_result(result: Any) -> None:
    assert type(result) in (
        CreateSession,
        ConnectSession,
        PostMessage,
        PostMessages,
        GetMessages,
        PingSession,
        DisconnectSession,
        TerminateSession,
    )
    # Whatever decodes, encodes back to the same frame.
    assert decode_client_frame(encode_client_frame(result)) == result


@FUZZ
@given(value=json_values)
def test_client_decoder_on_any_json_value(value: Any) -> None:
    try:
        result = decode_client_frame(json.dumps(value))
    except CodecError:
        return
    _check_client_result(result)


@FUZZ
@given(frame=frames_with_type(CLIENT_FRAME_TYPES), as_text=st.booleans())
def test_client_decoder_on_typed_frames_with_any_fields(
    frame: dict[str, Any], as_text: bool
) -> None:
    try:
        result = decode_client_frame(dumps(frame) if as_text else frame)
    except CodecError as exc:
        assert exc.frame_type == frame["type"]
        assert exc.field
        return
    _check_client_result(result)


@FUZZ
@given(data=st.text() | st.binary())
def test_client_decoder_on_any_text_or_bytes(data: str | bytes) -> None:
    try:
        result = decode_client_frame(data)
    except CodecError:
        return
    _check_client_result(result)


@FUZZ
@given(message=json_values | stored_messages() | content_objects())
def test_stored_message_decoder_on_anything(message: Any) -> None:
    try:
        result = decode_stored_message(message)
    except CodecError as exc:
        assert exc.frame_type == "get_messages"
        assert exc.field is not None and exc.field.startswith("messages[]")
        return
    assert isinstance(result, SessionMessage)
    assert result.text is None or isinstance(result.text, str)
    assert result.raw is message
    repr(result)
