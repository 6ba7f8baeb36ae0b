"""Every error this package raises, in one tree.

::

    VectorShiftError
    ├── CodecError                      malformed frame or stored message (names type and field)
    ├── ContentTooLargeError            content over the configured size limit (also a ValueError)
    ├── InsecureTransportError          the key would travel in clear text (also a ValueError)
    ├── MissingAPIKeyError              no key for an engine on another machine (also a ValueError)
    ├── ProxyError                      the proxy is unreachable or refused (either kind below)
    ├── SessionError                    a session operation failed
    │   ├── HandshakeError              the WebSocket could not be opened, or was refused
    │   │   ├── SessionAuthenticationError   ... because the API key is missing or wrong
    │   │   └── SessionProxyError       ... by the proxy (also a ProxyError)
    │   ├── SessionNotFoundError        unknown, foreign or terminated session id
    │   ├── PostError                   the engine refused a posted message
    │   ├── SessionTimeoutError         no answer in time (also a TimeoutError)
    │   ├── SessionDisconnectedError    used while closed, or the connection dropped
    │   │   ├── DeliveryUnknownError    dropped after sending, before the ack: check the history
    │   │   └── ReconnectFailedError    automatic recovery gave up
    │   └── ActionRequiredError         a one-shot run stopped on an approval / re-auth request
    └── APIError                        a REST call failed
        ├── APIConnectionError          ... before any answer (also APITimeoutError)
        │   └── APIProxyError           ... because of the proxy (also a ProxyError)
        ├── MalformedResponseError      ... with a success status but a body not as documented
        └── APIStatusError              ... with an HTTP error status
            ├── BadRequestError 400, AuthenticationError 401, PermissionDeniedError 403,
            ├── NotFoundError 404, UnprocessableEntityError 422, RateLimitError 429
            └── InternalServerError 5xx

Content that cannot be encoded raises the builtin ``TypeError`` / ``FileNotFoundError`` /
``IsADirectoryError`` / ``PermissionError`` / ``ValueError`` with a message that says what was
given and what is accepted. No message here ever contains an API key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._types import SessionEvent

__all__ = [
    "APIConnectionError",
    "APIProxyError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "ActionRequiredError",
    "AuthenticationError",
    "BadRequestError",
    "CodecError",
    "DeliveryUnknownError",
    "ContentTooLargeError",
    "HandshakeError",
    "InsecureTransportError",
    "InternalServerError",
    "MalformedResponseError",
    "MissingAPIKeyError",
    "NotFoundError",
    "PermissionDeniedError",
    "PostError",
    "ProxyError",
    "RateLimitError",
    "ReconnectFailedError",
    "SessionAuthenticationError",
    "SessionDisconnectedError",
    "SessionError",
    "SessionNotFoundError",
    "SessionProxyError",
    "SessionTimeoutError",
    "UnprocessableEntityError",
    "VectorShiftError",
    "status_error_class",
]


def _rebuild(cls: type[VectorShiftError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class VectorShiftError(Exception):
    """Base of every error raised by vectorshift-sessions."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle by state, not by calling __init__ again: several subclasses take other
        # arguments than their message (multiprocessing and concurrent.futures pickle errors).
        return (_rebuild, (type(self), self.args, self.__dict__))


class CodecError(VectorShiftError):
    """A frame or stored message could not be decoded or encoded.

    ``frame_type`` is the frame's ``type`` when it was readable, ``field`` the offending field.

    Args:
        message: What is wrong; the frame type and field are appended to it.
        frame_type: The frame's ``type``, when it was readable.
        field: The offending field, when one is to blame.

    Attributes:
        frame_type: The frame's ``type``, or ``None``.
        field: The offending field, or ``None``.
    """

    def __init__(self, message: str, *, frame_type: str | None = None, field: str | None = None):
        where: list[str] = []
        if frame_type is not None:
            where.append(f"frame {frame_type!r}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{message} ({', '.join(where)})" if where else message)
        self.frame_type = frame_type
        self.field = field


class ContentTooLargeError(VectorShiftError, ValueError):
    """Content is larger than the configured ``max_content_bytes``.

    Args:
        what: What was too large, as the message names it (such as ``"file 'a.pdf'"``).
        size: Its size in bytes.
        limit: The limit in bytes.

    Attributes:
        size: The content's size in bytes.
        limit: The limit it went over, in bytes.
    """

    def __init__(self, what: str, size: int, limit: int):
        super().__init__(
            f"{what} is {size:,} bytes, over the limit of {limit:,} bytes; send a smaller file "
            f"or raise max_content_bytes"
        )
        self.size = size
        self.limit = limit


