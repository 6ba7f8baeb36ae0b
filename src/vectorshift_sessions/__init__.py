"""vectorshift-sessions: real-time sessions with VectorShift conversational agents and chatbots.

``AsyncSession`` for asyncio, ``Session`` for blocking code, one surface; a local engine
(``vectorshift_sessions.engine``) serves the same protocol with no account and no network.
"""

from __future__ import annotations

from ._async.client import AsyncAgent, AsyncChatbot, AsyncClient
from ._async.session import AsyncSession, AsyncSessionListener
from ._errors import (
    ActionRequiredError,
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CodecError,
    ContentTooLargeError,
    DeliveryUnknownError,
    HandshakeError,
    InternalServerError,
    MalformedResponseError,
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
)
from ._retry import ReconnectPolicy
from ._sync.client import Agent, Chatbot, Client
from ._sync.session import Session, SessionListener
from ._turn import TurnResult, TurnStatus
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

__version__ = "0.1.0.dev0"

__all__ = [
    "APIConnectionError",
    "APIError",
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
    "InternalServerError",
    "MalformedResponseError",
    "MessageSender",
    "NotFoundError",
    "ParticipantStatus",
    "PermissionDeniedError",
    "PostError",
    "RateLimitError",
    "ReconnectFailedError",
    "ReconnectPolicy",
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
    "SessionTimeoutError",
    "TurnResult",
    "TurnStatus",
    "UnprocessableEntityError",
    "UserSessionMessage",
    "VectorShiftError",
    "__version__",
]
