"""One live conversation with an agent or chatbot: the I/O around ``SessionCore``. Written once,
for asyncio, in ``_async/session.py``; the blocking twin in ``_sync/`` is generated from it by
``codegen/generate.py``.

The core (``_core.py``) decides; this layer connects, reads, writes, waits and keeps time. One
reader worker owns the connection and feeds the core every frame; listeners read the core's
event log at their own cursors. Every public method checks its input before anything is sent.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

from .. import _codec as codec
from .._backends import _asyncio_backend as backend
from .._backends._base import HandshakeRejected, TransportClosed, TransportError
from .._config import cleartext_host, resolve_api_key, resolve_ws_base_url, session_url
from .._content import (
    DEFAULT_MAX_CONTENT_BYTES,
    encode_attachments,
    encode_batch,
    encode_content,
)
from .._core import SessionCore, State
from .._errors import (
    DeliveryUnknownError,
    HandshakeError,
    PostError,
    ReconnectFailedError,
    SessionAuthenticationError,
    SessionDisconnectedError,
    SessionError,
    SessionNotFoundError,
    SessionTimeoutError,
)
from .._eventlog import Cursor, EventLog
from .._retry import ReconnectPolicy
from .._turn import TurnResult, TurnWatcher
from .._types import (
    ApprovalResponse,
    Content,
    ParticipantStatus,
    SendManyItem,
    SessionEvent,
    SessionEventType,
    SessionMessage,
)

__all__ = ["AsyncSession", "AsyncSessionListener"]

logger = logging.getLogger("vectorshift_sessions.session")

ET = SessionEventType
_OWNER_TYPES = ("agent", "chatbot")
_EVENT_TYPE_NAMES = ", ".join(t.value for t in ET)
#: How often a WebSocket ping keeps idle proxies from closing the connection.
_WS_PING_INTERVAL = 30.0


class AsyncSessionListener(Cursor):
    """What ``listen()`` returns: an iterator of events, and a context manager.

    It is a cursor into the session's event log. Leaving the loop (``break``), closing it
    or leaving its ``with`` block ends the subscription at once; the events it did not hand
    out wait for the next listener.
    """

    __slots__ = ("__weakref__", "_closed", "_log", "_wakeup")

    def __init__(
        self,
        log: EventLog,
        maxsize: int = 0,
        types: frozenset[SessionEventType] | None = None,
        *,
        from_now: bool = False,
    ):
        Cursor.__init__(self, maxsize, types)
        self._log = log
        self._wakeup = backend.Event()
        self._closed = False
        log.subscribe(self, from_now=from_now)

    def __aiter__(self) -> AsyncSessionListener:
        return self

    async def __anext__(self) -> SessionEvent:
        batch, i = self.batch, self.taken
        if i < len(batch):  # the hot path
            self.taken = i + 1
            return batch[i]
        return await self._refill(None)

    async def _get(self, deadline: float | None) -> SessionEvent:
        """The next event, or ``SessionTimeoutError`` if none came by ``deadline``."""
        batch, i = self.batch, self.taken
        if i < len(batch):
            self.taken = i + 1
            return batch[i]
        return await self._refill(deadline)

    async def _refill(self, deadline: float | None) -> SessionEvent:
        log, wakeup = self._log, self._wakeup
        while not self._closed:
            got = log.refill(self)
            if got is None:
                break
            if got:
                self.taken = 1
                return self.batch[0]
            wakeup.clear()
            if not log.wait_for_more(self, wakeup):
                continue
            timeout = None if deadline is None else max(0.0, deadline - backend.monotonic())
            try:
                woken = await wakeup.wait(timeout)
            except BaseException:
                log.forget_waker(wakeup)
                raise
            if not woken:
                log.forget_waker(wakeup)
                raise SessionTimeoutError("no event arrived in time")
        if self.error is not None and not self._closed:
            raise self.error
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self._leave()

    def _leave(self) -> None:
        if not self._closed:
            self._closed = True
            self._log.unsubscribe(self)

    async def __aenter__(self) -> AsyncSessionListener:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # `break` drops the last reference: unsubscribe now, not at some later collection.
        if hasattr(self, "_closed"):  # not when __init__ failed
            self._leave()


class _Answer:
    """A request waiting for its answer (an ack, or the history)."""

    __slots__ = ("_done", "_value")

    def __init__(self) -> None:
        self._done = backend.Event()
        self._value: Any = None

    def resolve(self, value: Any) -> None:
        if not self._done.is_set():
            self._value = value
            self._done.set()

    async def wait(self, timeout: float | None, what: str) -> Any:
        if not await self._done.wait(timeout):
            raise SessionTimeoutError(f"no answer from the engine to {what} within {timeout} s")
        if isinstance(self._value, BaseException):
            raise self._value
        return self._value


class _Unawaited:
    """Stands for a request nobody waits on (a heartbeat ping): its answer is just taken."""

    def resolve(self, value: Any) -> None:
        return None


_UNAWAITED = _Unawaited()


class AsyncSession(backend.ConnectOnAwait):
    """A live, multi-turn conversation with a VectorShift conversational Agent or Chatbot.

    A drop-in for the official client's ``Session``: open it with ``connect()`` or as a context
    manager, ``send()`` turns, iterate ``listen()`` for their events, answer approvals with
    ``respond()``, read ``get_messages()``; ``disconnect()`` keeps it for a later resume by
    ``session_id``, ``terminate()`` destroys it. ``AsyncSession`` is for asyncio, ``Session``
    (generated from it) for blocking code; the README shows both.

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
        heartbeat_timeout: float | None = 20.0,
        reconnect: ReconnectPolicy | bool = True,
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
            ("ping_interval", ping_interval or 1),
            ("heartbeat_timeout", heartbeat_timeout or 1),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if backlog_size < 1:
            raise ValueError(f"backlog_size must be at least 1, got {backlog_size!r}")
        if not isinstance(reconnect, (bool, ReconnectPolicy)):
            raise TypeError(
                f"reconnect must be True, False or a ReconnectPolicy, got {reconnect!r}"
            )
        self._owner_type = owner_type
        self._owner_id = owner_id
        self._api_key = resolve_api_key(api_key)
        self._url = session_url(resolve_ws_base_url(ws_url, base_url))
        self._connect_timeout = connect_timeout
        self._ack_timeout = ack_timeout
        self._history_timeout = history_timeout
        self._ping_interval = ping_interval
        # Without pings an idle connection is silent, so silence proves nothing.
        self._heartbeat_timeout = heartbeat_timeout if ping_interval else None
        self._reconnect = ReconnectPolicy() if reconnect is True else (reconnect or None)
        self._max_content_bytes = max_content_bytes
        self._max_frame_bytes = max_frame_bytes
        self._ssl_context = ssl_context
        self._allow_insecure_key = allow_insecure_key

        self._core = SessionCore(session_id, backlog_size)
        self._lock = backend.StateLock()  # state transitions race with the reader (threads)
        self._transport: backend.Transport | None = None
        self._reader: backend.Worker | None = None
        self._heartbeat: backend.Worker | None = None
        self._closing = backend.Event()  # set by disconnect/terminate: ends heartbeat, recovery
        self._recovered = backend.Event()  # clear while recovering; senders wait on it
        self._recovered.set()
        self._lost: SessionDisconnectedError | None = None  # why an unasked drop closed us

    # --- state ------------------------------------------------------------------------------

    @property
    def session_id(self) -> str | None:
        return self._core.session_id

    @property
    def is_connected(self) -> bool:
        """Connected now (false while recovering from a dropped connection)."""
        return self._core.state is State.CONNECTED

    @property
    def url(self) -> str:
        """The WebSocket endpoint this session talks to."""
        return self._url

    def __repr__(self) -> str:
        owner = f"{self._owner_type}:{self._owner_id}" if self._owner_id else None
        return (
            f"{type(self).__name__}(session_id={self.session_id!r}, owner={owner!r}, "
            f"state={self._core.state.value!r}, url={self._url!r})"
        )

    # --- lifecycle --------------------------------------------------------------------------

    async def connect(self) -> AsyncSession:
        """Open the connection, create the session (or resume ``session_id``), start reading.

        Raises ``SessionAuthenticationError`` for a missing or wrong key, ``HandshakeError``
        when the WebSocket cannot be opened, ``SessionNotFoundError`` for an unknown session
        id, ``SessionTimeoutError`` when the engine does not answer in ``connect_timeout``.
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
        self._check_key_transport()
        core.state = State.CONNECTING
        self._closing.clear()
        self._lost = None
        try:
            transport = await self._open_transport()
            self._transport = transport
            self._reader = backend.spawn(
                self._read_loop, transport, name=f"vectorshift-session-reader-{self.session_id}"
            )
            await self._join()
        except BaseException:
            failed = core.state is State.CONNECTING
            await self._shut_down(State.NEW if failed else core.state, None)
            raise
        core.state = State.CONNECTED
        if self._ping_interval:
            self._heartbeat = backend.spawn(
                self._heartbeat_loop, name=f"vectorshift-session-heartbeat-{self.session_id}"
            )
        return self

    async def _open_transport(self) -> backend.Transport:
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        try:
            return await backend.connect(
                self._url,
                headers=headers,
                open_timeout=self._connect_timeout,
                max_size=self._max_frame_bytes,
                ssl_context=self._ssl_context,
            )
        except HandshakeRejected as exc:
            reason = _redact(exc.body, self._api_key) or "no reason given"
            if exc.status_code in (401, 403):
                raise SessionAuthenticationError(
                    f"the engine at {self._url} refused the API key (HTTP {exc.status_code}): "
                    f"{reason}; check api_key or VECTORSHIFT_API_KEY",
                    status_code=exc.status_code,
                ) from None
            raise HandshakeError(
                f"the engine at {self._url} refused the WebSocket handshake "
                f"(HTTP {exc.status_code}): {reason}",
                status_code=exc.status_code,
            ) from None
        except TransportError as exc:
            raise HandshakeError(f"could not open a WebSocket to {self._url}: {exc}") from None

    async def _join(self) -> None:
        """Create the session (or take the given id) and connect to it, through the reader."""
        core = self._core
        resuming = core.session_id is not None
        if not core.session_id:
            created = await self._request(
                codec.CreateSession(self._owner_type, self._owner_id), self._connect_timeout
            )
            core.created(created, f"{self._owner_type} {self._owner_id!r}")
        session_id = core.session_id or ""
        core.connected(
            await self._request(codec.ConnectSession(session_id), self._connect_timeout)
        )
        if resuming and self._reconnect is not None:
            history = await self._request(codec.GetMessages(session_id), self._history_timeout)
            core.remember(history.messages)

    async def disconnect(self) -> None:
        """Detach: the session lives on in the engine and can be resumed by its id.

        Every listener ends (after the events already published to it). Safe to call twice.
        """
        if self._core.state in (State.CONNECTED, State.CONNECTING, State.RECONNECTING):
            await self._shut_down(State.CLOSED, codec.DisconnectSession(self.session_id or ""))

    async def terminate(self) -> None:
        """Ask the engine to destroy the session, then disconnect. It cannot be resumed."""
        core = self._core
        if core.state is State.TERMINATED:
            return
        if core.state is State.RECONNECTING:
            await self._recovered.wait(self._reconnect.deadline if self._reconnect else None)
        if core.state is not State.CONNECTED:
            raise SessionDisconnectedError(
                "terminate() needs a connected session: connect() (or resume it by id) first"
            )
        await self._shut_down(State.TERMINATED, codec.TerminateSession(self.session_id or ""))

    async def _shut_down(self, final_state: State, goodbye: codec.ClientFrame | None) -> None:
        core = self._core
        with self._lock:
            core.state = State.CLOSING
            self._closing.set()
            transport, self._transport = self._transport, None
        if transport is not None:
            if goodbye is not None:
                try:
                    await transport.send(codec.encode_client_frame(goodbye))
                except TransportClosed:
                    pass
            await transport.close()
        for worker in (self._reader, self._heartbeat):
            if worker is not None:
                await worker.join()
        self._reader = self._heartbeat = None
        core.state = final_state
        core.abandon_rejoin()
        self._lost = None
        reason = "the session was terminated" if final_state is State.TERMINATED else "disconnected"
        core.requests.fail_all(SessionDisconnectedError(f"{reason} before the answer came"))
        core.log.end_listeners()
        self._recovered.set()

    async def __aenter__(self) -> AsyncSession:
        return await self.connect()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.disconnect()

    # --- the reader: every frame into the core ----------------------------------------------

    async def _read_loop(self, transport: backend.Transport) -> None:
        """Own the connection: read it until it closes; recover it if it drops unasked."""
        current: backend.Transport | None = transport
        while current is not None:
            cause = await self._pump(current)
            state = self._core.state
            # RECONNECTING already: a sender found the connection dead before we did.
            if state in (State.CONNECTED, State.RECONNECTING) and self._reconnect is not None:
                current = await self._recover(cause)
            else:
                if state in (State.CONNECTED, State.CONNECTING):
                    self._connection_lost(cause)
                current = None

    async def _pump(self, transport: backend.Transport) -> BaseException | None:
        """The hot path: frame in -> core. Returns why the connection ended."""
        receive = self._core.receive
        recv = transport.recv
        try:
            while True:
                receive(await recv())
        except TransportClosed as exc:
            return exc
        except Exception as exc:  # a bug must not leave listeners hanging
            logger.exception("the session reader failed")
            return exc

    def _connection_lost(self, cause: BaseException | None) -> None:
        """The connection dropped and is not recovered: fail waiters, end listeners with an error."""
        logger.warning("session %s: connection lost (%s)", self.session_id, cause)
        with self._lock:
            self._core.connection_lost(cause, recover=False)
            self._transport = None
            self._closing.set()
        error = self._lost = SessionDisconnectedError(
            f"the connection to {self._url} was lost ({cause}); connect() resumes the session"
        )
        self._core.requests.fail_all(error)
        self._core.log.end_listeners(error)

    # --- recovery ---------------------------------------------------------------------------

    async def _recover(self, cause: BaseException | None) -> backend.Transport | None:
        """Reconnect to the same session and let the core backfill; the new transport, or None
        (disconnected meanwhile, or gave up: then listeners end with ``ReconnectFailedError``)."""
        policy = self._reconnect
        assert policy is not None
        core = self._core
        with self._lock:
            self._recovered.clear()
            dropped, self._transport = self._transport, None
            core.connection_lost(cause, recover=True)
        if dropped is not None:
            dropped.abort()
        logger.warning("session %s: connection lost (%s); reconnecting", self.session_id, cause)
        core.requests.fail_all(
            DeliveryUnknownError(
                "the connection dropped before the engine answered; nothing is sent twice, so "
                "check get_messages() before sending this message again"
            )
        )
        deadline = backend.monotonic() + policy.deadline
        last_error: BaseException | None = cause
        attempt = 0
        while True:
            delay = policy.delay(attempt)
            attempt += 1
            if backend.monotonic() + delay > deadline:
                break
            if await self._closing.wait(delay):
                return None
            try:
                transport = await self._open_transport()
            except SessionAuthenticationError as exc:
                last_error = exc
                break  # the key was revoked: waiting will not bring it back
            except HandshakeError as exc:
                last_error = exc
                continue
            try:
                await self._rejoin(transport)
            except SessionNotFoundError as exc:
                transport.abort()
                last_error = exc
                break  # the session is gone
            except (TransportClosed, SessionError) as exc:
                core.abandon_rejoin()
                transport.abort()
                last_error = exc
                continue
            with self._lock:
                if self._closing.is_set():
                    transport.abort()
                    return None
                self._transport = transport
                core.finish_rejoin()
            self._recovered.set()
            logger.info("session %s: reconnected after %d attempt(s)", self.session_id, attempt)
            return transport
        core.abandon_rejoin()
        self._give_up(policy, last_error)
        return None

    async def _rejoin(self, transport: backend.Transport) -> None:
        """Send the core's rejoin frames and feed it what comes until it has its answers."""
        core = self._core
        deadline = backend.monotonic() + self._connect_timeout
        for frame in core.start_rejoin():
            await transport.send(codec.encode_client_frame(frame))
        while not core.rejoin_done:
            remaining = deadline - backend.monotonic()
            if remaining <= 0:
                raise SessionTimeoutError("the engine did not answer the reconnection in time")
            core.receive(await transport.recv(remaining))
        error = core.rejoin_error
        if error is not None:
            raise error

    def _give_up(self, policy: ReconnectPolicy, cause: BaseException | None) -> None:
        logger.error("session %s: could not reconnect (%s); giving up", self.session_id, cause)
        with self._lock:
            self._core.state = State.CLOSED
            self._closing.set()
        error = self._lost = ReconnectFailedError(
            f"the connection to {self._url} dropped and could not be restored within "
            f"{policy.deadline} s ({cause}); connect() later resumes session "
            f"{self.session_id!r}"
        )
        self._core.requests.fail_all(error)
        self._core.log.end_listeners(error)
        self._recovered.set()

    async def _heartbeat_loop(self) -> None:
        """Ping the session; a connection silent past ``heartbeat_timeout`` is treated as dead."""
        interval = self._ping_interval
        assert interval
        core = self._core
        ws_ping_every = max(1, round(_WS_PING_INTERVAL / interval))
        beats = 0
        heard, heard_at = core.frames_received, backend.monotonic()
        while not await self._closing.wait(interval):
            transport = self._transport
            now = backend.monotonic()
            if transport is None or core.state is not State.CONNECTED:
                heard, heard_at = core.frames_received, now
                continue  # recovering: the reader owns that
            if core.frames_received != heard:
                heard, heard_at = core.frames_received, now
            elif self._heartbeat_timeout is not None and now - heard_at > self._heartbeat_timeout:
                logger.warning(
                    "session %s: nothing heard for %.1f s; dropping the connection",
                    self.session_id,
                    now - heard_at,
                )
                transport.abort()  # the reader sees the drop and recovers
                continue
            beats += 1
            try:
                if not core.requests.waiting(codec.PingSession.TYPE):
                    with self._lock:
                        core.requests.expect(codec.PingSession.TYPE, _UNAWAITED)
                    await transport.send(
                        codec.encode_client_frame(codec.PingSession(self.session_id or ""))
                    )
                if beats % ws_ping_every == 0:
                    await transport.ping()
            except TransportClosed:
                continue

    # --- requests ---------------------------------------------------------------------------

    async def _request(self, frame: codec.ClientFrame, timeout: float) -> codec.Answer:
        """Send a frame and wait for its answer.

        A history request cut off by a dropped connection is asked again once the session has
        recovered (it changes nothing); anything else fails, as it must not be sent twice.
        """
        requests = self._core.requests
        while True:
            transport = self._transport
            if transport is None:
                raise SessionDisconnectedError("the session is not connected; call connect() first")
            answer = _Answer()
            with self._lock:
                requests.expect(frame.TYPE, answer)
            try:
                await transport.send(codec.encode_client_frame(frame))
            except TransportClosed as exc:
                with self._lock:
                    requests.forget(frame.TYPE, answer)
                if self._reconnect is not None and self._core.state in (
                    State.CONNECTED,
                    State.RECONNECTING,
                ):
                    # Dropped before sending: start (or join) the recovery, then send it.
                    self._mark_dropped(transport)
                    await self._ready(frame.TYPE)
                    continue
                raise SessionDisconnectedError(
                    f"the connection is closed ({exc}); nothing was sent"
                ) from None
            try:
                result: codec.Answer = await answer.wait(timeout, frame.TYPE)
                return result
            except DeliveryUnknownError:
                if not isinstance(frame, codec.GetMessages):
                    raise
                await self._ready(frame.TYPE)

    def _mark_dropped(self, transport: backend.Transport) -> None:
        """A sender found the connection dead before the reader did: recovery starts now, so
        callers wait for it instead of retrying a dead connection (which, on one event loop,
        would never let the reader run)."""
        with self._lock:
            if self._transport is transport and self._core.state is State.CONNECTED:
                self._core.state = State.RECONNECTING
                self._recovered.clear()
        transport.abort()

    async def _ready(self, action: str) -> str:
        """The session id, once connected; during a recovery, wait for it to end first."""
        if self._core.state is State.RECONNECTING and self._reconnect is not None:
            await self._recovered.wait(self._reconnect.deadline)
        return self._require_connected(action)

    def _require_connected(self, action: str, *, recovering_ok: bool = False) -> str:
        state = self._core.state
        session_id = self.session_id
        if session_id is None or not (
            state is State.CONNECTED or (recovering_ok and state is State.RECONNECTING)
        ):
            if state is State.CLOSED and self._lost is not None:
                raise type(self._lost)(f"cannot {action}: {self._lost}")
            if state is State.TERMINATED:
                why = "it was terminated"
            elif state is State.CLOSED:
                why = "it is disconnected; connect() resumes it"
            else:
                why = "it is not connected; call connect() or use it as a context manager"
            raise SessionDisconnectedError(f"cannot {action}: {why}")
        return session_id

    async def _post(self, frame: codec.PostMessage | codec.PostMessages) -> None:
        ack = await self._request(frame, self._ack_timeout)
        if ack.error is not None:
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
        session_id = await self._ready("send")
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
        session_id = await self._ready("send_many")
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
            raise TypeError(f"cannot respond to a {event.type} event: {hint}")
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
            got = str(event.type) if isinstance(event, SessionEvent) else type(event).__name__
            raise TypeError(f"respond_approval expects an APPROVAL_REQUEST event, got {got}")
        if not isinstance(approved, bool):
            raise TypeError(f"approved must be True or False, got {approved!r}")
        if confirm is not None and not isinstance(confirm, Mapping):
            raise TypeError(
                f"confirm must be a mapping of field values, got {type(confirm).__name__}"
            )
        session_id = await self._ready("respond")
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

        It starts at the first event no listener has read yet (so nothing that arrived since
        the last listener left is missed). ``event_types`` keeps only those types; a listener
        more than ``maxsize`` events behind (0 = no limit) loses the oldest, and an ``ERROR``
        event ``"subscriber queue overflow"`` takes their place.
        """
        self._require_connected("listen", recovering_ok=True)
        types = _event_type_filter(event_types)
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 0:
            raise ValueError(f"maxsize must be an integer >= 0 (0 = unbounded), got {maxsize!r}")
        log = self._core.log
        return AsyncSessionListener(log, maxsize, types)

    async def get_messages(self) -> list[SessionMessage]:
        """The session's history as ``SessionMessage`` objects (never seen by listeners)."""
        session_id = await self._ready("get_messages")
        answer = await self._request(codec.GetMessages(session_id), self._history_timeout)
        return list(answer.messages or ())

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
        read: a later ``listen()`` starts after it.
        """
        await self._ready("ask")
        log = self._core.log
        listener = AsyncSessionListener(log, from_now=True)
        try:
            await self.send(content, files=files, mime_type=mime_type, filename=filename)
            deadline = None if timeout is None else backend.monotonic() + timeout
            watcher = TurnWatcher(stop_for_action=True)
            while True:
                try:
                    event = await listener._get(deadline)
                except StopAsyncIteration:
                    raise SessionDisconnectedError(
                        "the session disconnected during the turn"
                    ) from None
                except SessionTimeoutError:
                    raise SessionTimeoutError(f"the turn did not end within {timeout} s") from None
                if watcher.feed(event):
                    return watcher.result(self.session_id or "")
        finally:
            await listener.aclose()

    # --- key safety -------------------------------------------------------------------------

    def _check_key_transport(self) -> None:
        """Never send a key in clear text to another machine, unless explicitly allowed."""
        if not self._api_key or self._allow_insecure_key:
            return
        host = cleartext_host(self._url)
        if host is not None:
            raise SessionError(
                f"refusing to send the API key unencrypted to {host} over ws://; use "
                f"wss://, or pass allow_insecure_key=True if this network is trusted"
            )


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
