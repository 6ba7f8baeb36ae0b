"""The error tree: one root, the documented parents, and useful messages."""

from __future__ import annotations

import pickle
import re
from typing import Any

import pytest

import vectorshift_sessions as vs
from vectorshift_sessions import _errors
from vectorshift_sessions._errors import (
    ActionRequiredError,
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CodecError,
    ContentTooLargeError,
    HandshakeError,
    InsecureTransportError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    PostError,
    RateLimitError,
    ReconnectFailedError,
    SessionAuthenticationError,
    SessionDisconnectedError,
    SessionError,
    SessionNotFoundError,
    SessionTimeoutError,
    UnprocessableEntityError,
    VectorShiftError,
    status_error_class,
)
from vectorshift_sessions._types import SessionEvent, SessionEventType

# The tree as _errors.py documents it, written out: class -> its direct parent.
EXPECTED_PARENTS: dict[type[BaseException], type[BaseException]] = {
    CodecError: VectorShiftError,
    ContentTooLargeError: VectorShiftError,
    InsecureTransportError: VectorShiftError,
    SessionError: VectorShiftError,
    HandshakeError: SessionError,
    SessionAuthenticationError: HandshakeError,
    SessionNotFoundError: SessionError,
    PostError: SessionError,
    SessionTimeoutError: SessionError,
    SessionDisconnectedError: SessionError,
    ReconnectFailedError: SessionDisconnectedError,
    ActionRequiredError: SessionError,
    APIError: VectorShiftError,
    APIConnectionError: APIError,
    APITimeoutError: APIConnectionError,
    APIStatusError: APIError,
    BadRequestError: APIStatusError,
    AuthenticationError: APIStatusError,
    PermissionDeniedError: APIStatusError,
    NotFoundError: APIStatusError,
    UnprocessableEntityError: APIStatusError,
    RateLimitError: APIStatusError,
    InternalServerError: APIStatusError,
}


@pytest.mark.parametrize(
    ("cls", "parent"), list(EXPECTED_PARENTS.items()), ids=lambda c: c.__name__
)
def test_documented_parent(cls: type[BaseException], parent: type[BaseException]) -> None:
    assert parent in cls.__bases__
    assert issubclass(cls, VectorShiftError)


def test_builtin_parents_too() -> None:
    assert issubclass(ContentTooLargeError, ValueError)
    assert issubclass(InsecureTransportError, ValueError)
    assert issubclass(SessionTimeoutError, TimeoutError)
    assert issubclass(VectorShiftError, Exception)
    # and nothing else is mixed in by accident
    assert not issubclass(CodecError, ValueError)
    assert not issubclass(APITimeoutError, TimeoutError)


def _documented_tree() -> dict[str, str]:
    """Parse the tree drawn in the module docstring: class name -> parent name."""
    doc = _errors.__doc__ or ""
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in doc.splitlines():
        root = re.fullmatch(r"\s*(VectorShiftError)\s*", line)
        if root:
            stack = [(-1, root.group(1))]
            continue
        match = re.match(r"^([\s│]*)[├└]── (.*)$", line)
        if not match or not stack:
            continue
        depth = len(match.group(1)) // 4
        text = match.group(2)
        coded = re.findall(r"(\w+Error) (?:\d{3}|\dxx)", text)
        names = coded or [text.split()[0]]
        while stack and stack[-1][0] >= depth:
            stack.pop()
        for name in names:
            parents[name] = stack[-1][1]
        stack.append((depth, names[-1]))
    return parents


def test_docstring_tree_matches_the_classes() -> None:
    tree = _documented_tree()
    assert len(tree) >= len(EXPECTED_PARENTS) - 1  # APITimeoutError is noted, not drawn
    for name, parent in tree.items():
        cls = getattr(_errors, name)
        assert getattr(_errors, parent) in cls.__bases__, (name, parent)
    for cls, parent in EXPECTED_PARENTS.items():
        if cls.__name__ in tree:
            assert tree[cls.__name__] == parent.__name__


def _error_classes() -> list[type[BaseException]]:
    return [
        obj
        for obj in vars(_errors).values()
        if isinstance(obj, type)
        and issubclass(obj, BaseException)
        and obj.__module__ == _errors.__name__
    ]


def test_one_tree() -> None:
    classes = _error_classes()
    assert len(classes) >= len(EXPECTED_PARENTS) + 1
    for cls in classes:
        assert issubclass(cls, VectorShiftError), cls


def test_every_error_is_exported_from_the_package_root() -> None:
    for cls in _error_classes():
        assert cls.__name__ in _errors.__all__, cls
        assert cls.__name__ in vs.__all__, cls
        assert getattr(vs, cls.__name__) is cls


# --- status codes ---------------------------------------------------------------------------

STATUS_CLASSES = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    500: InternalServerError,
    502: InternalServerError,
    503: InternalServerError,
    504: InternalServerError,
    599: InternalServerError,
}


