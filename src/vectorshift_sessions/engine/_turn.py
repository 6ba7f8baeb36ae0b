"""The agent plug-in interface: a `Turn` handed to an async callable.

An agent is any ``async def agent(turn: Turn) -> None`` (or an object with such a
``__call__``). The engine has already stored the user's message, acknowledged it and shown
``Processing``; the agent reads ``turn.text`` / ``turn.files`` / ``turn.history`` and emits
events through the turn's methods; the engine shows ``Idle`` when it returns. An exception
raised by the agent becomes an ``error_message`` notification, never a crash.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import attrs

from .. import _codec as codec
from .._content import WireContent, decode_content
from .._errors import CodecError
from .._types import ParticipantStatus
from . import _frames

__all__ = [
    "AgentFunction",
    "ApprovalAnswer",
    "BadContent",
    "ReceivedFile",
    "Turn",
    "TurnHost",
    "UserInput",
    "new_id",
    "parse_approval",
    "parse_input",
]

AgentFunction = Callable[["Turn"], Awaitable[None]]
"""An agent function: an async callable that runs one turn."""

# Streams given as a list are sent in batches of this many pre-encoded frames.
_BATCH = 4096


def new_id() -> str:
    """A fresh id for a session or a message (24 hex digits, like the hosted engine's)."""
    return secrets.token_hex(12)


@attrs.frozen
class ReceivedFile:
    """A file the user posted in this turn.

    Attributes:
        name: Its file name.
        mime_type: Its MIME type.
        data: Its bytes.
    """

    name: str
    mime_type: str
    data: bytes = attrs.field(repr=False)

    @property
    def size(self) -> int:
        """Its size in bytes."""
        return len(self.data)


@attrs.frozen
class ApprovalAnswer:
    """The user's answer to `Turn.ask_approval`.

    Attributes:
        approved: Whether the tool call may go ahead.
        confirm: The values the user gave for the request's fields.
        deny_reason: Why not, when denied.
    """

    approved: bool
    confirm: Mapping[str, Any] = attrs.field(factory=dict[str, Any])
    deny_reason: str | None = None


class BadContent(ValueError):
    """Posted content the engine cannot accept (the post is refused with this message)."""


@attrs.frozen
class UserInput:
    """One posted content value: what history stores, and what the agent sees."""

    stored: dict[str, Any]  # the stored message's content
    text: str | None = None
    file: ReceivedFile | None = None


def parse_input(
    content: WireContent, frame_type: str = "post_message", path: str = "content"
) -> UserInput:
    """One posted content value (protocol "Content encoding") -> what to store and show.

    Raises ``BadContent`` for content that is malformed, or an approval answer (which only
    ``post_message`` with a ``parent_message_id`` may carry).
    """
    try:
        if codec.parse_approval_content(content, frame_type, path + ".") is not None:
            raise BadContent(
                "an approval answer (response_message) needs parent_message_id = the id of "
                "the approval request it answers"
            )
        decoded = decode_content(content, frame_type, path)
    except CodecError as exc:
        raise BadContent(str(exc)) from None
    if decoded.data is not None:
        name, mime = decoded.filename or "file", decoded.mime_type or "application/octet-stream"
        return UserInput(
            _frames.stored_file_content(name, mime, len(decoded.data)),
            file=ReceivedFile(name, mime, decoded.data),
        )
    text = decoded.text or ""
    return UserInput(_frames.text_content(text), text=text)


def parse_approval(content: WireContent) -> ApprovalAnswer | None:
    """An approval answer (``response_message`` content) -> the answer; ``None`` if it is not one."""
    try:
        answer = codec.parse_approval_content(content)
    except CodecError as exc:
        raise BadContent(str(exc)) from None
    if answer is None:
        return None
    return ApprovalAnswer(answer.approved, dict(answer.confirm or {}), answer.deny_reason)


class TurnHost(Protocol):
    """What a turn needs from the engine (implemented by the engine's live session)."""

    session_id: str
    sender: dict[str, Any]
    turn_delay: float
    last_status: str  # the participant status a (re)connecting client is told

    async def notify(self, message: dict[str, Any]) -> None:
        """Store a complete message, then send it to every attached connection."""

    async def broadcast(self, frame: dict[str, Any]) -> None:
        """Send one frame to every attached connection."""

    async def broadcast_encoded(self, frames: Sequence[str]) -> None:
        """Send frames already encoded as JSON text to every attached connection, in one
        socket write each."""

    def expect_approval(self, message_id: str) -> asyncio.Future[ApprovalAnswer]:
        """A future the engine resolves when the user answers ``message_id``."""
        ...


class Turn:
    """One turn of a session, as an agent sees it.

    Read: ``session_id``, ``agent_name``, ``owner_type`` / ``owner_id`` (the agent or chatbot
    the session belongs to), ``text`` (the posted text, joined by newlines),
    ``files`` (`ReceivedFile` list), ``inputs`` (the raw posted content values),
    ``history`` (the session's stored messages before this turn, oldest first, as
    ``get_messages`` returns them).

    Emit (each is stored before it is sent; each returns the new message's id, except
    ``tool_call`` which returns the tool id and ``ask_approval`` which returns the answer):
    ``say``, ``say_stream``, ``thinking``, ``tool_call``, ``tool_result``, ``search``,
    ``ask_approval``, ``reauth``, ``error``; and ``status`` for a participant status.

    The building blocks under them, for agents that bring their own content (a replay of a
    recorded session, a proxy for another engine): ``emit`` (a complete message with any
    content, sender and fields), ``delta`` (one streamed chunk), ``request_approval`` (any
    approval request, then the user's answer) and ``send_frame`` (any frame, not stored).

    The engine makes the turn and hands it to the agent.

    Args:
        host: The engine's side of the session.
        agent_name: The name of the agent that runs the turn.
        inputs: The posted content values, as they came.
        parsed: The posted content, decoded into texts and files.
        history: The session's stored messages before this turn.

    Attributes:
        session_id: The session's id.
        agent_name: The name of the agent that runs the turn.
        text: The posted text, joined by newlines.
        files: The posted files.
        inputs: The raw posted content values.
        history: The session's stored messages before this turn, oldest first.
    """

    def __init__(
        self,
        host: TurnHost,
        *,
        agent_name: str,
        inputs: Sequence[WireContent],
        parsed: Sequence[UserInput],
        history: list[dict[str, Any]],
    ):
        self._host = host
        self.session_id = host.session_id
        self.agent_name = agent_name
        self.inputs = list(inputs)
        self.text = "\n".join(p.text for p in parsed if p.text is not None)
        self.files = [p.file for p in parsed if p.file is not None]
        self.history = history
        self._emitted: set[str] = set()  # message ids this turn stored (an id is stored once)

    @property
    def owner_type(self) -> str | None:
        """What the session belongs to: ``"agent"`` or ``"chatbot"``."""
        value = self._host.sender.get("object_type")
        return value if isinstance(value, str) else None

    @property
    def owner_id(self) -> str | None:
        """The id of the agent or chatbot the session belongs to (a chatbot's own id, not
        the id of the agent behind it)."""
        value = self._host.sender.get("object_id")
        return value if isinstance(value, str) else None

    async def _pace(self) -> None:
        if self._host.turn_delay > 0:
            await asyncio.sleep(self._host.turn_delay)

    async def emit(
        self,
        content: Mapping[str, Any],
        *,
        message_id: str | None = None,
        sender: Mapping[str, Any] | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> str:
        """Store a complete message with any ``content`` and notify it to every client.

        ``content`` is a stored message's content: a mapping with a string ``"type"``
        (``data_type_message``, ``thinking``, ``tool_call``, ... or one of your own; clients
        show an unknown type as ``MESSAGE_STREAMING``). It is sent as given, in a
        ``message_notification`` whose message carries this session's id and ``sender``
        (default: this agent). ``fields`` adds other fields to the stored message as given
        (not ``id``, ``session_id``, ``sender`` or ``content``). ``message_id`` defaults to a
        fresh id; give the id of the deltas that streamed the message so that clients join
        them (as ``say_stream`` does). An id this turn emitted already sends the new version
        of that message (a status update, such as a streaming message now complete); the
        history keeps the version stored first.

        Args:
            content: The message's content: a mapping with a string ``"type"``.
            message_id: The message's id; a fresh one by default.
            sender: Who sent it; this agent by default.
            fields: Other fields of the stored message.

        Returns:
            The message id.

        Raises:
            TypeError: ``content`` is not such a mapping, or an argument is of a wrong type.
        """
        if not isinstance(content, Mapping) or not isinstance(content.get("type"), str):
            raise TypeError(
                "emit() takes a message content: a mapping with a string 'type', got "
                f"{content!r:.200}"
            )
        if message_id is not None and (not isinstance(message_id, str) or not message_id):
            raise TypeError(f"message_id must be a non-empty string or None, got {message_id!r}")
        for name, value in (("sender", sender), ("fields", fields)):
            if value is not None and not isinstance(value, Mapping):
                raise TypeError(f"{name} must be a mapping or None, got {type(value).__name__}")
        await self._pace()
        message_id = message_id or new_id()
        message = _frames.stored_message(
            message_id, self.session_id, self._host.sender if sender is None else sender, content
        )
        if fields:
            message = {**fields, **message}
        if message_id in self._emitted:
            await self._host.broadcast(_frames.message_notification(message))
        else:
            self._emitted.add(message_id)
            await self._host.notify(message)
        return message_id

    async def send_frame(self, frame: Mapping[str, Any]) -> None:
        """Send one frame, as it is, to every connection attached to the session (not stored).

        For frames no other method sends (an engine's ``error`` frame, a frame type of your
        own), as replays and proxies need.

        Args:
            frame: The frame: a mapping with a string ``"type"``.

        Raises:
            TypeError: ``frame`` is not such a mapping.
        """
        if not isinstance(frame, Mapping) or not isinstance(frame.get("type"), str):
            raise TypeError(
                f"send_frame() takes a mapping with a string 'type', got {frame!r:.200}"
            )
        await self._pace()
        await self._host.broadcast(dict(frame))

    async def status(self, status: ParticipantStatus | str) -> None:
        """Show a participant status (``Processing``, ``Typing``, ...).

        Args:
            status: The status, a member or its string value.
        """
        self._host.last_status = str(status)
        await self._host.broadcast(_frames.participant_status(self.session_id, status))

    async def say(self, text: str) -> str:
        """Answer with a whole text at once (one delta, then the complete message).

        Args:
            text: The answer.

        Returns:
            The message id.
        """
        return await self.say_stream([text])

    async def say_stream(self, chunks: Iterable[str] | AsyncIterable[str]) -> str:
        """Stream an answer: one ``message_delta`` per chunk, then the complete message.

        A list or tuple is sent in large pre-encoded batches (the fast path); an iterator or
        async iterator is sent chunk by chunk as it produces. If the source raises, the
        partial answer is dropped and the exception propagates.

        Args:
            chunks: The answer's chunks: a list or tuple, an iterator, or an async iterator
                (such as a model's stream).

        Returns:
            The message id.
        """
        message_id = new_id()
        parts: list[str] = []
        if isinstance(chunks, (list, tuple)) and self._host.turn_delay <= 0:
            parts = [str(chunk) for chunk in chunks]
            for start in range(0, len(parts), _BATCH):
                frames = _frames.encoded_message_deltas(
                    self.session_id, message_id, parts[start : start + _BATCH], start
                )
                await self._host.broadcast_encoded(frames)
        elif isinstance(chunks, AsyncIterable):
            async for chunk in chunks:
                parts.append(str(chunk))
                await self.delta(message_id, parts[-1], len(parts) - 1)
        else:
            for chunk in chunks:
                parts.append(str(chunk))
                await self.delta(message_id, parts[-1], len(parts) - 1)
        return await self.emit(
            _frames.text_content("".join(parts), "Complete"), message_id=message_id
        )

    async def delta(self, message_id: str, text: str, index: int) -> None:
        """Send one streamed chunk of message ``message_id`` (a ``message_delta``; not stored).

        ``index`` is the chunk's position in the message, from 0. End the stream with
        ``emit(content, message_id=message_id)`` (the complete message, which is stored), as
        ``say_stream`` does.

        Args:
            message_id: The id of the message being streamed.
            text: The chunk.
            index: The chunk's position in the message, from 0.

        Raises:
            TypeError: An argument is of a wrong type (or ``index`` is negative).
        """
        if not isinstance(message_id, str) or not message_id:
            raise TypeError(f"message_id must be a non-empty string, got {message_id!r}")
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise TypeError(f"index must be an integer >= 0, got {index!r}")
        await self._pace()
        await self._host.broadcast(_frames.message_delta(self.session_id, message_id, text, index))

    async def thinking(self, content: str, summary: str | None = None) -> str:
        """Show the agent's reasoning (a ``thinking`` message).

        Args:
            content: The reasoning.
            summary: A short title for it.

        Returns:
            The message id.
        """
        return await self.emit(_frames.thinking_content(content, summary))

    async def task(self, content: str) -> str:
        """Announce a step of the agent's plan (an ``agent_task`` message).

        Args:
            content: The step.

        Returns:
            The message id.
        """
        return await self.emit(_frames.agent_task_content(content))

    async def tool_call(
        self, tool_name: str, *, tool_id: str | None = None, status: str = "running", **extra: Any
    ) -> str:
        """Announce a tool call (a ``tool_call`` message).

        Args:
            tool_name: The tool's name.
            tool_id: The call's id; generated when not given.
            status: The call's status, such as ``"running"``.
            **extra: Other fields of the message's content (such as the tool's arguments).

        Returns:
            The call's ``tool_id``, for `tool_result`.
        """
        tool_id = tool_id or f"call_{new_id()[:12]}"
        await self.emit(_frames.tool_call_content(tool_name, tool_id, status, **extra))
        return tool_id

    async def tool_result(
        self, tool_name: str, tool_id: str, output: Any, *, status: str = "completed"
    ) -> str:
        """Show a tool call's result (a ``tool_result`` message).

        Args:
            tool_name: The tool's name.
            tool_id: The call's id, as `tool_call` returned it.
            output: What the tool returned (anything JSON can carry).
            status: The call's status, such as ``"completed"``.

        Returns:
            The message id.
        """
        return await self.emit(_frames.tool_result_content(tool_name, tool_id, status, output))

    async def search(self, query: str, results: list[Any], **extra: Any) -> str:
        """Show a search and its results (a ``search_result`` message).

        Args:
            query: What was searched for.
            results: What was found (anything JSON can carry).
            **extra: Other fields of the message's content.

        Returns:
            The message id.
        """
        return await self.emit(_frames.search_content(query, results, **extra))

    async def reauth(self, provider: str, **extra: Any) -> str:
        """Ask the user to re-authorize a provider (a ``REAUTH_REQUEST`` for clients).

        Args:
            provider: The provider, such as ``"google_drive"``.
            **extra: Other fields of the message's content (such as ``integration_name`` and
                ``message``).

        Returns:
            The message id.
        """
        return await self.emit(_frames.reauth_content(provider, **extra))

    async def error(self, message: str) -> str:
        """Report an error in the session (an ``error_message``; clients see an ``ERROR``).

        Args:
            message: What went wrong.

        Returns:
            The message id.
        """
        return await self.emit(_frames.error_content(message))

    async def ask_approval(
        self, tool_name: str, *, tool_id: str | None = None, **extra: Any
    ) -> ApprovalAnswer:
        """Ask the user to approve a tool call and wait for the answer.

        Shows ``AwaitingApproval`` and sends a ``tool_call_approval`` notification; the user
        answers with ``respond(event, approved=...)`` (a ``post_message`` whose
        ``parent_message_id`` is this request's id), possibly from another connection or
        after reconnecting. Then ``Processing`` is shown again and the answer returned.

        Args:
            tool_name: The tool that waits for the approval.
            tool_id: The call's id; generated when not given.
            **extra: Other fields of the request's content (such as the tool's arguments and
                the fields to confirm).

        Returns:
            The user's answer.
        """
        content = _frames.approval_request_content(
            tool_name, tool_id or f"call_{new_id()[:12]}", **extra
        )
        return await self.request_approval(content)

    async def request_approval(
        self, content: Mapping[str, Any], *, message_id: str | None = None
    ) -> ApprovalAnswer:
        """Send an approval request with any ``content`` and wait for the user's answer.

        What `ask_approval` does, with the request's content given whole (normally a
        ``tool_call_approval`` content: ``tool_name``, ``tool_id`` and any other fields, which
        clients show as an ``APPROVAL_REQUEST``): shows ``AwaitingApproval``, emits the request
        as message ``message_id`` (default a fresh id), waits for the answer (a post whose
        ``parent_message_id`` is that id), shows ``Processing`` again and returns the answer.

        Args:
            content: The request's content: a mapping with a string ``"type"``.
            message_id: The request's message id; a fresh one by default.

        Returns:
            The user's answer.

        Raises:
            TypeError: ``content`` is not such a mapping.
        """
        if not isinstance(content, Mapping) or not isinstance(content.get("type"), str):
            raise TypeError(
                "request_approval() takes a message content: a mapping with a string 'type', "
                f"got {content!r:.200}"
            )
        message_id = message_id or new_id()
        answer = self._host.expect_approval(message_id)  # before sending: no answer is missed
        await self.status(ParticipantStatus.AWAITING_APPROVAL)
        await self.emit(content, message_id=message_id)
        result = await answer
        await self.status(ParticipantStatus.PROCESSING)
        return result
