"""Public value types: the same names, values and helper behaviour as the official client."""

from __future__ import annotations

import io
import pickle
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vectorshift_sessions as vs
from vectorshift_sessions import (
    ApprovalResponse,
    MessageSender,
    ParticipantStatus,
    SessionEvent,
    SessionEventType,
    SessionMessage,
    SessionMessageRole,
    SessionMessageStatus,
    UserSessionMessage,
)

# The 16 event types and their wire values, as in vectorshift/events.py and the protocol doc.
EVENT_TYPES = {
    "MESSAGE_DELTA": "message_delta",
    "MESSAGE_COMPLETE": "message_complete",
    "MESSAGE_STREAMING": "message_streaming",
    "TOOL_CALL": "tool_call",
    "TOOL_RESULT": "tool_result",
    "THINKING": "thinking",
    "SEARCH_RESULT": "search_result",
    "APPROVAL_REQUEST": "approval_request",
    "REAUTH_REQUEST": "reauth_request",
    "ERROR": "error",
    "PARTICIPANT_STATUS": "participant_status",
    "SESSION_CREATED": "session_created",
    "SESSION_CONNECTED": "session_connected",
    "MESSAGE_POSTED": "message_posted",
    "MESSAGES_POSTED": "messages_posted",
    "PONG": "pong",
}
PARTICIPANT_STATUSES = {
    "IDLE": "Idle",
    "PROCESSING": "Processing",
    "OFFLINE": "Offline",
    "CONNECTED": "Connected",
    "TYPING": "Typing",
    "AWAITING_APPROVAL": "AwaitingApproval",
}
MESSAGE_STATUSES = {"STREAMING": "streaming", "COMPLETE": "complete", "ERROR": "error"}
ROLES = {"USER": "user", "OBJECT": "object", "UNKNOWN": "unknown"}

ENUMS = [
    (SessionEventType, EVENT_TYPES),
    (ParticipantStatus, PARTICIPANT_STATUSES),
    (SessionMessageStatus, MESSAGE_STATUSES),
    (SessionMessageRole, ROLES),
]

HELPERS = [
    "delta",
    "text",
    "tool_name",
    "status",
    "is_complete",
    "participant_status",
    "is_turn_end",
    "requires_action",
    "error",
]

# Data shapes that exercise every helper: what each event type really carries, plus the
# corner cases (wrong status strings, absent keys, non-string values).
SAMPLE_DATA: list[dict[str, Any]] = [
    {},
    {"delta": "Hel", "index": 0},
    {"text": "Hello", "status": "complete"},
    {"text": "Hel", "status": "streaming"},
    {"status": "error"},
    {"status": "Complete"},  # wire spelling, not a SessionMessageStatus value
    {"status": ""},
    {"status": None},
    {"status": 3},
    {"status": ["complete"]},
    {"tool_name": "search", "tool_id": "t1", "status": "running"},
    {"tool_name": "search", "tool_id": "t1", "status": "complete", "output": {"n": 1}},
    {"content": "pondering", "summary": None},
    {"status": "Idle"},
    {"status": "Processing"},
    {"status": "AwaitingApproval"},
    {"status": "idle"},
    {"status": "Typing"},
    {"error": "boom", "request_type": "post_message"},
    {"error": None},
    {"type": "tool_call_approval", "tool_name": "send_email", "tool_id": "t2"},
    {"type": "reauthorization_request", "provider": "gmail"},
    {"delta": 5, "text": 6, "tool_name": 7, "error": 8},
]


def _event(kind: SessionEventType, data: dict[str, Any]) -> SessionEvent:
    return SessionEvent(kind, "s1", "m1", dict(data))


# --- enums --------------------------------------------------------------------------------


@pytest.mark.parametrize(("enum_cls", "expected"), ENUMS, ids=lambda v: getattr(v, "__name__", ""))
def test_enum_members_and_values(enum_cls: Any, expected: dict[str, str]) -> None:
    assert {m.name: m.value for m in enum_cls} == expected


