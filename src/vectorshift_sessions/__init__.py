"""vectorshift-sessions: real-time sessions with VectorShift conversational agents and chatbots.

``AsyncSession`` for asyncio, ``Session`` for blocking code, one surface; a local engine
(``vectorshift_sessions.engine``) serves the same protocol with no account and no network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import (
    ActionRequiredError,
    APIConnectionError,
    APIError,
    APIProxyError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CodecError,
    ContentTooLargeError,
    DeliveryUnknownError,
    HandshakeError,
    InsecureTransportError,
    InternalServerError,
    MalformedResponseError,
    MissingAPIKeyError,
    NotFoundError,
    PermissionDeniedError,
    PostError,
    ProxyError,
    RateLimitError,
    ReconnectFailedError,
    SessionAuthenticationError,
    SessionDisconnectedError,
    SessionError,
    SessionNotFoundError,
    SessionProxyError,
    SessionTimeoutError,
    UnprocessableEntityError,
    VectorShiftError,
)
from ._lazy import lazy_names

if TYPE_CHECKING:
    from ._async.client import AsyncAgent, AsyncChatbot, AsyncClient
    from ._async.session import AsyncSession, AsyncSessionListener
    from ._cassette import Recorder
    from ._retry import ReconnectPolicy
    from ._sse import SSE_HEARTBEAT, event_from_json, to_sse
    from ._sync.client import Agent, Chatbot, Client
    from ._sync.session import Session, SessionListener
    from ._turn import TurnResult, TurnStatus, TurnWatcher
    from ._types import (
        ApprovalResponse,
        MessageSender,
        ParticipantStatus,
        SendManyItem,
        SessionEvent,
        SessionEventType,
        SessionMessage,
        SessionMessageRole,
        SessionMessageStatus,
        UserSessionMessage,
    )

#: Where each other public name lives: the root imports it when it is first used, so a blocking
#: script never loads asyncio and websockets, nor an asyncio application websocket-client and
#: the blocking code (``import vectorshift_sessions`` alone takes a few ms; the errors, which
#: ``except`` clauses need, are plain classes and imported at once).
_LAZY: dict[str, str] = {
    **dict.fromkeys(("AsyncAgent", "AsyncChatbot", "AsyncClient"), "._async.client"),
    **dict.fromkeys(("AsyncSession", "AsyncSessionListener"), "._async.session"),
    **dict.fromkeys(("Agent", "Chatbot", "Client"), "._sync.client"),
    **dict.fromkeys(("Session", "SessionListener"), "._sync.session"),
    **dict.fromkeys(("ReconnectPolicy",), "._retry"),
    **dict.fromkeys(("Recorder",), "._cassette"),
    **dict.fromkeys(("SSE_HEARTBEAT", "event_from_json", "to_sse"), "._sse"),
    **dict.fromkeys(("TurnResult", "TurnStatus", "TurnWatcher"), "._turn"),
    **dict.fromkeys(
        (
            "ApprovalResponse",
            "MessageSender",
            "ParticipantStatus",
            "SendManyItem",
            "SessionEvent",
            "SessionEventType",
            "SessionMessage",
            "SessionMessageRole",
            "SessionMessageStatus",
            "UserSessionMessage",
        ),
        "._types",
    ),
}


__getattr__, __dir__ = lazy_names(__name__, globals(), _LAZY)


__version__ = "0.1.0.dev0"
"""This package's version."""

__all__ = [
    "SSE_HEARTBEAT",
    "APIConnectionError",
    "APIError",
    "APIProxyError",
    "APIStatusError",
    "APITimeoutError",
    "ActionRequiredError",
    "Agent",
    "ApprovalResponse",
    "AsyncAgent",
    "AsyncChatbot",
    "AsyncClient",
    "AsyncSession",
    "AsyncSessionListener",
    "AuthenticationError",
    "BadRequestError",
    "Chatbot",
    "Client",
    "CodecError",
    "DeliveryUnknownError",
    "ContentTooLargeError",
    "HandshakeError",
    "InsecureTransportError",
    "InternalServerError",
    "MalformedResponseError",
    "MissingAPIKeyError",
    "MessageSender",
    "NotFoundError",
    "ParticipantStatus",
    "PermissionDeniedError",
    "PostError",
    "ProxyError",
    "RateLimitError",
    "ReconnectFailedError",
    "ReconnectPolicy",
    "Recorder",
    "SendManyItem",
    "Session",
    "SessionAuthenticationError",
    "SessionDisconnectedError",
    "SessionError",
    "SessionEvent",
    "SessionEventType",
    "SessionListener",
    "SessionMessage",
    "SessionMessageRole",
    "SessionMessageStatus",
    "SessionNotFoundError",
    "SessionProxyError",
    "SessionTimeoutError",
    "TurnResult",
    "TurnStatus",
    "TurnWatcher",
    "UnprocessableEntityError",
    "UserSessionMessage",
    "VectorShiftError",
    "__version__",
    "event_from_json",
    "to_sse",
]
