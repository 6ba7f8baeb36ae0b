"""The asyncio twin: the event loop's own sockets, websockets' Sans-I/O protocol, asyncio tasks
and events.

The connection is an ``asyncio.Protocol`` of ours driving websockets' ``ClientProtocol`` (the
documented way to run websockets on any I/O): the loop hands over each chunk it reads (up to
256 KiB), the protocol parses every frame in it at once, and the reader takes the texts waiting
in batches (``recv_batch``). websockets' own asyncio client spends about twice as long per
frame, between its frame queue, its message assembler and a future per ``recv()``.

Like websockets' own client, it goes through the proxy given, else the one the environment names
(``HTTPS_PROXY`` for ``wss://``, ``HTTP_PROXY`` for ``ws://``, else ``ALL_PROXY``; not for
``NO_PROXY`` hosts nor this machine): an HTTP ``CONNECT`` or SOCKS tunnel (``_proxy``).
"""

from __future__ import annotations

import asyncio
import ssl
import sys
import time
from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, cast

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake, InvalidState, InvalidStatus
from websockets.frames import CloseCode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import WebSocketURI

from ._base import (
    MAX_BATCH,
    TEXT,
    HandshakeRejected,
    NoDebugLogger,
    ProxyRefused,
    TransportClosed,
    TransportError,
    closed_by,
    sort_frames,
)
from ._proxy import Proxy, ProxySetting, Tunnel, open_tunnel, route

if TYPE_CHECKING:
    from typing_extensions import Self  # typing's from Python 3.11

__all__ = [
    "ConnectOnAwait",
    "Event",
    "StateLock",
    "Transport",
    "Worker",
    "connect",
    "monotonic",
    "sleep",
    "spawn",
]

monotonic = time.monotonic
_OPEN = State.OPEN
#: Texts parsed but not yet taken past which the socket is not read, and below which reading
#: resumes: a reader that cannot keep up holds at most this many, plus one read of the loop.
_HIGH_WATER = 4096
_LOW_WATER = 1024
#: Seconds to wait for the server to end the TCP connection after the closing handshake (a
#: client lets the server close first), before dropping it.
_CLOSE_TIMEOUT = 5.0
_LOGGER = NoDebugLogger("websockets.client")