@pytest.mark.parametrize(("enum_cls", "expected"), ENUMS, ids=lambda v: getattr(v, "__name__", ""))
def test_enum_members_are_their_strings(enum_cls: Any, expected: dict[str, str]) -> None:
    for name, value in expected.items():
        member = enum_cls[name]
        assert isinstance(member, str)
        assert member == value
        assert value == member
        assert hash(member) == hash(value)
        assert {value: 1}[member] == 1
        assert enum_cls(value) is member
        assert str(member) == value
        assert f"{member}" == value
        assert format(member, ">20") == f"{value:>20}"
        assert "%s" % member == value  # noqa: UP031
        assert member.upper() == value.upper()


def test_enum_json_dumps_as_its_value() -> None:
    import json

    assert json.dumps({"t": SessionEventType.PONG}) == '{"t": "pong"}'


@pytest.mark.parametrize("enum_cls", [e for e, _ in ENUMS], ids=lambda e: e.__name__)
def test_enum_unknown_value_raises_value_error(enum_cls: Any) -> None:
    with pytest.raises(ValueError):
        enum_cls("no such value")


@pytest.mark.parametrize("enum_cls", [e for e, _ in ENUMS], ids=lambda e: e.__name__)
def test_enum_members_cannot_be_reassigned(enum_cls: Any) -> None:
    name = next(iter(enum_cls)).name
    with pytest.raises(AttributeError):
        setattr(enum_cls, name, "other")
    with pytest.raises(AttributeError):
        delattr(enum_cls, name)


# --- SessionEvent helpers ------------------------------------------------------------------


def test_delta_only_on_message_delta() -> None:
    data = {"delta": "Hel", "text": "Hello", "tool_name": "x", "error": "e"}
    assert _event(SessionEventType.MESSAGE_DELTA, data).delta == "Hel"
    for kind in SessionEventType:
        if kind is not SessionEventType.MESSAGE_DELTA:
            assert _event(kind, data).delta is None, kind


def test_text_only_on_message_complete() -> None:
    data = {"delta": "Hel", "text": "Hello", "tool_name": "x", "error": "e"}
    assert _event(SessionEventType.MESSAGE_COMPLETE, data).text == "Hello"
    # MESSAGE_STREAMING carries a text too, but the helper (like the official one) ignores it.
    for kind in SessionEventType:
        if kind is not SessionEventType.MESSAGE_COMPLETE:
            assert _event(kind, data).text is None, kind


def test_tool_name_only_on_tool_call() -> None:
    data = {"tool_name": "search"}
    assert _event(SessionEventType.TOOL_CALL, data).tool_name == "search"
    for kind in SessionEventType:
        if kind is not SessionEventType.TOOL_CALL:
            assert _event(kind, data).tool_name is None, kind


def test_error_only_on_error() -> None:
    data = {"error": "boom"}
    assert _event(SessionEventType.ERROR, data).error == "boom"
    for kind in SessionEventType:
        if kind is not SessionEventType.ERROR:
            assert _event(kind, data).error is None, kind


@pytest.mark.parametrize("kind", list(SessionEventType))
def test_status_reads_any_event_type(kind: SessionEventType) -> None:
    assert _event(kind, {"status": "complete"}).status is SessionMessageStatus.COMPLETE
    assert _event(kind, {"status": "streaming"}).status is SessionMessageStatus.STREAMING
    assert _event(kind, {"status": "error"}).status is SessionMessageStatus.ERROR
    assert _event(kind, {"status": "Complete"}).status is None
    assert _event(kind, {"status": ""}).status is None
    assert _event(kind, {}).status is None


@pytest.mark.parametrize("kind", list(SessionEventType))
def test_is_complete(kind: SessionEventType) -> None:
    assert _event(kind, {}).is_complete is (kind is SessionEventType.MESSAGE_COMPLETE)


@pytest.mark.parametrize("status", list(ParticipantStatus))
def test_participant_status_and_turn_end(status: ParticipantStatus) -> None:
    event = _event(SessionEventType.PARTICIPANT_STATUS, {"status": status.value})
    assert event.participant_status is status
    assert event.is_turn_end is (status is ParticipantStatus.IDLE)
    assert event.requires_action is (status is ParticipantStatus.AWAITING_APPROVAL)
    for kind in SessionEventType:
        if kind is not SessionEventType.PARTICIPANT_STATUS:
            other = _event(kind, {"status": status.value})
            assert other.participant_status is None
            assert other.is_turn_end is False