@pytest.mark.parametrize(("status", "cls"), list(STATUS_CLASSES.items()))
def test_status_error_class(status: int, cls: type[APIStatusError]) -> None:
    assert status_error_class(status) is cls


@pytest.mark.parametrize("status", [402, 405, 408, 409, 410, 413, 418, 451, 499])
def test_unknown_4xx_is_the_generic_status_error(status: int) -> None:
    assert status_error_class(status) is APIStatusError


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (BadRequestError, 400),
        (AuthenticationError, 401),
        (PermissionDeniedError, 403),
        (NotFoundError, 404),
        (UnprocessableEntityError, 422),
        (RateLimitError, 429),
        (InternalServerError, 500),
    ],
)
def test_class_status_code(cls: type[APIStatusError], status: int) -> None:
    assert cls.status_code == status


def _status_error(status: int, message: str = "agent not found") -> APIStatusError:
    return status_error_class(status)(
        message,
        status_code=status,
        method="GET",
        url="https://api.example.invalid/v1/agent/abc",
        body={"detail": message},
    )


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (400, "check the arguments"),
        (401, "check the API key"),
        (403, "may not use this resource"),
        (404, "check the id or name"),
        (422, "cannot process these values"),
        (429, "too many requests"),
        (500, "retry later"),
        (503, "retry later"),
        (418, "see the server's message"),
    ],
)
def test_status_error_message(status: int, hint: str) -> None:
    error = _status_error(status)
    message = str(error)
    assert message.startswith("GET https://api.example.invalid/v1/agent/abc failed with ")
    assert f" {status}: " in message
    assert "agent not found" in message
    assert message.endswith(f"(hint: {error.hint})")
    assert hint in error.hint
    assert error.status_code == status
    assert error.server_message == "agent not found"
    assert (error.method, error.url) == ("GET", "https://api.example.invalid/v1/agent/abc")
    assert error.body == {"detail": "agent not found"}
    assert isinstance(error, APIError)


def test_instance_status_code_is_the_real_one() -> None:
    assert _status_error(503).status_code == 503
    assert InternalServerError.status_code == 500


# --- other errors' messages and attributes -----------------------------------------------


def test_content_too_large() -> None:
    error = ContentTooLargeError("file 'a.bin'", 20_000_000, 16_777_216)
    assert (error.size, error.limit) == (20_000_000, 16_777_216)
    assert str(error) == (
        "file 'a.bin' is 20,000,000 bytes, over the limit of 16,777,216 bytes; "
        "send a smaller file or raise max_content_bytes"
    )


def test_codec_error_message_names_frame_and_field() -> None:
    error = CodecError("missing", frame_type="post_message", field="session_id")
    assert str(error) == "missing (frame 'post_message', field 'session_id')"
    assert (error.frame_type, error.field) == ("post_message", "session_id")
    assert str(CodecError("bad", field="type")) == "bad (field 'type')"


def test_handshake_errors() -> None:
    error = SessionAuthenticationError("bad key", status_code=401)
    assert (str(error), error.status_code) == ("bad key", 401)
    assert HandshakeError("refused").status_code is None


def test_session_not_found() -> None:
    error = SessionNotFoundError("no such session", session_id="s-1")
    assert (str(error), error.session_id) == ("no such session", "s-1")
    assert SessionNotFoundError("x").session_id is None


def test_action_required() -> None:
    event = SessionEvent(SessionEventType.APPROVAL_REQUEST, "s-1", "m-1", {"tool_name": "x"})
    error = ActionRequiredError(event, "s-1")
    assert error.event is event
    assert error.session_id == "s-1"
    message = str(error)
    assert "approval_request" in message
    assert "'s-1'" in message
    assert "respond()" in message


def test_api_error_attributes() -> None:
    error = APITimeoutError("timed out", method="POST", url="https://x.invalid")
    assert (str(error), error.method, error.url) == ("timed out", "POST", "https://x.invalid")
    assert APIError("plain").method is None


ERROR_SAMPLES: list[Any] = [
    CodecError("missing", frame_type="pong", field="session_id"),
    ContentTooLargeError("text", 11, 10),
    InsecureTransportError("clear text", host="api.example.test"),
    SessionAuthenticationError("bad key", status_code=401),
    SessionNotFoundError("gone", session_id="s"),
    SessionTimeoutError("slow"),
    ReconnectFailedError("gave up"),
    ActionRequiredError(SessionEvent(SessionEventType.REAUTH_REQUEST, "s", "m"), "s"),
    APIConnectionError("refused", method="GET", url="u"),
    NotFoundError("nope", status_code=404, method="GET", url="u", body={"a": 1}),
    APIStatusError("teapot", status_code=418, method="GET", url="u"),
]


@pytest.mark.parametrize("error", ERROR_SAMPLES, ids=lambda e: type(e).__name__)
def test_errors_pickle(error: BaseException) -> None:
    """Errors cross process boundaries (multiprocessing, concurrent.futures) intact."""
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.args == error.args
    assert vars(copy) == vars(error)
