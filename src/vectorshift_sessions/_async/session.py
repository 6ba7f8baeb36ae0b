"""One live conversation with an agent or chatbot: the public surface over the session's core
(``_core.py``, which decides), its connection (``_connection.py``, the I/O) and its listeners
(``_listener.py``). Written once, for asyncio, in ``_async/``; ``_sync/`` is generated from it
by ``codegen/generate.py``. Every method checks its input (``_inputs.py``) before anything is
sent.
"""

from __future__ import annotations

import logging
import os
import ssl
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TextIO, cast, overload

from .. import _codec as codec
from .. import _inputs as inputs
from .. import _logs
from .._backends import _asyncio_backend as backend
from .._backends._proxy import check_proxy_setting
from .._config import (
    check_key_present,
    check_key_transport,
    resolve_api_key,
    resolve_ws_base_url,
    session_url,
)
from .._content import (
    DEFAULT_MAX_CONTENT_BYTES,
    encode_attachments,
    encode_batch,
    encode_content,
)
from .._core import SessionCore, State
from .._errors import (
    DeliveryUnknownError,
    PostError,
    SessionDisconnectedError,
    SessionError,
    SessionTimeoutError,
)
from .._retry import ReconnectPolicy
from .._telemetry import SessionTelemetry
from .._turn import TurnResult, TurnWatcher
from .._types import (
    ApprovalResponse,
    Content,
    SendManyItem,
    SessionEvent,
    SessionEventType,
    SessionMessage,
)
from ._connection import Connection
from ._listener import AsyncSessionListener

#: What a turn posts, given the session's id (known once connected).
_PostFor = Callable[[str], "codec.PostMessage | codec.PostMessages"]

if TYPE_CHECKING:  # the cassette module is imported only when a session records
    from .._cassette import Recorder
    from .._telemetry import MeterProvider, TracerProvider

__all__ = ["AsyncSession", "AsyncSessionListener"]