def test_participant_status_unknown_value_is_none() -> None:
    for data in ({"status": "idle"}, {"status": None}, {}, {"status": 1}):
        event = _event(SessionEventType.PARTICIPANT_STATUS, data)
        assert event.participant_status is None
        assert event.is_turn_end is False
        assert event.requires_action is False


@pytest.mark.parametrize("kind", list(SessionEventType))
def test_requires_action(kind: SessionEventType) -> None:
    expected = kind in (SessionEventType.APPROVAL_REQUEST, SessionEventType.REAUTH_REQUEST)
    assert _event(kind, {}).requires_action is expected


# --- the official client as an oracle ------------------------------------------------------

official_events: Any = None
if sys.version_info >= (3, 11):
    try:
        import vectorshift.events as official_events
    except ImportError:  # pragma: no cover - the official client is a test dependency on 3.11+
        official_events = None

needs_official = pytest.mark.skipif(
    official_events is None, reason="the official client (vectorshift, Python 3.11+) is absent"
)


def _official_event(kind: SessionEventType, data: dict[str, Any]) -> Any:
    return official_events.SessionEvent(
        type=official_events.SessionEventType(kind.value),
        session_id="s1",
        message_id="m1",
        data=dict(data),
    )


def _same(ours: Any, theirs: Any) -> bool:
    # Enum members of the two packages are equal through their string values; check the type
    # family too so that None/False/"" differences are not hidden.
    if theirs is None or isinstance(theirs, bool):
        return ours is theirs
    return type(ours).__name__ == type(theirs).__name__ and ours == theirs


@needs_official
@pytest.mark.parametrize("data", SAMPLE_DATA, ids=repr)
@pytest.mark.parametrize("kind", list(SessionEventType), ids=lambda k: k.value)
def test_helpers_match_official_client(kind: SessionEventType, data: dict[str, Any]) -> None:
    ours = _event(kind, data)
    theirs = _official_event(kind, data)
    for helper in HELPERS:
        mine, official = getattr(ours, helper), getattr(theirs, helper)
        assert _same(mine, official), (helper, mine, official)


@needs_official
def test_official_enums_have_our_members_and_values() -> None:
    for ours, name in (
        (SessionEventType, "SessionEventType"),
        (ParticipantStatus, "ParticipantStatus"),
        (SessionMessageStatus, "SessionMessageStatus"),
        (SessionMessageRole, "SessionMessageRole"),
    ):
        theirs = getattr(official_events, name)
        assert {m.name: m.value for m in ours} == {m.name: m.value for m in theirs}


_json_scalar = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
_status_values = st.sampled_from(
    [*MESSAGE_STATUSES.values(), *PARTICIPANT_STATUSES.values(), "Complete", "idle", ""]
)
_event_data = st.dictionaries(
    st.sampled_from(["delta", "text", "tool_name", "status", "error", "index", "other"]),
    _status_values | _json_scalar | st.lists(_json_scalar, max_size=2),
    max_size=6,
)


@needs_official
@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(list(SessionEventType)), data=_event_data)
def test_helpers_match_official_client_on_any_data(
    kind: SessionEventType, data: dict[str, Any]
) -> None:
    ours = _event(kind, data)
    theirs = _official_event(kind, data)
    for helper in HELPERS:
        assert _same(getattr(ours, helper), getattr(theirs, helper)), helper


@needs_official
def test_message_sender_matches_official_from_dict() -> None:
    from vectorshift_sessions._codec import decode_stored_message

    senders: list[Any] = [
        None,
        {},
        {"user_id": "u1"},
        {"object_id": "a1", "object_type": "agent"},
        {"object_id": "c1"},
        {"user_id": "u1", "object_id": "a1"},
        {"something": "else"},
    ]
    for sender in senders:
        raw = {"id": "m", "session_id": "s", "sender": sender, "content": {}}
        ours = decode_stored_message(raw).sender
        theirs = official_events.MessageSender.from_dict(sender)
        assert ours.role.value == theirs.role.value
        assert (ours.user_id, ours.object_id, ours.object_type) == (
            theirs.user_id,
            theirs.object_id,
            theirs.object_type,
        )


# --- construction, equality, immutability --------------------------------------------------


