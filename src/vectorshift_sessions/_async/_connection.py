"""The I/O under one session: the connection, its reader, its heartbeat and its recovery.

The core (``_core.py``) decides; this connects, reads, writes, waits and keeps time. One reader
worker owns the connection and feeds the core every frame; requests wait for the answers the
core hands back. Written once, in ``_async/``; ``_sync/`` is generated from it.
"""

from __future__ import annotations

import logging
import ssl
from typing import TYPE_CHECKING, Any

from .. import _codec as codec
from .. import _logs
from .._backends import _asyncio_backend as backend
from .._backends._base import TransportClosed, TransportError
from .._backends._proxy import ProxySetting
from .._core import Beat, SessionCore, State
from .._errors import (
    DeliveryUnknownError,
    HandshakeError,
    ReconnectFailedError,
    SessionAuthenticationError,
    SessionDisconnectedError,
    SessionError,
    SessionNotFoundError,
    SessionTimeoutError,
)
from .._failures import open_failed
from .._retry import ReconnectPolicy

if TYPE_CHECKING:  # imported only when a session records
    from .._cassette import Recorder, Recording

__all__ = ["Connection"]

logger = _logs.CONNECTION

#: How often a WebSocket ping keeps idle proxies from closing the connection.
_WS_PING_INTERVAL = 30.0


class _Pending:
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