class StateLock:
    """Guards state shared with the reader: nothing to do on one event loop, where no two
    steps interleave without an ``await`` (its twin is a ``threading.RLock``)."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        return None


class ConnectOnAwait:
    """``await obj`` connects it: ``session = await AsyncSession(...)``."""

    if TYPE_CHECKING:  # what a subclass defines

        async def connect(self) -> Self: ...

    def __await__(self) -> Generator[Any, None, Self]:
        return self.connect().__await__()


async def sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


class Event:
    """A flag that wakes its waiters; ``wait(timeout)`` says whether it was set.

    Lighter than ``asyncio.Event``, of which a session holds several: no waiter deque until
    someone waits, and a timeout is one timer, not the extra task ``asyncio.wait_for`` starts
    (before Python 3.12).
    """

    __slots__ = ("_flag", "_waiters")

    def __init__(self) -> None:
        self._flag = False
        self._waiters: list[asyncio.Future[bool]] | None = None

    def set(self) -> None:
        if not self._flag:
            self._flag = True
            waiters, self._waiters = self._waiters, None
            for waiter in waiters or ():
                if not waiter.done():
                    waiter.set_result(True)

    def clear(self) -> None:
        self._flag = False

    def is_set(self) -> bool:
        return self._flag

    async def wait(self, timeout: float | None = None) -> bool:
        if self._flag:
            return True
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        timer = None if timeout is None else loop.call_later(timeout, _expire, waiter, False)
        try:
            # True when set; False when the timer expired first (unless it was set meanwhile)
            return await waiter or self._flag
        finally:
            if timer is not None:
                timer.cancel()
            # set() took the list it woke; a timeout or cancel did not
            waiters = cast("list[asyncio.Future[bool]] | None", self._waiters)
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)


def _expire(waiter: asyncio.Future[Any], result: Any) -> None:
    if not waiter.done():
        waiter.set_result(result)


class Worker:
    """A background task running ``fn(*args)``."""

    def __init__(self, fn: Callable[..., Coroutine[Any, Any, None]], *args: Any, name: str):
        self._task = asyncio.get_running_loop().create_task(fn(*args), name=name)

    def is_current(self) -> bool:
        return asyncio.current_task() is self._task

    async def join(self) -> None:
        """Wait for the worker to end (a worker never joins itself)."""
        if self.is_current():
            return
        try:
            await asyncio.shield(self._task)
        except asyncio.CancelledError:
            if not self._task.cancelled():
                raise  # we were cancelled, not the worker
        except Exception:
            pass  # the worker logs its own failures


def spawn(fn: Callable[..., Coroutine[Any, Any, None]], *args: Any, name: str) -> Worker:
    return Worker(fn, *args, name=name)


class Transport(asyncio.Protocol):
    """One WebSocket connection: text frames in and out.

    The event loop calls its ``asyncio.Protocol`` side (``data_received`` and the rest) with
    what the socket brings; websockets' ``ClientProtocol`` parses it, and the texts wait in a
    list until the reader takes them with ``recv_batch``. One task at a time reads.
    """

    __slots__ = (
        "_closed",
        "_drained",
        "_lost",
        "_opened",
        "_partial",
        "_paused",
        "_texts",
        "_transport",
        "_waiter",
        "_ws",
    )

    def __init__(self, ws: ClientProtocol, loop: asyncio.AbstractEventLoop):
        self._ws = ws
        self._transport: asyncio.Transport | None = None
        self._texts: list[str] = []  # parsed, not yet taken by recv_batch
        self._waiter: asyncio.Future[None] | None = None  # recv_batch, waiting for texts
        self._closed: TransportClosed | None = None  # why nothing more will come, once so
        self._partial: bytearray | None = None  # the start of a fragmented message
        self._paused = False  # reading paused: too many texts wait unread
        self._drained: asyncio.Future[None] | None = None  # set while the write buffer is full
        self._opened: asyncio.Future[None] | None = loop.create_future()  # None: handshake over
        self._lost: asyncio.Future[None] = loop.create_future()  # done: the socket is released

    # --- what the event loop calls ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._flush()  # the handshake request

    def data_received(self, data: bytes) -> None:
        if self._closed is not None:
            return  # closed: the protocol was told the stream ended, and we read no further
        ws = self._ws
        ws.receive_data(data)
        events: list[Any] = ws.events_received()  # frames, but for the handshake's response
        if self._opened is not None:
            events = self._handshake(events)
        if events:
            # The hot path: every frame of the chunk at once, in one comprehension.
            texts = [f.data.decode("utf-8", "replace") for f in events if f.opcode is TEXT]
            # Anything but whole text frames (only the last frame can start a fragmented
            # message if all are text): control frames, binary or fragmented messages.
            if len(texts) != len(events) or not events[-1].fin or self._partial is not None:
                texts, _, self._partial = sort_frames(events, self._partial)
            if texts:
                waiting = self._texts
                waiting += texts
                if len(waiting) > _HIGH_WATER and not self._paused:
                    self._paused = True
                    self._transport.pause_reading()  # type: ignore[union-attr]
                waiter = self._waiter
                if waiter is not None:
                    self._waiter = None
                    if not waiter.done():
                        waiter.set_result(None)
        self._flush()  # pongs, the echo of a close frame, the close frame of a failure
        if ws.state is not _OPEN and self._closed is None and self._opened is None:
            self._close_with(closed_by(ws))

    def eof_received(self) -> bool | None:
        self._ws.receive_eof()
        self._after_eof()
        return None  # the loop closes the socket; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._ws.receive_eof()  # idempotent
        self._after_eof()
        opened, self._opened = self._opened, None
        if opened is not None and not opened.done():  # websockets says why first, normally
            opened.set_exception(ConnectionError("the connection closed during the handshake"))
        if self._closed is None:  # the socket broke before the stream ended
            self._close_with(TransportClosed(None, str(exc) if exc else "connection lost"))
        if not self._lost.done():
            self._lost.set_result(None)
        self.resume_writing()  # a sender waiting for the buffer to drain finds it closed

    def pause_writing(self) -> None:
        if self._drained is None:
            self._drained = self._lost.get_loop().create_future()

    def resume_writing(self) -> None:
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def _after_eof(self) -> None:
        ws = self._ws
        if self._opened is not None:
            self._handshake(ws.events_received())
        self._flush()
        if ws.state is not _OPEN and self._closed is None and self._opened is None:
            self._close_with(closed_by(ws))

    def _handshake(self, events: list[Any]) -> list[Any]:
        """While the opening handshake lasts: settle it once it ends; the frames after it."""
        opened = self._opened
        assert opened is not None
        failure = self._ws.handshake_exc
        if failure is None and not (events and isinstance(events[0], Response)):
            return []  # not all of the response yet
        self._opened = None
        if not opened.done():
            if failure is None:
                opened.set_result(None)
            else:
                opened.set_exception(failure)
        return events[1:] if failure is None else []

    def _flush(self) -> None:
        transport = self._transport
        if transport is None:
            return
        for data in self._ws.data_to_send():
            if data:
                transport.write(data)
            else:  # our end of the stream, after the server's: release the socket
                transport.close()

    def _close_with(self, closed: TransportClosed) -> None:
        """Nothing more will come: wake the reader, and never wait forever for the server."""
        self._closed = closed
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        transport = self._transport
        if transport is not None and not transport.is_closing():
            self._lost.get_loop().call_later(_CLOSE_TIMEOUT, transport.abort)

    def _refusal(self) -> TransportClosed:
        closed = self._closed
        if closed is None:
            return TransportClosed(None, "connection closed")
        return TransportClosed(closed.code, closed.reason)  # a fresh one: no traceback pile-up

    # --- what the session calls -------------------------------------------------------------

    async def recv_batch(self, timeout: float | None = None) -> list[str]:
        """The texts of the next frames, in order: every one parsed and not yet taken, up to
        ``MAX_BATCH`` (at least one; waits for one). ``TransportClosed`` once the connection is
        closed (after the texts that came before that), or when no frame came within
        ``timeout`` seconds."""
        if self._texts:
            # Parsed while the reader was busy: let other tasks in first (listeners drain their
            # queues), or a fast stream would run the reader without ever yielding.
            await asyncio.sleep(0)
        elif self._closed is not None:
            raise self._refusal()
        else:
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiter = waiter
            timer = None if timeout is None else loop.call_later(timeout, _expire, waiter, None)
            try:
                await waiter  # cancelling loses nothing: the texts stay for the next call
            finally:
                if timer is not None:
                    timer.cancel()
                if self._waiter is waiter:
                    self._waiter = None
            if not self._texts:
                if self._closed is not None:
                    raise self._refusal()
                raise TransportClosed(None, f"no frame within {timeout} s")
        waiting = self._texts
        if len(waiting) <= MAX_BATCH:
            self._texts = []
            texts = waiting
        else:
            texts = waiting[:MAX_BATCH]
            del waiting[:MAX_BATCH]
        if self._paused and len(self._texts) <= _LOW_WATER:
            self._paused = False
            if self._transport is not None:
                self._transport.resume_reading()
        return texts

    async def send(self, text: str) -> None:
        transport = self._transport
        if self._closed is not None or transport is None or transport.is_closing():
            raise self._refusal()
        try:
            self._ws.send_text(text.encode())
        except InvalidState:  # we sent a close frame already
            raise self._refusal() from None
        for data in self._ws.data_to_send():
            transport.write(data)
        drained = self._drained
        if drained is not None:  # the write buffer is full: wait for the socket to take it
            await asyncio.shield(drained)
            if self._closed is not None:  # lost meanwhile, as websockets' send() says
                raise self._refusal()

    async def ping(self) -> None:
        """A WebSocket ping, to keep proxies from closing an idle connection."""
        transport = self._transport
        if self._closed is not None or transport is None or transport.is_closing():
            raise self._refusal()
        try:
            self._ws.send_ping(b"")
        except InvalidState:
            raise self._refusal() from None
        self._flush()

    async def close(self) -> None:
        """The closing handshake, then the socket is released (within ``_CLOSE_TIMEOUT``)."""
        transport = self._transport
        if transport is None:
            return
        ws = self._ws
        if ws.state is _OPEN and not transport.is_closing():
            ws.send_close(CloseCode.NORMAL_CLOSURE)
            self._flush()
        timer = asyncio.get_running_loop().call_later(_CLOSE_TIMEOUT, transport.abort)
        try:
            await asyncio.shield(self._lost)  # the server ends the TCP connection
        finally:
            timer.cancel()
            transport.abort()  # nothing left once lost; at once if we were cancelled

    def abort(self) -> None:
        """Drop the connection at once, without the closing handshake."""
        if self._transport is not None:
            self._transport.abort()
        if self._closed is None:
            self._close_with(TransportClosed(None, "connection aborted"))


async def connect(
    url: str,
    *,
    headers: dict[str, str],
    open_timeout: float,
    max_size: int | None,
    ssl_context: ssl.SSLContext | None = None,
    proxy: ProxySetting = True,
) -> Transport:
    """Open a WebSocket (through the proxy ``proxy`` chooses, if any: see
    ``_proxy.choose_proxy``), or raise ``HandshakeRejected`` / ``ProxyRefused`` /
    ``TransportError``."""
    uri, chosen, through = route(
        url, proxy, "needs Python 3.11 or later" if sys.version_info < (3, 11) else None
    )
    ws = ClientProtocol(uri, max_size=max_size, logger=_LOGGER)
    request = ws.connect()  # no User-Agent, no compression extension
    for name, value in headers.items():
        if name in request.headers:  # one of each: our Authorization over one from the URL
            del request.headers[name]
        request.headers[name] = value
    ws.send_request(request)
    # TLS for wss:// URLs: verified against the system's trust store unless a context is given.
    tls = (ssl_context or ssl.create_default_context()) if uri.secure else None
    try:
        return await asyncio.wait_for(_open(ws, uri, tls, chosen, ssl_context), open_timeout)
    except InvalidStatus as exc:
        response = exc.response
        body = response.body.decode("utf-8", "replace") if response.body else ""
        location = response.headers.get("Location")
        raise HandshakeRejected(response.status_code, body, location) from None
    except (asyncio.TimeoutError, TimeoutError):
        raise TransportError(
            f"cannot open {url}{through}: no answer within {open_timeout} s", kind="timeout"
        ) from None
    except (OSError, InvalidHandshake) as exc:
        raise TransportError.from_os_error(f"cannot open {url}{through}", exc) from None


async def _open(
    ws: ClientProtocol,
    uri: WebSocketURI,
    tls: ssl.SSLContext | None,
    proxy: Proxy | None,
    ssl_context: ssl.SSLContext | None,
) -> Transport:
    loop = asyncio.get_running_loop()
    transport = Transport(ws, loop)
    opened = transport._opened
    assert opened is not None
    if proxy is None:
        await loop.create_connection(
            lambda: transport,
            uri.host,
            uri.port,
            ssl=tls,
            server_hostname=uri.host if tls is not None else None,
        )
    else:
        await _tunnel(transport, proxy, uri, tls, ssl_context)
    try:
        await opened
    except BaseException:  # refused, timed out or cancelled: leave nothing open
        opened.cancel()
        transport.abort()
        raise
    return transport


# --- proxies: the tunnel (which proxy, and the bytes of the exchange, are in _proxy) ---------


class _Tunnel(asyncio.Protocol):
    """The connection to the proxy until the tunnel is open: then it stops reading, and the
    connection passes to the WebSocket's ``Transport`` (after TLS, for ``wss://``)."""

    def __init__(self, proxy: Proxy, exchange: Tunnel, loop: asyncio.AbstractEventLoop):
        self.proxy = proxy
        self.exchange = exchange
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.exchange.data_to_send())

    def data_received(self, data: bytes) -> None:
        if self.opened.done():
            return
        try:
            done = self.exchange.receive_data(data)
        except TransportError as exc:
            self.opened.set_exception(exc)
            return
        assert self.transport is not None
        more = self.exchange.data_to_send()  # SOCKS: credentials, then the request
        if more:
            self.transport.write(more)
        if done:
            self.transport.pause_reading()  # the rest is the tunnel's
            self.opened.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(
                ProxyRefused(
                    f"the proxy {self.proxy} closed the connection before it opened the tunnel",
                    proxy=str(self.proxy),
                )
            )


