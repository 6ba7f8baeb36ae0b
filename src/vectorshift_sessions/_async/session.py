"""``AsyncSession``: one live conversation with an agent or chatbot. Written once, for asyncio;
the blocking ``Session`` is generated from this file by ``codegen/generate.py``.

One reader worker owns the connection: it decodes every frame (with the codec), hands answers
to the request that waits for them and publishes events through the fan-out. Every public
method checks its input before anything is sent.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from .. import _codec as codec
from .._backends import _asyncio_backend as backend
from .._backends._base import HandshakeRejected, TransportClosed, TransportError
from .._config import resolve_api_key, resolve_ws_base_url, session_url
from .._content import (
    DEFAULT_MAX_CONTENT_BYTES,
    encode_attachments,
    encode_batch,
    encode_content,
)
from .._errors import (
    CodecError,
    HandshakeError,
    PostError,
    SessionAuthenticationError,
    SessionDisconnectedError,
    SessionError,
    SessionNotFoundError,
    SessionTimeoutError,
)
from .._turn import TurnResult, TurnStatus
from .._types import (
    ApprovalResponse,
    Content,
    ParticipantStatus,
    SendManyItem,
    SessionEvent,
    SessionEventType,
    SessionMessage,
)
from ._fanout import EventQueue, Fanout

__all__ = ["AsyncSession", "AsyncSessionListener"]

logger = logging.getLogger("vectorshift_sessions.session")

ET = SessionEventType
_OWNER_TYPES = ("agent", "chatbot")
#: The request each ack event answers.
_ACK_OF: dict[SessionEventType, str] = {
    ET.SESSION_CREATED: codec.CreateSession.TYPE,
    ET.SESSION_CONNECTED: codec.ConnectSession.TYPE,
    ET.MESSAGE_POSTED: codec.PostMessage.TYPE,
    ET.MESSAGES_POSTED: codec.PostMessages.TYPE,
}
_EVENT_TYPE_NAMES = ", ".join(t.value for t in ET)

_NEW, _CONNECTING, _CONNECTED, _CLOSING, _CLOSED, _TERMINATED = (
    "new",
    "connecting",
    "connected",
    "closing",
    "closed",
    "terminated",
)


class AsyncSessionListener:
    """What ``listen()`` returns: an async iterator of events (also an async context manager).

    Leaving the loop (``break``), ``aclose()`` or the ``async with`` block ends the
    subscription at once; the events it did not read wait for the next listener.
    """

    __slots__ = ("__weakref__", "_fanout", "_queue")

    def __init__(self, fanout: Fanout, queue: EventQueue):
        self._fanout = fanout
        self._queue = queue

    def __aiter__(self) -> AsyncSessionListener:
        return self

    async def __anext__(self) -> SessionEvent:
        return await self._queue.get()

    async def aclose(self) -> None:
        self._fanout.unsubscribe(self._queue)

    async def __aenter__(self) -> AsyncSessionListener:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # `break` drops the last reference: unsubscribe now, not at some later collection.
        self._fanout.unsubscribe(self._queue)


class AsyncSession(backend.ConnectOnAwait):
    """A live, multi-turn conversation with a VectorShift conversational Agent or Chatbot.

    Drop-in for the official client's ``Session``::

        async with AsyncSession(owner_type="agent", owner_id="...") as session:
            await session.send("Hello!")
            async for event in session.listen():
                if event.delta:
                    print(event.delta, end="")
                if event.is_turn_end:
                    break

    The key comes from ``api_key`` or ``VECTORSHIFT_API_KEY``; the endpoint from ``ws_url``,
    else ``VECTORSHIFT_WS_URL``, else derived from ``base_url`` / ``VECTORSHIFT_BASE_URL``.
    """

    def __init__(
        self,
        *,
        owner_type: str = "",
        owner_id: str = "",
        session_id: str | None = None,
        api_key: str | None = None,
        ws_url: str | None = None,
        base_url: str | None = None,
        connect_timeout: float = 30.0,
        ack_timeout: float = 30.0,
        history_timeout: float = 30.0,
        ping_interval: float | None = 5.0,
        backlog_size: int = 10_000,
        max_content_bytes: int | None = DEFAULT_MAX_CONTENT_BYTES,
        max_frame_bytes: int | None = 64 * 1024 * 1024,
        ssl_context: ssl.SSLContext | None = None,
        allow_insecure_key: bool = False,
    ):
        if session_id is not None:
            _check_session_id(session_id)
        if owner_type and owner_type not in _OWNER_TYPES:
            raise ValueError(f"owner_type must be 'agent' or 'chatbot', got {owner_type!r}")
        for name, value in (
            ("connect_timeout", connect_timeout),
            ("ack_timeout", ack_timeout),
            ("history_timeout", history_timeout),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if backlog_size < 1:
            raise ValueError(f"backlog_size must be at least 1, got {backlog_size!r}")
        self._owner_type = owner_type
        self._owner_id = owner_id
        self._session_id = session_id
        self._api_key = resolve_api_key(api_key)
        self._url = session_url(resolve_ws_base_url(ws_url, base_url))
        self._connect_timeout = connect_timeout
        self._ack_timeout = ack_timeout
        self._history_timeout = history_timeout
        self._ping_interval = ping_interval
        self._max_content_bytes = max_content_bytes
        self._max_frame_bytes = max_frame_bytes
        self._ssl_context = ssl_context
        self._allow_insecure_key = allow_insecure_key

        self._state = _NEW
        self._transport: backend.Transport | None = None
        self._reader: backend.Worker | None = None
        self._heartbeat: backend.Worker | None = None
        self._stop_heartbeat = backend.Event()
        self._fanout = Fanout(backlog_size)

    # --- state ------------------------------------------------------------------------------

    @property
    def session_id(self) -> str | None:
        return self._session_id

    @property
    def is_connected(self) -> bool:
        return self._state == _CONNECTED

    @property
    def url(self) -> str:
        """The WebSocket endpoint this session talks to."""
        return self._url

    def __repr__(self) -> str:
        owner = f"{self._owner_type}:{self._owner_id}" if self._owner_id else None
        return (
            f"{type(self).__name__}(session_id={self._session_id!r}, owner={owner!r}, "
            f"state={self._state!r}, url={self._url!r})"
        )

    # --- lifecycle --------------------------------------------------------------------------

    async def connect(self) -> AsyncSession:
        """Open the connection, create the session (or resume ``session_id``), start reading.

        Raises ``SessionAuthenticationError`` for a missing or wrong key, ``HandshakeError``
        when the WebSocket cannot be opened, ``SessionNotFoundError`` for an unknown session
        id, ``SessionTimeoutError`` when the engine does not answer in ``connect_timeout``.
        """
        if self._state == _CONNECTED:
            return self
        if self._state == _TERMINATED:
            raise SessionDisconnectedError(
                f"session {self._session_id!r} was terminated; create a new session"
            )
        if self._state in (_CONNECTING, _CLOSING):
            raise SessionError(f"session is {self._state}; wait for that to finish first")
        if not self._session_id and not (self._owner_type and self._owner_id):
            raise SessionError(
                "owner_type and owner_id are required to create a new session. "
                "Use agent.create_session() or provide a session_id to resume."
            )
        self._check_key_transport()
        self._state = _CONNECTING
        try:
            await self._open()
        except BaseException:
            await self._shut_down(_NEW if self._state == _CONNECTING else self._state, None)
            raise
        self._state = _CONNECTED
        if self._ping_interval:
            self._stop_heartbeat.clear()
            self._heartbeat = backend.spawn(
                self._heartbeat_loop, name=f"vectorshift-session-heartbeat-{self._session_id}"
            )
        return self

    async def _open(self) -> None:
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        try:
            transport = await backend.connect(
                self._url,
                headers=headers,
                open_timeout=self._connect_timeout,
                max_size=self._max_frame_bytes,
                ssl_context=self._ssl_context,
            )
        except HandshakeRejected as exc:
            if exc.status_code in (401, 403):
                raise SessionAuthenticationError(
                    f"the engine at {self._url} refused the API key (HTTP {exc.status_code}): "
                    f"{_redact(exc.body, self._api_key) or 'no reason given'}; check api_key or "
                    f"VECTORSHIFT_API_KEY",
                    status_code=exc.status_code,
                ) from None
            raise HandshakeError(
                f"the engine at {self._url} refused the WebSocket handshake (HTTP "
                f"{exc.status_code}): {_redact(exc.body, self._api_key) or 'no reason given'}",
                status_code=exc.status_code,
            ) from None
        except TransportError as exc:
            raise HandshakeError(f"could not open a WebSocket to {self._url}: {exc}") from None
        self._transport = transport
        self._reader = backend.spawn(
            self._read_loop, transport, name=f"vectorshift-session-reader-{self._session_id}"
        )
        if not self._session_id:
            created = await self._request(
                codec.CreateSession(self._owner_type, self._owner_id),
                self._connect_timeout,
                "create_session",
            )
            if created.type == ET.ERROR:
                raise SessionError(
                    f"the engine could not create a session with {self._owner_type} "
                    f"{self._owner_id!r}: {created.error}"
                )
            self._session_id = created.session_id
        ack = await self._request(
            codec.ConnectSession(self._session_id), self._connect_timeout, "connect_session"
        )
        if ack.type == ET.ERROR:
            raise SessionNotFoundError(
                f"cannot connect to session {self._session_id!r}: {ack.error}",
                session_id=self._session_id,
            )

    async def disconnect(self) -> None:
        """Detach: the session lives on in the engine and can be resumed by its id.

        Every listener ends (after the events already queued for it). Safe to call twice.
        """
        if self._state in (_CONNECTED, _CONNECTING):
            await self._shut_down(_CLOSED, codec.DisconnectSession(self._session_id or ""))

    async def terminate(self) -> None:
        """Ask the engine to destroy the session, then disconnect. It cannot be resumed."""
        if self._state == _TERMINATED:
            return
        if self._state != _CONNECTED:
            raise SessionDisconnectedError(
                "terminate() needs a connected session: connect() (or resume it by id) first"
            )
        await self._shut_down(_TERMINATED, codec.TerminateSession(self._session_id or ""))

    async def _shut_down(self, final_state: str, goodbye: codec.ClientFrame | None) -> None:
        self._state = _CLOSING
        transport, self._transport = self._transport, None
        if transport is not None:
            if goodbye is not None:
                try:
                    await transport.send(codec.encode_client_frame(goodbye))
                except TransportClosed:
                    pass
            await transport.close()
        self._stop_heartbeat.set()
        for worker in (self._reader, self._heartbeat):
            if worker is not None:
                await worker.join()
        self._reader = self._heartbeat = None
        self._state = final_state
        reason = "the session was terminated" if final_state == _TERMINATED else "disconnected"
        self._fanout.fail_pending(SessionDisconnectedError(f"{reason} before the answer came"))
        self._fanout.end_listeners()

    async def __aenter__(self) -> AsyncSession:
        return await self.connect()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.disconnect()

    # --- the reader: frame in -> answer or event out ----------------------------------------

    async def _read_loop(self, transport: backend.Transport) -> None:
        decode = codec.decode_engine_frame
        publish = self._fanout.publish
        answer = self._fanout.answer
        lost: BaseException | None = None
        try:
            while True:
                text = await transport.recv()
                try:
                    item = decode(text, self._session_id or "")
                except CodecError as exc:
                    logger.warning("dropping a malformed frame from the engine: %s", exc)
                    continue
                if type(item) is SessionEvent:
                    if item.type is not ET.MESSAGE_DELTA:
                        request = _ACK_OF.get(item.type) or (
                            item.data.get("request_type") if item.type is ET.ERROR else None
                        )
                        if request is not None:
                            answer(request, item)
                    publish(item)
                elif item is not None:  # the history answer goes only to whoever asked
                    answer(codec.GetMessages.TYPE, item)
        except TransportClosed as exc:
            lost = exc
        except Exception as exc:  # a bug must not leave listeners hanging
            logger.exception("the session reader failed")
            lost = exc
        if self._state in (_CONNECTED, _CONNECTING):
            self._connection_lost(lost)

    def _connection_lost(self, cause: BaseException | None) -> None:
        """The connection dropped without our asking: fail waiters, end listeners with an error."""
        logger.warning("session %s: connection lost (%s)", self._session_id, cause)
        self._state = _CLOSED
        self._stop_heartbeat.set()
        error = SessionDisconnectedError(
            f"the connection to {self._url} was lost ({cause}); resume the session by id"
        )
        self._fanout.fail_pending(error)
        self._fanout.end_listeners(error)

    async def _heartbeat_loop(self) -> None:
        assert self._ping_interval
        while not await self._stop_heartbeat.wait(self._ping_interval):
            transport = self._transport
            if transport is None or self._state != _CONNECTED:
                return
            try:
                await transport.send(
                    codec.encode_client_frame(codec.PingSession(self._session_id or ""))
                )
            except TransportClosed:
                return

    # --- requests ---------------------------------------------------------------------------

    async def _request(self, frame: codec.ClientFrame, timeout: float, what: str) -> Any:
        """Send a frame and wait for its answer (matched first-in first-out per frame type)."""
        transport = self._transport
        if transport is None:
            raise SessionDisconnectedError("the session is not connected; call connect() first")
        pending = self._fanout.expect(frame.TYPE)
        try:
            await transport.send(codec.encode_client_frame(frame))
        except TransportClosed as exc:
            self._fanout.forget(frame.TYPE, pending)
            raise SessionDisconnectedError(
                f"the connection is closed ({exc}); nothing was sent"
            ) from None
        return await pending.wait(timeout, what)

    def _require_connected(self, action: str) -> str:
        if self._state != _CONNECTED or self._session_id is None:
            if self._state == _TERMINATED:
                why = "it was terminated"
            elif self._state == _CLOSED:
                why = "it is disconnected; connect() resumes it"
            else:
                why = "it is not connected; call connect() or use 'async with'"
            raise SessionDisconnectedError(f"cannot {action}: {why}")
        return self._session_id

    async def _post(self, frame: codec.PostMessage | codec.PostMessages) -> None:
        ack = await self._request(frame, self._ack_timeout, frame.TYPE)
        if ack.type == ET.ERROR:
            raise PostError(f"the engine refused the message: {ack.error}")

    # --- messaging --------------------------------------------------------------------------

    async def send(
        self,
        content: Content,
        *,
        files: Sequence[Any] | None = None,
        mime_type: str | None = None,
        filename: str | None = None,
    ) -> None:
        """Post one user turn: text, or a file (path, bytes, file object), plus attachments.

        Returns once the engine acknowledged it; the turn's events arrive on ``listen()``.
        """
        session_id = self._require_connected("send")
        encoded = encode_content(
            content, mime_type=mime_type, filename=filename, max_bytes=self._max_content_bytes
        )
        if files:
            attachments = encode_attachments(files, self._max_content_bytes)
            await self._post(codec.PostMessages(session_id, [encoded, *attachments]))
        else:
            await self._post(codec.PostMessage(session_id, encoded))

    async def send_many(self, items: Sequence[SendManyItem]) -> None:
        """Post several pieces of content as one turn (see ``UserSessionMessage``)."""
        session_id = self._require_connected("send_many")
        await self._post(
            codec.PostMessages(session_id, encode_batch(items, self._max_content_bytes))
        )

    async def respond(
        self,
        event: SessionEvent,
        response: ApprovalResponse | None = None,
        *,
        approved: bool | None = None,
        confirm: Mapping[str, Any] | None = None,
        deny_reason: str | None = None,
    ) -> None:
        """Answer an ``APPROVAL_REQUEST``: ``approved=True`` (with ``confirm`` field values) or
        ``approved=False`` (with a ``deny_reason``), or an ``ApprovalResponse``."""
        if not isinstance(event, SessionEvent):
            raise TypeError(
                f"respond() takes the SessionEvent to answer, got {type(event).__name__}"
            )
        if event.type != ET.APPROVAL_REQUEST:
            hint = (
                "re-authorize the integration, then send a new message"
                if event.type == ET.REAUTH_REQUEST
                else "only APPROVAL_REQUEST events can be answered"
            )
            raise TypeError(f"cannot respond to a {event.type.value} event: {hint}")
        if response is not None:
            if approved is not None:
                raise TypeError("pass either an ApprovalResponse or approved=..., not both")
            approved, confirm, deny_reason = (
                response.approved,
                response.confirm,
                response.deny_reason,
            )
        if approved is None:
            raise TypeError("respond(APPROVAL_REQUEST) requires approved=True|False")
        await self.respond_approval(
            event, approved=approved, confirm=confirm, deny_reason=deny_reason
        )

    async def respond_approval(
        self,
        event: SessionEvent,
        *,
        approved: bool,
        confirm: Mapping[str, Any] | None = None,
        deny_reason: str | None = None,
    ) -> None:
        """Approve or deny a tool call; the paused turn resumes on ``listen()``."""
        if not isinstance(event, SessionEvent) or event.type != ET.APPROVAL_REQUEST:
            got = event.type.value if isinstance(event, SessionEvent) else type(event).__name__
            raise TypeError(f"respond_approval expects an APPROVAL_REQUEST event, got {got}")
        if not isinstance(approved, bool):
            raise TypeError(f"approved must be True or False, got {approved!r}")
        if confirm is not None and not isinstance(confirm, Mapping):
            raise TypeError(
                f"confirm must be a mapping of field values, got {type(confirm).__name__}"
            )
        session_id = self._require_connected("respond")
        if event.session_id and event.session_id != session_id:
            raise ValueError(
                f"this approval request belongs to session {event.session_id!r}, "
                f"not to this session {session_id!r}"
            )
        content = codec.approval_content(approved, confirm, deny_reason)
        await self._post(codec.PostMessage(session_id, content, event.message_id))

    # --- reading ----------------------------------------------------------------------------

    def listen(
        self,
        *,
        event_types: Iterable[SessionEventType | str] | None = None,
        maxsize: int = 1024,
    ) -> AsyncSessionListener:
        """Iterate over the session's events until it disconnects.

        Events that arrived while nobody listened come first. ``event_types`` keeps only those
        types; ``maxsize`` bounds this listener's queue (0 = unbounded): on overflow the event
        is dropped and an ``ERROR`` event ``"subscriber queue overflow"`` says so.
        """
        self._require_connected("listen")
        types = _event_type_filter(event_types)
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 0:
            raise ValueError(f"maxsize must be an integer >= 0 (0 = unbounded), got {maxsize!r}")
        queue = EventQueue(maxsize, types)
        self._fanout.subscribe(queue)
        return AsyncSessionListener(self._fanout, queue)

    async def get_messages(self) -> list[SessionMessage]:
        """The session's history as ``SessionMessage`` objects (never seen by listeners)."""
        session_id = self._require_connected("get_messages")
        answer: codec.HistoryAnswer = await self._request(
            codec.GetMessages(session_id), self._history_timeout, "get_messages"
        )
        return list(answer.messages)

    async def ask(
        self,
        content: Content,
        *,
        files: Sequence[Any] | None = None,
        mime_type: str | None = None,
        filename: str | None = None,
        timeout: float | None = None,
    ) -> TurnResult:
        """Send one turn and wait for its end: the final text, how it ended, and its events.

        Stops early, with ``status`` ``awaiting_approval`` or ``reauth_required``, when the turn
        waits for the user; answer with ``respond()`` and ``ask``/``listen`` again.
        """
        self._require_connected("ask")
        queue = EventQueue(0)
        # A fresh queue: earlier unread events stay in the backlog for listen().
        self._fanout.subscribe(queue, take_backlog=False)
        listener = AsyncSessionListener(self._fanout, queue)
        try:
            await self.send(content, files=files, mime_type=mime_type, filename=filename)
            return await self._collect_turn(queue, timeout)
        finally:
            await listener.aclose()

    async def _collect_turn(self, queue: EventQueue, timeout: float | None) -> TurnResult:
        deadline = None if timeout is None else backend.monotonic() + timeout
        events: list[SessionEvent] = []
        text: str | None = None
        status = TurnStatus.COMPLETE
        processing = False
        while True:
            try:
                event = await queue.get(deadline)
            except StopAsyncIteration:
                raise SessionDisconnectedError("the session disconnected during the turn") from None
            except SessionTimeoutError:
                raise SessionTimeoutError(f"the turn did not end within {timeout} s") from None
            events.append(event)
            if event.type == ET.MESSAGE_COMPLETE:
                text = event.text
            elif event.type == ET.APPROVAL_REQUEST:
                status = TurnStatus.AWAITING_APPROVAL
                break
            elif event.type == ET.REAUTH_REQUEST:
                status = TurnStatus.REAUTH_REQUIRED
                break
            elif event.type == ET.ERROR and event.message_id is not None:
                status = TurnStatus.ERROR
            elif event.type == ET.PARTICIPANT_STATUS:
                state = event.participant_status
                if state == ParticipantStatus.PROCESSING:
                    processing = True
                elif state == ParticipantStatus.IDLE and processing:
                    break
        return TurnResult(self._session_id or "", status, text, tuple(events))

    # --- key safety -------------------------------------------------------------------------

    def _check_key_transport(self) -> None:
        """Never send a key in clear text to another machine, unless explicitly allowed."""
        if not self._api_key or self._allow_insecure_key:
            return
        parts = urlsplit(self._url)
        if parts.scheme == "ws" and not _is_loopback(parts.hostname or ""):
            raise SessionError(
                f"refusing to send the API key unencrypted to {parts.hostname} over ws://; use "
                f"wss://, or pass allow_insecure_key=True if this network is trusted"
            )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _redact(text: str, secret: str | None) -> str:
    text = text.strip()[:300]
    return text.replace(secret, "***") if secret else text


def _check_session_id(session_id: object) -> None:
    if not isinstance(session_id, str) or not session_id.strip():
        raise ValueError(f"session_id must be a non-empty string, got {session_id!r}")
    if session_id != session_id.strip() or any(
        c.isspace() or not c.isprintable() for c in session_id
    ):
        raise ValueError(
            f"session_id {session_id!r} is malformed: it contains spaces or control characters"
        )


def _event_type_filter(
    event_types: Iterable[SessionEventType | str] | None,
) -> frozenset[SessionEventType] | None:
    if event_types is None:
        return None
    if isinstance(event_types, (str, SessionEventType)):
        event_types = [event_types]
    chosen = set()
    for value in event_types:
        try:
            chosen.add(SessionEventType(value))
        except ValueError:
            raise ValueError(
                f"unknown event type {value!r} in event_types; known types: {_EVENT_TYPE_NAMES}"
            ) from None
    return frozenset(chosen) if chosen else None