class Connection:
    """One session's link to the engine, through whatever drops it meets."""

    def __init__(
        self,
        core: SessionCore,
        url: str,
        api_key: str | None,
        *,
        connect_timeout: float,
        ping_interval: float | None,
        heartbeat_timeout: float | None,
        reconnect: ReconnectPolicy | None,
        max_frame_bytes: int | None,
        ssl_context: ssl.SSLContext | None,
        proxy: ProxySetting = True,
    ):
        self.core = core
        self.url = url
        self._api_key = api_key
        self._connect_timeout = connect_timeout
        self._ping_interval = ping_interval
        # Without pings an idle connection is silent, so silence proves nothing.
        self._heartbeat_timeout = heartbeat_timeout if ping_interval else None
        self.reconnect = reconnect
        self._max_frame_bytes = max_frame_bytes
        self._ssl_context = ssl_context
        self._proxy: ProxySetting = proxy
        self._lock = backend.StateLock()  # state transitions race with the reader (threads)
        self._transport: backend.Transport | None = None
        self._joining: backend.Transport | None = None  # a recovery's, until it has rejoined
        self._reader: backend.Worker | None = None
        self._heartbeat: backend.Worker | None = None
        self._closing = backend.Event()  # set by close(): ends the heartbeat and recovery
        self._recovered = backend.Event()  # clear while recovering; senders wait on it
        self._recovered.set()
        self.lost: SessionDisconnectedError | None = None  # why an unasked drop closed it
        # The cassette this connection writes every frame to (``record_to``), while connected.
        self.recording: Recording | None = None
        # Requests, and frames while recording, are sent one at a time: see ``request`` and
        # ``_send`` (threads only: on one event loop, nothing interleaves a send).
        self._send_lock = backend.StateLock()

    # --- opening and closing ----------------------------------------------------------------

    async def open(self) -> None:
        """Open the WebSocket and start the reader (the session then joins through it)."""
        self.core.state = State.CONNECTING
        self._closing.clear()
        self.lost = None
        transport = await self._open_transport()
        self._transport = transport
        self._reader = backend.spawn(
            self._read_loop, transport, name=f"vectorshift-session-reader-{self.core.session_id}"
        )

    def start_recording(
        self, recorder: Recorder, owner: tuple[str, str] | None, owner_name: str | None = None
    ) -> None:
        """Record every frame of the connection about to open, until it closes. ``owner`` is
        the agent's or chatbot's (type, id), ``owner_name`` its name when known."""
        self.stop_recording()
        owner_type, owner_id = owner or (None, None)
        self.recording = recorder.start(
            owner_type=owner_type,
            owner_id=owner_id,
            owner_name=owner_name if owner else None,
            session_id=self.core.session_id,
            secret=self._api_key,
        )

    def stop_recording(self) -> None:
        recording, self.recording = self.recording, None
        if recording is not None:
            recording.close()

    async def _send(self, transport: backend.Transport, frame: codec.ClientFrame) -> None:
        """Send one frame; when recording, record it too.

        While recording, each frame is timed when its sending began (so before its answer),
        and frames are sent one at a time (a lock per connection, taken only then): their
        times are in the order they went on the wire, which concurrent threads would
        otherwise mix up (each reading the clock, then waiting for the socket). On one event
        loop the lock has nothing to do: a frame is written before any other task runs.

        A frame is recorded once it was handed to the transport: ``transport.send`` was
        called and did not refuse it with ``TransportClosed`` (then the session reports it
        unsent, and it is not recorded). So a send cancelled under way (a timeout, a task
        cancelled) is recorded too. On asyncio the transport writes the frame's bytes
        before its only wait (for a full write buffer to drain), so a cancellation always
        comes after the engine could get them; a blocking send cannot be cancelled, and an
        interrupt (Ctrl-C) during it counts as sent.
        """
        text = codec.encode_client_frame(frame)
        recording = self.recording
        if recording is None:
            await transport.send(text)
            return
        with self._send_lock:
            began = recording.clock()
            handed = True
            try:
                await transport.send(text)
            except TransportClosed:
                handed = False
                raise
            finally:
                if handed:
                    recording.sent(text, began)

    def start_heartbeat(self) -> None:
        self.core.state = State.CONNECTED
        if self._ping_interval:
            self._heartbeat = backend.spawn(
                self._heartbeat_loop,
                name=f"vectorshift-session-heartbeat-{self.core.session_id}",
            )

    async def _open_transport(self) -> backend.Transport:
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        try:
            return await backend.connect(
                self.url,
                headers=headers,
                open_timeout=self._connect_timeout,
                max_size=self._max_frame_bytes,
                ssl_context=self._ssl_context,
                proxy=self._proxy,
            )
        except TransportError as exc:
            raise open_failed(self.url, exc, self._api_key) from None

    async def close_failed_open(self) -> None:
        """Undo an ``open()`` whose join failed (new again, unless it got further)."""
        state = self.core.state
        await self.close(State.NEW if state is State.CONNECTING else state, None)

    async def close(self, final_state: State, goodbye: codec.ClientFrame | None) -> None:
        """Say ``goodbye`` (if any), close, stop the workers; listeners end after what they
        were given, waiting callers fail."""
        core = self.core
        with self._lock:
            core.state = State.CLOSING
            self._closing.set()
            transport, self._transport = self._transport, None
            joining, self._joining = self._joining, None
        if joining is not None:
            joining.abort()  # a recovery's rejoin, which would otherwise hold us up
        if transport is not None:
            if goodbye is not None:
                try:
                    await self._send(transport, goodbye)
                except TransportClosed:
                    pass
            await transport.close()
        for worker in (self._reader, self._heartbeat):
            if worker is not None:
                await worker.join()
        self._reader = self._heartbeat = None
        core.state = final_state
        core.abandon_rejoin()
        self.lost = None
        reason = "the session was terminated" if final_state is State.TERMINATED else "disconnected"
        core.requests.fail_all(SessionDisconnectedError(f"{reason} before the answer came"))
        core.log.end_listeners()
        self._recovered.set()
        self.stop_recording()
        if core.telemetry is not None:
            core.telemetry.detached(None)

    # --- the reader: every frame into the core ----------------------------------------------

    async def _read_loop(self, transport: backend.Transport) -> None:
        """Own the connection: read it until it closes; recover it if it drops unasked."""
        current: backend.Transport | None = transport
        try:
            while current is not None:
                cause = await self._pump(current)
                state = self.core.state
                # RECONNECTING already: a sender found the connection dead before we did.
                if state in (State.CONNECTED, State.RECONNECTING) and self.reconnect is not None:
                    current = await self._recover(cause)
                else:
                    if state in (State.CONNECTED, State.CONNECTING):
                        self._end(cause, None)
                    current = None
        except Exception as exc:  # a bug must not leave listeners and callers hanging
            _logs.log(
                logger, logging.ERROR, self.core.session_id, "the reader failed", exc_info=True
            )
            if self.core.state not in (State.CLOSING, State.CLOSED, State.TERMINATED):
                self._end(exc, None)

    async def _pump(self, transport: backend.Transport) -> BaseException | None:
        """The hot path: frames in -> core. Returns why the connection ended."""
        receive = self.core.receive
        recv_batch = transport.recv_batch
        recording = self.recording
        try:
            if recording is None:
                while True:
                    receive(await recv_batch())
            while True:  # recording: the frames go to the cassette first
                texts = await recv_batch()
                recording.received(texts)
                receive(texts)
        except TransportClosed as exc:
            return exc
        except Exception as exc:  # a bug must not leave listeners hanging
            _logs.log(
                logger, logging.ERROR, self.core.session_id, "the reader failed", exc_info=True
            )
            return exc

    def _end(self, cause: BaseException | None, policy: ReconnectPolicy | None) -> None:
        """The connection dropped for good: fail waiters, end listeners with a typed error."""
        session_id = self.core.session_id
        with self._lock:
            self.core.connection_lost(cause, recover=False)
            self._transport = None
            self._closing.set()
        if policy is None:
            _logs.log(logger, logging.WARNING, session_id, "connection lost (%s)", cause)
            error = SessionDisconnectedError(
                f"the connection to {self.url} was lost ({cause}); connect() resumes the session"
            )
        else:
            _logs.log(
                logger,
                logging.ERROR,
                session_id,
                "could not reconnect within %s s (%s); giving up",
                policy.deadline,
                cause,
            )
            error = ReconnectFailedError(
                f"the connection to {self.url} dropped and could not be restored within "
                f"{policy.deadline} s ({cause}); connect() later resumes session {session_id!r}"
            )
        self.lost = error
        self.core.requests.fail_all(error)
        self.core.log.end_listeners(error)
        self._recovered.set()
        self.stop_recording()
        if self.core.telemetry is not None:
            self.core.telemetry.detached(error)

    # --- recovery ---------------------------------------------------------------------------

    async def _recover(self, cause: BaseException | None) -> backend.Transport | None:
        """Reconnect to the same session and let the core backfill; the new transport, or None
        (closed meanwhile, or gave up: then listeners end with ``ReconnectFailedError``)."""
        policy = self.reconnect
        assert policy is not None
        core = self.core
        with self._lock:
            self._recovered.clear()
            dropped, self._transport = self._transport, None
            core.connection_lost(cause, recover=True)
        if dropped is not None:
            dropped.abort()
        _logs.log(
            logger, logging.WARNING, core.session_id, "connection lost (%s); reconnecting", cause
        )
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
            _logs.log(
                logger,
                logging.INFO,
                core.session_id,
                "reconnect attempt %d in %.3f s",
                attempt,
                delay,
            )
            if await self._closing.wait(delay):
                return None
            try:
                transport = await self._open_transport()
            except SessionAuthenticationError as exc:
                last_error = exc
                break  # the key was revoked: waiting will not bring it back
            except HandshakeError as exc:
                last_error = exc
                self._attempt_failed(attempt, exc)
                continue
            with self._lock:
                if self._closing.is_set():
                    transport.abort()
                    return None
                self._joining = transport
            try:
                await self._rejoin(transport)
            except (TransportClosed, SessionError) as exc:
                self._joining = None
                core.abandon_rejoin()
                transport.abort()
                last_error = exc
                if isinstance(exc, SessionNotFoundError):
                    break  # the session is gone
                self._attempt_failed(attempt, exc)
                continue
            with self._lock:
                self._joining = None
                if self._closing.is_set():
                    transport.abort()
                    return None
                self._transport = transport
                core.finish_rejoin(heartbeat=self._ping_interval is not None)
            self._recovered.set()
            _logs.log(
                logger, logging.INFO, core.session_id, "reconnected after %d attempt(s)", attempt
            )
            if core.telemetry is not None:
                core.telemetry.reconnected()
            return transport
        self._end(last_error, policy)
        return None

    def _attempt_failed(self, attempt: int, error: BaseException) -> None:
        _logs.log(
            logger,
            logging.INFO,
            self.core.session_id,
            "reconnect attempt %d failed: %s",
            attempt,
            error,
        )

    async def _rejoin(self, transport: backend.Transport) -> None:
        """Send the core's rejoin frames and feed it what comes until it has its answers."""
        core = self.core
        deadline = backend.monotonic() + self._connect_timeout
        for frame in core.start_rejoin():
            await self._send(transport, frame)
        while not core.rejoin_done:
            remaining = deadline - backend.monotonic()
            if remaining <= 0:
                raise SessionTimeoutError("the engine did not answer the reconnection in time")
            texts = await transport.recv_batch(remaining)
            recording = self.recording
            if recording is not None:
                recording.received(texts)
            core.receive(texts)
        error = core.rejoin_error
        if error is not None:
            raise error

    async def _heartbeat_loop(self) -> None:
        """Tick the core's heartbeat: ping the session, drop a connection gone silent."""
        interval = self._ping_interval
        assert interval
        core = self.core
        ws_ping_every = max(1, round(_WS_PING_INTERVAL / interval))
        ticks = 0
        while not await self._closing.wait(interval):
            beat = core.heartbeat(backend.monotonic(), self._heartbeat_timeout)
            transport = self._transport
            if transport is None or core.state is not State.CONNECTED:
                continue  # recovering: the reader owns the connection
            if beat is Beat.DEAD:
                _logs.log(
                    logger,
                    logging.WARNING,
                    core.session_id,
                    "nothing heard for %s s; dropping the connection",
                    self._heartbeat_timeout,
                )
                transport.abort()  # the reader sees the drop and recovers
                continue
            ticks += 1
            try:
                if beat is Beat.PING:
                    await self._send(transport, codec.PingSession(core.session_id or ""))
                if ticks % ws_ping_every == 0:
                    await transport.ping()  # keeps idle proxies from closing the connection
            except TransportClosed:
                continue

    # --- requests ---------------------------------------------------------------------------

    async def request(self, frame: codec.ClientFrame, timeout: float) -> codec.Answer:
        """Send a frame and wait for its answer.

        A history request cut off by a dropped connection is asked again once the session has
        recovered (it changes nothing); anything else fails, as it must not be sent twice.
        """
        requests = self.core.requests
        while True:
            transport = self._transport
            if transport is None:
                if self.reconnect is not None and self.core.state is State.RECONNECTING:
                    await self.ready(frame.TYPE)  # it dropped just now: wait for the recovery
                    continue
                raise SessionDisconnectedError("the session is not connected; call connect() first")
            answer = _Pending()
            try:
                # Answers are matched to requests in order: with threads, each request's place
                # in the queue and its place on the wire must be the same (one lock for both).
                with self._send_lock:
                    requests.expect(frame.TYPE, answer)
                    try:
                        await self._send(transport, frame)
                    except TransportClosed:
                        requests.forget(frame.TYPE, answer)
                        raise
            except TransportClosed as exc:
                state = self.core.state
                if self.reconnect is not None and state in (State.CONNECTED, State.RECONNECTING):
                    # Dropped before sending: start (or join) the recovery, then send it.
                    self._mark_dropped(transport)
                    await self.ready(frame.TYPE)
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
                await self.ready(frame.TYPE)
                frame = self.core.history_reask(frame)
            except SessionTimeoutError:
                # Answers are matched in order, so a lost one would shift every later answer
                # to the wrong caller: start afresh on a new connection (a recovery).
                if self.reconnect is not None:
                    self._mark_dropped(transport)
                raise

    def _mark_dropped(self, transport: backend.Transport) -> None:
        """A sender found the connection dead before the reader did: recovery starts now, so
        callers wait for it instead of retrying a dead connection (which, on one event loop,
        would never let the reader run)."""
        with self._lock:
            if self._transport is transport and self.core.state is State.CONNECTED:
                self.core.state = State.RECONNECTING
                self._recovered.clear()
        transport.abort()

    async def wait_recovered(self) -> None:
        """Return once no recovery is under way (or its deadline passed)."""
        if self.core.state is State.RECONNECTING and self.reconnect is not None:
            await self._recovered.wait(self.reconnect.deadline)

    async def ready(self, action: str) -> str:
        """The session id, once connected; during a recovery, wait for it to end first."""
        await self.wait_recovered()
        return self.require_connected(action)

    def require_connected(self, action: str, *, recovering_ok: bool = False) -> str:
        state = self.core.state
        session_id = self.core.session_id
        if session_id is None or not (
            state is State.CONNECTED or (recovering_ok and state is State.RECONNECTING)
        ):
            if state is State.CLOSED and self.lost is not None:
                raise type(self.lost)(f"cannot {action}: {self.lost}")
            if state is State.TERMINATED:
                why = "it was terminated"
            elif state is State.CLOSED:
                why = "it is disconnected; connect() resumes it"
            else:
                why = "it is not connected; call connect() or use it as a context manager"
            raise SessionDisconnectedError(f"cannot {action}: {why}")
        return session_id