async def _tunnel(
    transport: Transport,
    proxy: Proxy,
    uri: WebSocketURI,
    tls: ssl.SSLContext | None,
    ssl_context: ssl.SSLContext | None,
) -> None:
    """Ask the proxy for a tunnel to the server, then hand it to ``transport`` (which sends the
    handshake request): after TLS with the server itself for ``wss://``."""
    loop = asyncio.get_running_loop()
    tunnel = _Tunnel(proxy, open_tunnel(proxy, uri.host, uri.port), loop)
    proxy_tls = (ssl_context or ssl.create_default_context()) if proxy.scheme == "https" else None
    try:
        await loop.create_connection(
            lambda: tunnel,
            proxy.host,
            proxy.port,
            ssl=proxy_tls,
            server_hostname=proxy.host if proxy_tls is not None else None,
        )
    except OSError as exc:
        raise ProxyRefused(f"cannot reach the proxy {proxy}: {exc}", proxy=str(proxy)) from None
    raw = tunnel.transport
    assert raw is not None
    try:
        await tunnel.opened
        if tls is None:
            raw.set_protocol(transport)
            transport.connection_made(raw)  # sends the handshake request
            raw.resume_reading()
            return
        secure = await loop.start_tls(raw, transport, tls, server_hostname=uri.host)
        assert secure is not None
        transport.connection_made(secure)
    except BaseException:
        raw.abort()
        raise