def test_session_event_defaults_and_equality() -> None:
    event = SessionEvent(SessionEventType.PONG, "s1")
    assert event.message_id is None
    assert event.data == {}
    assert SessionEvent(SessionEventType.PONG, "s1").data is not event.data  # no shared default
    assert event == SessionEvent(SessionEventType.PONG, "s1", None, {})
    assert event != SessionEvent(SessionEventType.PONG, "s2")
    assert event != SessionEvent(SessionEventType.PONG, "s1", None, {"x": 1})
    assert hash(event) == hash(SessionEvent(SessionEventType.PONG, "s1"))


def test_session_event_keyword_construction_like_official() -> None:
    event = SessionEvent(
        type=SessionEventType.ERROR, session_id="s", message_id="m", data={"error": "x"}
    )
    assert (event.type, event.session_id, event.message_id, event.error) == (
        SessionEventType.ERROR,
        "s",
        "m",
        "x",
    )


def _sample_message(text: str | None = "hello") -> SessionMessage:
    return SessionMessage(
        id="m1",
        session_id="s1",
        sender=MessageSender(role=SessionMessageRole.OBJECT, object_id="a1", object_type="agent"),
        content_type="data_type_message",
        text=text,
        status=SessionMessageStatus.COMPLETE,
        raw={"id": "m1"},
    )


PUBLIC_INSTANCES = {
    "SessionEvent": lambda: SessionEvent(SessionEventType.PONG, "s1"),
    "SessionMessage": _sample_message,
    "MessageSender": lambda: MessageSender(role=SessionMessageRole.USER, user_id="u1"),
    "UserSessionMessage": lambda: UserSessionMessage(content="hi", files=[b"x"]),
    "ApprovalResponse": lambda: ApprovalResponse(approved=True, confirm={"to": "a@b.c"}),
}


@pytest.mark.parametrize("name", sorted(PUBLIC_INSTANCES))
def test_value_types_are_frozen(name: str) -> None:
    obj = PUBLIC_INSTANCES[name]()
    field = attrs.fields(type(obj))[0].name
    before = getattr(obj, field)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(obj, field, "changed")
    with pytest.raises(AttributeError):
        delattr(obj, field)
    assert getattr(obj, field) == before
    assert isinstance(attrs.exceptions.FrozenInstanceError(), AttributeError)


@pytest.mark.parametrize("name", sorted(PUBLIC_INSTANCES))
def test_value_types_are_slotted(name: str) -> None:
    obj = PUBLIC_INSTANCES[name]()
    assert "__slots__" in type(obj).__dict__
    assert not hasattr(obj, "__dict__")
    with pytest.raises(AttributeError):
        obj.not_a_field = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(PUBLIC_INSTANCES))
def test_value_types_pickle(name: str) -> None:
    obj = PUBLIC_INSTANCES[name]()
    assert pickle.loads(pickle.dumps(obj)) == obj


PUBLIC_TYPE_NAMES = [
    "SessionEvent",
    "SessionEventType",
    "SessionMessage",
    "MessageSender",
    "SessionMessageStatus",
    "SessionMessageRole",
    "ParticipantStatus",
    "UserSessionMessage",
    "ApprovalResponse",
]


@pytest.mark.parametrize("name", PUBLIC_TYPE_NAMES)
def test_types_exported_from_package_root(name: str) -> None:
    assert name in vs.__all__
    from vectorshift_sessions import _types

    assert getattr(vs, name) is getattr(_types, name)


def test_every_name_in_all_exists() -> None:
    assert len(set(vs.__all__)) == len(vs.__all__)
    for name in vs.__all__:
        assert hasattr(vs, name), name


# --- SessionMessage -----------------------------------------------------------------------


def test_session_message_roles() -> None:
    user = MessageSender(role=SessionMessageRole.USER, user_id="u1")
    agent = MessageSender(role=SessionMessageRole.OBJECT, object_id="a1", object_type="agent")
    unknown = MessageSender(role=SessionMessageRole.UNKNOWN)
    for sender, is_user, is_agent in ((user, True, False), (agent, False, True)):
        message = SessionMessage(id="m", session_id="s", sender=sender)
        assert (message.is_user, message.is_agent) == (is_user, is_agent)
    message = SessionMessage(id="m", session_id="s", sender=unknown)
    assert (message.is_user, message.is_agent) == (False, False)