class InsecureTransportError(VectorShiftError, ValueError):
    """The API key would travel unencrypted (``http://`` or ``ws://``) to another machine.

    Raised when a client or session is made, before any traffic; ``host`` is that machine.
    Use ``https://`` / ``wss://``, or pass ``allow_insecure_key=True`` on a trusted network.

    Args:
        message: What would have been sent where.
        host: The other machine, when known.

    Attributes:
        host: The other machine, or ``None``.
    """

    def __init__(self, message: str, *, host: str | None = None):
        super().__init__(message)
        self.host = host


class MissingAPIKeyError(VectorShiftError, ValueError):
    """No API key, for an engine on another machine (the local engine on this one needs none).

    Raised when a client or session is made, before any traffic; ``url`` is the engine's.

    Args:
        url: The engine's URL; the message says how to give a key or use the local engine.

    Attributes:
        url: The engine's URL.
    """

    def __init__(self, url: str):
        super().__init__(
            f"no API key for the engine at {url}: pass api_key=... or set VECTORSHIFT_API_KEY "
            "(keys are in your VectorShift account). To work without an account, use the "
            "local engine on this machine: start it with `vectorshift-sessions engine` (or "
            "LocalEngine() in code) and point base_url / VECTORSHIFT_BASE_URL at the URL it "
            "prints (an engine on another machine: start it with --api-key and pass that key)"
        )
        self.url = url


class ProxyError(VectorShiftError):
    """The proxy could not be reached, or would not let the connection through.

    ``proxy`` is its URL without the password (a user without a password, often a token, is
    hidden too), or where it came from when that is not a valid URL; ``status_code`` the HTTP
    status it answered with (407: credentials needed or wrong, 403: not allowed), when it
    answered with one.
    Raised as ``SessionProxyError`` by sessions and ``APIProxyError`` by REST calls.

    Attributes:
        proxy: The proxy's URL without its password, or where it came from.
        status_code: The HTTP status the proxy answered with, or ``None``.
    """

    proxy: str
    status_code: int | None


class SessionError(VectorShiftError):
    """A session operation failed."""


class HandshakeError(SessionError):
    """The engine refused the WebSocket handshake (``status_code`` when it answered HTTP).

    Args:
        message: Why the handshake failed.
        status_code: The HTTP status the engine answered with, if it answered one.

    Attributes:
        status_code: The HTTP status, or ``None``.
    """

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


class SessionAuthenticationError(HandshakeError):
    """The handshake was refused because the API key is missing or wrong."""


class SessionProxyError(HandshakeError, ProxyError):
    """The session's WebSocket could not get through the proxy (see ``ProxyError``).

    Args:
        message: Why the proxy did not let the connection through.
        proxy: The proxy's URL without its password.
        status_code: The HTTP status the proxy answered with, if it answered one.
    """

    def __init__(self, message: str, *, proxy: str, status_code: int | None = None):
        super().__init__(message, status_code=status_code)
        self.proxy = proxy


class SessionNotFoundError(SessionError):
    """The engine does not know the session id (unknown, another key's, or terminated).

    Args:
        message: What the engine said.
        session_id: The id it does not know.

    Attributes:
        session_id: The id, or ``None`` when not known.
    """

    def __init__(self, message: str, *, session_id: str | None = None):
        super().__init__(message)
        self.session_id = session_id


class PostError(SessionError):
    """The engine refused a posted message (``post_message`` / ``post_messages`` failed)."""


class SessionTimeoutError(SessionError, TimeoutError):
    """The engine did not answer in time."""


class SessionDisconnectedError(SessionError):
    """The session is not connected (never connected, disconnected, terminated, or dropped)."""


class DeliveryUnknownError(SessionDisconnectedError):
    """The connection dropped after a message was sent, before the engine acknowledged it.

    It may or may not have arrived, and it was not sent again (nothing is ever sent twice):
    check ``get_messages()`` before sending it once more.
    """


class ReconnectFailedError(SessionDisconnectedError):
    """The connection dropped and automatic recovery gave up before its deadline."""


class ActionRequiredError(SessionError):
    """A turn stopped to wait for the user: an approval or re-authorization request.

    ``event`` is the request and ``session_id`` the session that holds the paused turn:
    resume it (``resume_session(session_id)``) and answer with ``respond(event, ...)``.

    Args:
        event: The approval or re-authorization request.
        session_id: The session that holds the paused turn.

    Attributes:
        event: The request to answer.
        session_id: The session that holds the paused turn.
    """

    def __init__(self, event: SessionEvent, session_id: str):
        super().__init__(
            f"the turn is waiting for the user ({event.type}) in session {session_id!r}; "
            f"resume that session and answer the event with respond()"
        )
        self.event = event
        self.session_id = session_id