class AsyncSession(backend.ConnectOnAwait):
    """A live, multi-turn conversation with a VectorShift conversational Agent or Chatbot.

    A drop-in for the official client's ``Session``: open it with ``connect()`` or as a context
    manager, ``send()`` turns, iterate ``listen()`` for their events, answer approvals with
    ``respond()``, read ``get_messages()``; ``disconnect()`` keeps it for a later resume by
    ``session_id``, ``terminate()`` destroys it.

    The key comes from ``api_key`` or ``VECTORSHIFT_API_KEY``; the endpoint from ``ws_url``,
    else ``VECTORSHIFT_WS_URL``, else derived from ``base_url`` / ``VECTORSHIFT_BASE_URL``.
    A key is never sent unencrypted to another machine (``InsecureTransportError`` at once)
    unless ``allow_insecure_key=True``; an engine on another machine without a key is
    ``MissingAPIKeyError`` at once (the local engine on this machine needs no key).

    ``proxy`` is the proxy the WebSocket goes through: by default (``True``) the one the
    environment names (``HTTPS_PROXY`` for ``wss://``, ``HTTP_PROXY`` for ``ws://``, else
    ``ALL_PROXY``; never for ``NO_PROXY`` hosts nor this machine); a URL
    (``http://user:password@proxy:3128``, ``https://``, ``socks5://``, ``socks5h://``,
    ``socks4://``, ``socks4a://``) for every connection; ``None`` for none. A proxy that
    cannot be reached or refuses raises ``SessionProxyError``, naming it without its password.

    ``record_to`` (a path, a text file opened for writing, or a ``Recorder`` with a redaction
    hook) appends every frame sent and received to a cassette (JSON Lines) that
    ``vectorshift_sessions.testing.Cassette`` replays offline; each ``connect()`` starts one
    recording, which ends when the session disconnects. The key is never written. Without
    ``record_to``, a session created while the pytest plugin records a cassette
    (``vectorshift_cassette`` in record mode), or inside a ``recording()`` block, records into
    it; ``record_to=False`` never records, not even there. A ``record_to`` of the wrong type
    raises ``TypeError``, a path whose directory does not exist ``FileNotFoundError``, here,
    before anything is sent.

    OpenTelemetry (``pip install vectorshift-sessions[otel]``): each turn is a span
    ``invoke_agent {owner_id}`` with a child span per tool call, and turn metrics are
    recorded, through ``tracer_provider`` / ``meter_provider`` when given, else the global
    providers; nothing is recorded when none is configured, and message content only with
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`` (see ``docs/telemetry.md``).

    Args:
        owner_type: ``"agent"`` or ``"chatbot"``: what a new session is created with.
        owner_id: The agent's or chatbot's id, for a new session.
        session_id: An existing session to resume instead of creating one.
        api_key: The API key; else ``VECTORSHIFT_API_KEY``.
        ws_url: The WebSocket base URL; else ``VECTORSHIFT_WS_URL``, else derived from the
            base URL.
        base_url: The REST base URL to derive the WebSocket URL from; else
            ``VECTORSHIFT_BASE_URL``.
        connect_timeout: Seconds to open the connection, and for each handshake answer.
        ack_timeout: Seconds for the engine to acknowledge a posted message.
        history_timeout: Seconds for the engine to send the history (``get_messages()``).
        ping_interval: Seconds between pings that check the connection (``None``: no pings).
        heartbeat_timeout: Seconds without an answer to the pings after which the connection
            counts as dropped (``None``: never).
        reconnect: How to recover from a dropped connection: ``True`` for the default
            ``ReconnectPolicy``, a policy of your own, or ``False`` for no recovery.
        backlog_size: How many unread events the session keeps while no listener reads.
        max_content_bytes: The largest content ``send()`` accepts (``None``: no limit).
        max_frame_bytes: The largest frame accepted from the engine (``None``: no limit).
        ssl_context: The TLS settings for ``wss://`` (certificates); else the defaults.
        allow_insecure_key: Send the key unencrypted to another machine anyway.
        record_to: Where to record the session's frames (see above).
        proxy: The proxy the WebSocket goes through (see above).
        tracer_provider: The OpenTelemetry tracer provider; else the global one.
        meter_provider: The OpenTelemetry meter provider; else the global one.

    Raises:
        ValueError: An option is out of range (such as a timeout that is not positive, or an
            ``owner_type`` other than ``"agent"`` or ``"chatbot"``).
        TypeError: ``reconnect`` or ``record_to`` is of the wrong type.
        InsecureTransportError: The key would travel unencrypted to another machine.
        MissingAPIKeyError: No key, for an engine on another machine.
        FileNotFoundError: ``record_to`` is a path whose directory does not exist.

    All of these are raised here, before anything is sent.
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
        heartbeat_timeout: float | None = 20.0,
        reconnect: ReconnectPolicy | bool = True,
        backlog_size: int = 10_000,
        max_content_bytes: int | None = DEFAULT_MAX_CONTENT_BYTES,
        max_frame_bytes: int | None = 64 * 1024 * 1024,
        ssl_context: ssl.SSLContext | None = None,
        allow_insecure_key: bool = False,
        record_to: str | os.PathLike[str] | TextIO | Recorder | Literal[False] | None = None,
        proxy: str | Literal[True] | None = True,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ):
        inputs.check_session_options(
            session_id=session_id,
            owner_type=owner_type,
            seconds={
                "connect_timeout": connect_timeout,
                "ack_timeout": ack_timeout,
                "history_timeout": history_timeout,
                "ping_interval": ping_interval,
                "heartbeat_timeout": heartbeat_timeout,
            },
            backlog_size=backlog_size,
            reconnect=reconnect,
        )
        self._owner_type = owner_type
        self._owner_id = owner_id
        # The owner's name, when known: the client sets it on the sessions of its handles
        # (``agent.create_session()``), and the cassette's header names it.
        self._owner_name: str | None = None
        api_key = resolve_api_key(api_key)
        url = session_url(resolve_ws_base_url(ws_url, base_url))
        check_key_present(url, api_key)
        check_key_transport(url, api_key, allow_insecure_key)
        check_proxy_setting(proxy)
        self._recorder = _recorder_for(record_to)
        self._ack_timeout = ack_timeout
        self._history_timeout = history_timeout
        self._connect_timeout = connect_timeout
        self._max_content_bytes = max_content_bytes
        self._core = SessionCore(session_id, backlog_size)
        self._core.telemetry = SessionTelemetry(
            self._core, owner_type, owner_id, tracer_provider, meter_provider
        )
        self._conn = Connection(
            self._core,
            url,
            api_key,
            connect_timeout=connect_timeout,
            ping_interval=ping_interval,
            heartbeat_timeout=heartbeat_timeout,
            reconnect=ReconnectPolicy() if reconnect is True else (reconnect or None),
            max_frame_bytes=max_frame_bytes,
            ssl_context=ssl_context,
            proxy=proxy,
        )

    # --- state ------------------------------------------------------------------------------

    @property
    def session_id(self) -> str | None:
        """The session's id: the one given to resume, else the engine's once created."""
        return self._core.session_id

    @property
    def is_connected(self) -> bool:
        """Connected now (false while recovering from a dropped connection)."""
        return self._core.state is State.CONNECTED

    @property
    def url(self) -> str:
        """The WebSocket endpoint this session talks to."""
        return self._conn.url

    def __repr__(self) -> str:
        owner = f"{self._owner_type}:{self._owner_id}" if self._owner_id else None
        return (
            f"{type(self).__name__}(session_id={self.session_id!r}, owner={owner!r}, "
            f"state={self._core.state.value!r}, url={self.url!r})"
        )

    # --- lifecycle --------------------------------------------------------------------------

    async def connect(self) -> AsyncSession:
        """Open the connection, create the session (or resume ``session_id``), start reading.

        Connecting a connected session does nothing.

        Returns:
            The session itself, connected.

        Raises:
            SessionAuthenticationError: The key is missing or wrong.
            SessionProxyError: The proxy cannot be reached or refuses.
            HandshakeError: The WebSocket cannot be opened.
            SessionNotFoundError: The engine does not know the session id.
            SessionTimeoutError: The engine did not answer in ``connect_timeout``.
            SessionDisconnectedError: The session was terminated.
            SessionError: It is connecting or closing already, or it has neither a
                ``session_id`` nor an owner.
        """
        core = self._core
        if core.state is State.CONNECTED:
            return self
        if core.state is State.TERMINATED:
            raise SessionDisconnectedError(
                f"session {self.session_id!r} was terminated; create a new session"
            )
        if core.state in (State.CONNECTING, State.CLOSING, State.RECONNECTING):
            raise SessionError(f"session is {core.state.value}; wait for that to finish first")
        if not self.session_id and not (self._owner_type and self._owner_id):
            raise SessionError(
                "owner_type and owner_id are required to create a new session. "
                "Use agent.create_session() or provide a session_id to resume."
            )
        resuming = self.session_id is not None
        _logs.log(_logs.SESSION, logging.DEBUG, self.session_id, "connecting to %s", self.url)
        if self._recorder is not None:
            owner = (self._owner_type, self._owner_id) if self._owner_id else None
            self._conn.start_recording(self._recorder, owner, self._owner_name)
        try:
            await self._conn.open()
            await self._join()
        except BaseException:
            await self._conn.close_failed_open()
            raise
        self._conn.start_heartbeat()
        _logs.log(
            _logs.SESSION,
            logging.DEBUG,
            self.session_id,
            "%s at %s",
            "resumed" if resuming else f"created with {self._owner_type} {self._owner_id!r}",
            self.url,
        )
        return self

    async def _join(self) -> None:
        """Create the session (or take the given id) and connect to it, through the reader."""
        core, request = self._core, self._conn.request
        resuming = core.session_id is not None
        if not core.session_id:
            frame = codec.CreateSession(self._owner_type, self._owner_id)
            created = await request(frame, self._connect_timeout)
            core.created(created, f"{self._owner_type} {self._owner_id!r}")
        session_id = core.session_id or ""
        core.connected(await request(codec.ConnectSession(session_id), self._connect_timeout))
        if resuming and self._conn.reconnect is not None:
            history = await request(codec.GetMessages(session_id), self._history_timeout)
            core.remember(history.messages or [])

    async def disconnect(self) -> None:
        """Detach: the session lives on in the engine and can be resumed by its id.

        Every listener ends (after the events already published to it). Safe to call twice.
        """
        if self._core.state in (State.CONNECTED, State.CONNECTING, State.RECONNECTING):
            goodbye = codec.DisconnectSession(self.session_id or "")
            await self._conn.close(State.CLOSED, goodbye)
            _logs.log(_logs.SESSION, logging.DEBUG, self.session_id, "disconnected")

    async def terminate(self) -> None:
        """Ask the engine to destroy the session, then disconnect. It cannot be resumed.

        Terminating a terminated session does nothing. While the session recovers from a
        dropped connection, this waits for the recovery first.

        Raises:
            SessionDisconnectedError: The session is not connected.
        """
        if self._core.state is State.TERMINATED:
            return
        await self._conn.wait_recovered()
        if self._core.state is not State.CONNECTED:
            raise SessionDisconnectedError(
                "terminate() needs a connected session: connect() (or resume it by id) first"
            )
        goodbye = codec.TerminateSession(self.session_id or "")
        await self._conn.close(State.TERMINATED, goodbye)
        _logs.log(_logs.SESSION, logging.DEBUG, self.session_id, "terminated")

    async def __aenter__(self) -> AsyncSession:
        return await self.connect()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.disconnect()

    # --- messaging --------------------------------------------------------------------------

    async def _post(self, frame: codec.PostMessage | codec.PostMessages) -> None:
        """Post a turn (or an approval answer) and wait for the engine's acknowledgement."""
        telemetry = self._core.telemetry
        assert telemetry is not None  # a session's core always has its instrumentation
        turn = telemetry.begin(frame, self._owner_name)  # None unless OpenTelemetry records it
        try:
            ack = await self._conn.request(frame, self._ack_timeout)
            if ack.error is not None:
                raise PostError(f"the engine refused the message: {ack.error}")
        except (SessionTimeoutError, DeliveryUnknownError):
            raise  # it may have gone out, like a cancelled post: its turn goes on
        except Exception as exc:
            if turn is not None:
                telemetry.fail(turn, exc)
            raise

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

        Args:
            content: Text, or a file: a path, bytes or an open file object.
            files: Attachments: paths, bytes or open file objects.
            mime_type: The content's MIME type, when it is a file (guessed when not given).
            filename: The content's file name, when it is a file.

        Raises:
            TypeError: The content or an attachment is of a type that cannot be sent.
            FileNotFoundError: A path does not exist.
            ContentTooLargeError: The content is over ``max_content_bytes``.
            SessionDisconnectedError: The session is not connected.
            SessionTimeoutError: The engine did not acknowledge it in ``ack_timeout``; the
                turn may have started.
            DeliveryUnknownError: The connection dropped before the acknowledgement.
            PostError: The engine refused the message.
        """
        session_id = await self._conn.ready("send")
        await self._post(self._post_for(content, files, mime_type, filename)(session_id))

    def _post_for(
        self,
        content: Content,
        files: Sequence[Any] | None,
        mime_type: str | None,
        filename: str | None,
    ) -> _PostFor:
        """What ``send()`` sends, for a session id (bad input raises here, at once)."""
        encoded = encode_content(
            content, mime_type=mime_type, filename=filename, max_bytes=self._max_content_bytes
        )
        if files:
            batch = [encoded, *encode_attachments(files, self._max_content_bytes)]
            return lambda session_id: codec.PostMessages(session_id, batch)
        return lambda session_id: codec.PostMessage(session_id, encoded)

    async def send_many(self, items: Sequence[SendManyItem]) -> None:
        """Post several pieces of content as one turn (see ``UserSessionMessage``).

        Args:
            items: The pieces, in order: text, files, ``UserSessionMessage`` objects (content
                with attachments) or ``SessionMessage`` objects (posted again).

        Raises:
            TypeError: An item is of a type that cannot be sent.
            ContentTooLargeError: An item is over ``max_content_bytes``.
            SessionDisconnectedError: The session is not connected.
            SessionTimeoutError: The engine did not acknowledge them in ``ack_timeout``.
            DeliveryUnknownError: The connection dropped before the acknowledgement.
            PostError: The engine refused them.
        """
        session_id = await self._conn.ready("send_many")
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
        ``approved=False`` (with a ``deny_reason``), or an ``ApprovalResponse``. The paused
        turn resumes on ``listen()``.

        Args:
            event: The ``APPROVAL_REQUEST`` event to answer.
            response: The whole answer, instead of ``approved`` and the rest.
            approved: Whether the tool call may go ahead.
            confirm: Values for the request's fields, when approving.
            deny_reason: Why not, when denying.

        Raises:
            TypeError: The event is not an approval request, or the answer is incomplete or
                contradicts itself.
            ValueError: The event belongs to another session.
            SessionDisconnectedError: The session is not connected.
            SessionTimeoutError: The engine did not acknowledge the answer in time.
            PostError: The engine refused the answer.
        """
        answer = inputs.check_approval(
            event, response, approved=approved, confirm=confirm, deny_reason=deny_reason
        )
        session_id = await self._conn.ready("respond")
        await self._post(inputs.approval_post(session_id, event, answer))

    async def respond_approval(
        self,
        event: SessionEvent,
        *,
        approved: bool,
        confirm: Mapping[str, Any] | None = None,
        deny_reason: str | None = None,
    ) -> None:
        """The official client's name for ``respond(event, approved=...)``.

        Args:
            event: The ``APPROVAL_REQUEST`` event to answer.
            approved: Whether the tool call may go ahead.
            confirm: Values for the request's fields, when approving.
            deny_reason: Why not, when denying.

        Raises:
            TypeError: The event is not an approval request, or the answer is incomplete.
            ValueError: The event belongs to another session.
            SessionDisconnectedError: The session is not connected.
            PostError: The engine refused the answer.
        """
        await self.respond(event, approved=approved, confirm=confirm, deny_reason=deny_reason)

    # --- reading ----------------------------------------------------------------------------

    def listen(
        self,
        *,
        event_types: Iterable[SessionEventType | str] | None = None,
        maxsize: int = 1024,
    ) -> AsyncSessionListener:
        """Iterate over the session's events until it disconnects.

        It starts at the first event no listener has read yet (so nothing that arrived since
        the last listener left is missed). ``event_types`` keeps only those types; a listener
        more than ``maxsize`` events behind (0 = no limit) loses the oldest, and an ``ERROR``
        event ``"subscriber queue overflow"`` takes their place.

        Args:
            event_types: Only events of these types (members or their string values).
            maxsize: How many events the listener may fall behind (0 = no limit).

        Returns:
            A listener: iterate over it with ``async for``, and ``aclose()`` it when done
            (or use it as an async context manager).

        Raises:
            ValueError: An event type is unknown, or ``maxsize`` is negative.
            SessionDisconnectedError: The session is not connected (nor recovering).
        """
        self._conn.require_connected("listen", recovering_ok=True)
        types = inputs.event_type_filter(event_types)
        return AsyncSessionListener(self._core.log, inputs.check_maxsize(maxsize), types)

    async def get_messages(self, *, after: str | None = None) -> list[SessionMessage]:
        """The session's history as ``SessionMessage`` objects, oldest first (never seen by
        listeners).

        ``after`` (a message id: a ``SessionMessage``'s ``id`` or an event's ``message_id``)
        returns only the messages stored after that one, such as what followed the last
        answer you read: with an engine that pages its history (the local engine) only those
        are sent, so its cost does not grow with the session; with another, the whole history
        is read and cut here.

        Args:
            after: A message id: only the messages stored after that one.

        Returns:
            The stored messages, oldest first.

        Raises:
            SessionError: The ``after`` message is not in the history, or the engine refused
                to send it.
            SessionDisconnectedError: The session is not connected.
            SessionTimeoutError: The engine did not answer in ``history_timeout``.
        """
        after = inputs.check_after(after)
        await self._conn.ready("get_messages")
        asked = self._core.history_request(after)
        answer = await self._conn.request(asked, self._history_timeout)
        return self._core.history_answer(answer, asked, after)

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
        waits for the user; answer with ``respond()`` and ``ask``/``listen`` again. The turn is
        read: a later ``listen()`` starts after it. ``stream()`` is its streaming form.

        Args:
            content: Text, or a file (see ``send()``).
            files: Attachments (see ``send()``).
            mime_type: The content's MIME type, when it is a file.
            filename: The content's file name, when it is a file.
            timeout: Seconds for the whole turn (``None``: no limit).

        Returns:
            The turn's result: its final text, its status and its events.

        Raises:
            SessionTimeoutError: The turn did not end in ``timeout``.
            SessionDisconnectedError: The session is not connected, or disconnected during
                the turn.
            PostError: The engine refused the message.
        """
        watcher = TurnWatcher(stop_for_action=True)
        post = self._post_for(content, files, mime_type, filename)
        async for _ in self._turn("ask", watcher, post, timeout, None):
            pass
        return watcher.result(self.session_id or "")

    @overload
    def stream(
        self,
        content: Content,
        *,
        files: Sequence[Any] | None = ...,
        mime_type: str | None = ...,
        filename: str | None = ...,
        timeout: float | None = ...,
        heartbeat: None = ...,
    ) -> AsyncIterator[SessionEvent]: ...

    @overload
    def stream(
        self,
        content: Content,
        *,
        files: Sequence[Any] | None = ...,
        mime_type: str | None = ...,
        filename: str | None = ...,
        timeout: float | None = ...,
        heartbeat: float,
    ) -> AsyncIterator[SessionEvent | None]: ...

    def stream(
        self,
        content: Content,
        *,
        files: Sequence[Any] | None = None,
        mime_type: str | None = None,
        filename: str | None = None,
        timeout: float | None = None,
        heartbeat: float | None = None,
    ) -> AsyncIterator[SessionEvent | None]:
        """Send one turn and iterate over exactly its events, as they arrive.

        Takes what ``send()`` takes; bad input raises here, at once, and nothing is sent
        before the iteration starts. The iteration ends at the turn's end (the ``Idle`` status
        is its last event) or at an approval or re-authorization request, which the caller
        answers with ``respond()`` (or ``respond_stream()``) before reading on. The turn is
        read: a later ``listen()`` starts after it. ``timeout`` (seconds, for the whole turn)
        raises ``SessionTimeoutError``; a disconnect during the turn raises
        ``SessionDisconnectedError``.

        ``heartbeat`` (seconds) yields ``None`` each time the turn has been quiet that long:
        the moment for a web response to send ``SSE_HEARTBEAT`` (``to_sse(None)``), which
        keeps proxies from closing it and finds out early that the browser went away.

        Args:
            content: Text, or a file (see ``send()``).
            files: Attachments (see ``send()``).
            mime_type: The content's MIME type, when it is a file.
            filename: The content's file name, when it is a file.
            timeout: Seconds for the whole turn (``None``: no limit).
            heartbeat: Seconds of quiet after which ``None`` is yielded (``None``: never).

        Yields:
            The turn's events, in order; ``None`` after each ``heartbeat`` of quiet.

        Raises:
            SessionTimeoutError: The turn did not end in ``timeout``.
            SessionDisconnectedError: The session is not connected, or disconnected during
                the turn.
            PostError: The engine refused the message.
        """
        post = self._post_for(content, files, mime_type, filename)
        return self._turn("stream", TurnWatcher(stop_for_action=True), post, timeout, heartbeat)

    @overload
    def respond_stream(
        self,
        event: SessionEvent,
        response: ApprovalResponse | None = ...,
        *,
        approved: bool | None = ...,
        confirm: Mapping[str, Any] | None = ...,
        deny_reason: str | None = ...,
        timeout: float | None = ...,
        heartbeat: None = ...,
    ) -> AsyncIterator[SessionEvent]: ...

    @overload
    def respond_stream(
        self,
        event: SessionEvent,
        response: ApprovalResponse | None = ...,
        *,
        approved: bool | None = ...,
        confirm: Mapping[str, Any] | None = ...,
        deny_reason: str | None = ...,
        timeout: float | None = ...,
        heartbeat: float,
    ) -> AsyncIterator[SessionEvent | None]: ...

    def respond_stream(
        self,
        event: SessionEvent,
        response: ApprovalResponse | None = None,
        *,
        approved: bool | None = None,
        confirm: Mapping[str, Any] | None = None,
        deny_reason: str | None = None,
        timeout: float | None = None,
        heartbeat: float | None = None,
    ) -> AsyncIterator[SessionEvent | None]:
        """Answer an ``APPROVAL_REQUEST`` as ``respond()`` does, then iterate over the rest of
        its turn, as ``stream()`` does (the same ``timeout`` and ``heartbeat``).

        Made for a web request that posts the user's answer and streams what the agent does
        next: the events that follow the answer reach this iteration, whichever connection
        read the request. Bad input raises here, at once; nothing is sent before the
        iteration starts.

        Args:
            event: The ``APPROVAL_REQUEST`` event to answer.
            response: The whole answer, instead of ``approved`` and the rest.
            approved: Whether the tool call may go ahead.
            confirm: Values for the request's fields, when approving.
            deny_reason: Why not, when denying.
            timeout: Seconds for the rest of the turn (``None``: no limit).
            heartbeat: Seconds of quiet after which ``None`` is yielded (``None``: never).

        Yields:
            The rest of the turn's events, in order; ``None`` after each ``heartbeat`` of
            quiet.

        Raises:
            TypeError: The event is not an approval request, or the answer is incomplete.
            ValueError: The event belongs to another session.
            SessionTimeoutError: The turn did not end in ``timeout``.
            SessionDisconnectedError: The session is not connected, or disconnected during
                the turn.
            PostError: The engine refused the answer.
        """
        answer = inputs.check_approval(
            event, response, approved=approved, confirm=confirm, deny_reason=deny_reason
        )
        if self.session_id:
            inputs.check_approval_session(self.session_id, event)

        def post(session_id: str) -> codec.PostMessage:
            return inputs.approval_post(session_id, event, answer)

        watcher = TurnWatcher(stop_for_action=True)
        return self._turn("respond_stream", watcher, post, timeout, heartbeat)

    def _turn(
        self,
        action: str,
        watcher: TurnWatcher,
        post: _PostFor,
        timeout: float | None,
        heartbeat: float | None,
    ) -> AsyncIterator[SessionEvent | None]:
        """One turn's events, as ``_run_turn`` yields them (bad timings raise here, at once)."""
        inputs.check_seconds("timeout", timeout)
        inputs.check_seconds("heartbeat", heartbeat)
        return self._run_turn(action, watcher, post, timeout, heartbeat)

    async def _run_turn(
        self,
        action: str,
        watcher: TurnWatcher,
        post: _PostFor,
        timeout: float | None,
        heartbeat: float | None,
    ) -> AsyncIterator[SessionEvent | None]:
        """Send ``post(session_id)``, then yield the turn's events until ``watcher`` says it is
        over, and ``None`` after each ``heartbeat`` seconds without one.

        What ``watcher`` says is an earlier turn's is passed over.
        """
        session_id = await self._conn.ready(action)
        listener = AsyncSessionListener(self._core.log, from_now=True)
        try:
            await self._post(post(session_id))
            deadline = None if timeout is None else backend.monotonic() + timeout
            said = backend.monotonic()  # when this turn last yielded something
            while True:
                wake = deadline
                if heartbeat is not None:  # quiet = nothing yielded (skipped events count not)
                    beat = said + heartbeat
                    wake = beat if deadline is None else min(beat, deadline)
                try:
                    event = await listener._get(wake)
                except StopAsyncIteration:
                    raise SessionDisconnectedError(
                        "the session disconnected during the turn"
                    ) from None
                except SessionTimeoutError:
                    if wake == deadline:
                        raise SessionTimeoutError(
                            f"the turn did not end within {timeout} s"
                        ) from None
                    yield None  # quiet for `heartbeat` seconds
                    said = backend.monotonic()
                    continue
                if watcher.earlier(event):
                    continue
                yield event
                if heartbeat is not None:
                    said = backend.monotonic()
                if watcher.feed(event):
                    return
        finally:
            await listener.aclose()


def _recorder_for(record_to: object) -> Recorder | None:
    """Where a new session records: ``record_to`` (checked), else the active default; nowhere
    for ``record_to=False``."""
    if record_to is False:
        return None
    if record_to is None:
        # No recording() block can be active before the cassette module is imported.
        cassette = sys.modules.get("vectorshift_sessions._cassette")
        return None if cassette is None else cast("Recorder | None", cassette.default_recorder())
    from .. import _cassette

    return _cassette.as_recorder(cast("_cassette.RecordTarget", record_to))