def test_session_message_defaults() -> None:
    message = SessionMessage(id="m", session_id="s", sender=MessageSender(SessionMessageRole.USER))
    assert message.content_type == ""
    assert message.text is None
    assert message.status is None
    assert message.raw == {}


def test_session_message_equality_ignores_raw() -> None:
    a = _sample_message()
    b = attrs.evolve(a, raw={"id": "m1", "extra": True})
    assert a == b
    assert hash(a) == hash(b)
    assert a != attrs.evolve(a, text="other")


def test_message_sender_defaults() -> None:
    sender = MessageSender(SessionMessageRole.UNKNOWN)
    assert (sender.user_id, sender.object_id, sender.object_type) == (None, None, None)


def test_user_session_message_defaults() -> None:
    message = UserSessionMessage()
    assert (message.content, message.files, message.mime_type, message.filename) == (
        None,
        None,
        None,
        None,
    )
    assert message.references is None


def test_approval_response_fields() -> None:
    approve = ApprovalResponse(approved=True, confirm={"to": "x"})
    deny = ApprovalResponse(approved=False, deny_reason="no")
    assert (approve.approved, approve.confirm, approve.deny_reason) == (True, {"to": "x"}, None)
    assert (deny.approved, deny.confirm, deny.deny_reason) == (False, None, "no")


# --- reprs -----------------------------------------------------------------------------------

LONG = "word " * 200  # 1000 characters


def test_session_event_repr_is_readable() -> None:
    event = SessionEvent(SessionEventType.MESSAGE_DELTA, "s1", "m1", {"delta": "Hel", "index": 0})
    assert repr(event) == (
        "SessionEvent(type=message_delta, session_id='s1', message_id='m1', "
        "data={'delta': 'Hel', 'index': 0})"
    )
    assert repr(SessionEvent(SessionEventType.PONG, "s1")) == (
        "SessionEvent(type=pong, session_id='s1')"
    )


def test_session_event_repr_cuts_long_text_but_not_the_data() -> None:
    event = SessionEvent(
        SessionEventType.MESSAGE_COMPLETE, "s1", "m1", {"text": LONG, "nested": {"deep": LONG}}
    )
    shown = repr(event)
    assert len(shown) < 400
    assert LONG not in shown
    assert "(+920 chars)" in shown
    assert shown.count("(+920 chars)") == 2  # nested mappings are cut too
    assert event.data["text"] == LONG
    assert event.text == LONG
    assert event.data["nested"]["deep"] == LONG


def test_session_message_repr_cuts_long_text_but_not_the_data() -> None:
    message = _sample_message(LONG)
    shown = repr(message)
    assert shown.startswith(
        "SessionMessage(id='m1', role='agent', content_type='data_type_message'"
    )
    assert "status='complete'" in shown
    assert LONG not in shown
    assert "(+920 chars)" in shown
    assert message.text == LONG
    short = _sample_message("hello")
    assert "text='hello'" in repr(short)


def test_session_message_repr_roles() -> None:
    user = SessionMessage("m", "s", MessageSender(SessionMessageRole.USER, user_id="u"))
    unknown = SessionMessage("m", "s", MessageSender(SessionMessageRole.UNKNOWN))
    assert "role='user'" in repr(user)
    assert "role='unknown'" in repr(unknown)
    assert "text=None" in repr(unknown)
    assert "status=None" in repr(unknown)


def test_user_session_message_repr() -> None:
    message = UserSessionMessage(
        content=LONG, files=[b"a", Path("x.png"), io.BytesIO(b"b")], mime_type="text/plain"
    )
    shown = repr(message)
    assert LONG not in shown
    assert "(+920 chars)" in shown
    assert "files=3" in shown
    assert "mime_type='text/plain'" in shown
    assert message.content == LONG
    assert repr(UserSessionMessage(content=b"\x00" * 10_000)) == (
        "UserSessionMessage(content=bytes, files=0, mime_type=None)"
    )


def test_other_reprs_name_their_fields() -> None:
    sender = repr(MessageSender(SessionMessageRole.USER, user_id="u1"))
    assert sender.startswith("MessageSender(") and "user_id='u1'" in sender
    answer = repr(ApprovalResponse(approved=False, deny_reason="no"))
    assert answer.startswith("ApprovalResponse(") and "deny_reason='no'" in answer