class APIError(VectorShiftError):
    """A REST call failed.

    Args:
        message: What went wrong.
        method: The request's HTTP method, when there was a request.
        url: The request's URL (without secrets), when there was a request.

    Attributes:
        method: The HTTP method, or ``None``.
        url: The URL, or ``None``.
    """

    def __init__(self, message: str, *, method: str | None = None, url: str | None = None):
        super().__init__(message)
        self.method = method
        self.url = url


class APIConnectionError(APIError):
    """The request got no answer (connection refused, reset, DNS failure...)."""


class APITimeoutError(APIConnectionError):
    """The request timed out."""


class APIProxyError(APIConnectionError, ProxyError):
    """The REST call could not get through the proxy (see ``ProxyError``).

    Args:
        message: Why the proxy did not let the request through.
        proxy: The proxy's URL without its password.
        method: The request's HTTP method.
        url: The request's URL.
        status_code: The HTTP status the proxy answered with, if it answered one.
    """

    def __init__(
        self, message: str, *, proxy: str, method: str, url: str, status_code: int | None = None
    ):
        super().__init__(message, method=method, url=url)
        self.proxy = proxy
        self.status_code = status_code


class MalformedResponseError(APIError):
    """The server answered with a success status, but the body is not what the API documents
    (not JSON, or JSON without the expected fields). ``status_code`` is the answer's status.

    Args:
        message: What is wrong with the body.
        method: The request's HTTP method.
        url: The request's URL.
        status_code: The answer's (success) status.

    Attributes:
        status_code: The answer's status.
    """

    def __init__(self, message: str, *, method: str, url: str, status_code: int):
        super().__init__(message, method=method, url=url)
        self.status_code = status_code


_STATUS_HINTS = {
    400: "check the arguments of the call",
    401: "check the API key (argument api_key or VECTORSHIFT_API_KEY)",
    403: "the API key is valid but may not use this resource",
    404: "check the id or name, and the base URL (VECTORSHIFT_BASE_URL)",
    422: "the server understood the request but cannot process these values",
    429: "too many requests: slow down or raise the retry limit",
}


class APIStatusError(APIError):
    """The server answered with an error status.

    The subclasses below name the common statuses; ``except APIStatusError`` catches them all.

    Args:
        server_message: What the server said (the message adds the call and a hint).
        status_code: The HTTP status.
        method: The request's HTTP method.
        url: The request's URL.
        body: The decoded answer body, if any.

    Attributes:
        status_code: The HTTP status.
        server_message: What the server said.
        hint: What to check, in a few words.
        body: The decoded answer body, or ``None``.
    """

    status_code: int = 0

    def __init__(
        self,
        server_message: str,
        *,
        status_code: int,
        method: str,
        url: str,
        body: Any = None,
    ):
        hint = _STATUS_HINTS.get(status_code) or (
            "the server failed; retry later" if status_code >= 500 else "see the server's message"
        )
        super().__init__(
            f"{method} {url} failed with {status_code}: {server_message} (hint: {hint})",
            method=method,
            url=url,
        )
        self.status_code = status_code
        self.server_message = server_message
        self.hint = hint
        self.body = body


class BadRequestError(APIStatusError):
    """400 Bad Request: the call's arguments were not accepted."""

    status_code = 400


class AuthenticationError(APIStatusError):
    """401 Unauthorized: the API key is missing or wrong."""

    status_code = 401


class PermissionDeniedError(APIStatusError):
    """403 Forbidden: the key is valid but may not use this resource."""

    status_code = 403


class NotFoundError(APIStatusError):
    """404 Not Found: no such agent or chatbot (check the id or name, and the base URL)."""

    status_code = 404


class UnprocessableEntityError(APIStatusError):
    """422 Unprocessable Entity: the request was understood, its values cannot be processed."""

    status_code = 422


class RateLimitError(APIStatusError):
    """429 Too Many Requests: slow down (it is retried, up to the client's ``max_retries``)."""

    status_code = 429


class InternalServerError(APIStatusError):
    """A 5xx status: the server failed (it is retried, up to the client's ``max_retries``)."""

    status_code = 500


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """The error class for an HTTP error status."""
    if status_code >= 500:
        return InternalServerError
    return _BY_STATUS.get(status_code, APIStatusError)
