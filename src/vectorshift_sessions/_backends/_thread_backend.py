"""The threads twin: websocket-client for the handshake and for sending, websockets' Sans-I/O
protocol for reading, daemon threads and threading events. No asyncio anywhere (websockets'
Sans-I/O modules do not import it), so the blocking flavour works inside a running event loop
(a notebook) and in any server thread.

websocket-client reads each frame with two exact-size socket reads (header, payload): two system
calls per frame, and a release of the GIL at each, then parses in pure Python. Here the reader
takes the socket in chunks of ``CHUNK`` bytes and websockets' protocol parses every frame in a
chunk at once.

The socket is opened here, not by websocket-client: directly, or through the proxy given, else
the one the environment names (an HTTP ``CONNECT`` or SOCKS tunnel, ``_proxy``; the same choice
as the asyncio twin), then TLS for ``wss://``; websocket-client does the handshake on it.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import websocket
from websocket import ABNF
from websockets.exceptions import ProtocolError
from websockets.frames import CloseCode
from websockets.protocol import Protocol, Side, State
from websockets.uri import WebSocketURI

from ._base import (
    CHUNK,
    MAX_BATCH,
    TEXT,
    HandshakeRejected,
    NoDebugLogger,
    ProxyRefused,
    TransportClosed,
    TransportError,
    close_frames,
    closed_by,
    sort_frames,
)
from ._proxy import Proxy, ProxySetting, open_tunnel, route

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
sleep = time.sleep
_OPEN = State.OPEN
#: Guards state shared with the reader thread; re-entrant because a listener may be released
#: (and unsubscribe) by garbage collection in a thread that already holds it.
StateLock = threading.RLock
_LOGGER = NoDebugLogger("websockets.client")
#: What a socket raises when another thread shuts it down under a reader (``ValueError``: an
#: SSL socket unwrapped under it).
_BROKEN = (OSError, ValueError, AttributeError)


class ConnectOnAwait:
    """Blocking objects are not awaitable: ``with`` or ``connect()`` opens them."""


class Event:
    """A flag that wakes its waiters; ``wait(timeout)`` says whether it was set."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)


class Worker:
    """A daemon thread running ``fn(*args)``; it ends when the work it waits on is closed."""

    def __init__(self, fn: Callable[..., None], *args: Any, name: str):
        self._thread = threading.Thread(target=fn, args=args, name=name, daemon=True)
        self._thread.start()

    def is_current(self) -> bool:
        return threading.current_thread() is self._thread

    def join(self) -> None:
        """Wait for the worker to end (a worker never joins itself)."""
        if not self.is_current():
            self._thread.join()


def spawn(fn: Callable[..., None], *args: Any, name: str) -> Worker:
    return Worker(fn, *args, name=name)


class Transport:
    """One WebSocket connection: text frames in and out. ``send`` may be called from any thread;
    one thread at a time calls ``recv_batch``.

    websocket-client sends (under its lock); the reader reads the socket itself and lets
    websockets' protocol parse it. The protocol's own replies (pongs, close frames) are sent
    through websocket-client too, so every write takes the same lock.
    """

    __slots__ = ("_closed", "_partial", "_protocol", "_sock", "_texts", "_ws")

    def __init__(self, ws: websocket.WebSocket, max_size: int | None):
        self._ws = ws
        sock = ws.sock
        assert sock is not None  # connected
        self._sock: socket.socket = sock
        self._protocol = Protocol(Side.CLIENT, state=_OPEN, max_size=max_size, logger=_LOGGER)
        self._closed: TransportClosed | None = None  # why nothing more will come, once so
        self._partial: bytearray | None = None  # the start of a fragmented message
        self._texts: list[str] = []  # parsed, over MAX_BATCH: for the next call

    def recv_batch(self, timeout: float | None = None) -> list[str]:
        """The texts of the next frames, in order: those of the next socket read (at least one;
        it reads until one comes), up to ``MAX_BATCH``, the rest left for the next call.
        ``TransportClosed`` once the connection is closed (after the texts that came before
        that), or when no frame came within ``timeout`` seconds."""
        waiting = self._texts
        if waiting:
            # Served without a read, which would have released the GIL: let a listener thread
            # waiting for it run first, or a fast stream would starve listeners.
            time.sleep(0)
            if len(waiting) <= MAX_BATCH:
                self._texts = []
                return waiting
            texts = waiting[:MAX_BATCH]
            del waiting[:MAX_BATCH]
            return texts
        if self._closed is not None:
            raise self._refusal()
        protocol, sock = self._protocol, self._sock
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                data = sock.recv(CHUNK) if deadline is None else self._recv_within(deadline)
            except TimeoutError:
                raise TransportClosed(None, f"no frame within {timeout} s") from None
            except _BROKEN as exc:  # reset, or shut down by abort() in another thread
                self._end(TransportClosed(None, str(exc) or type(exc).__name__))
                raise self._refusal() from None
            if data:
                protocol.receive_data(data)
            else:
                protocol.receive_eof()
            events: list[Any] = protocol.events_received()  # frames only: the handshake is over
            # The hot path: every frame of the chunk at once, in one comprehension.
            texts = [f.data.decode("utf-8", "replace") for f in events if f.opcode is TEXT]
            # Anything but whole text frames (only the last frame can start a fragmented
            # message if all are text): control frames, binary or fragmented messages.
            if events and (
                len(texts) != len(events) or not events[-1].fin or self._partial is not None
            ):
                texts = self._sort(events)
            if protocol.state is not _OPEN:
                self._end(closed_by(protocol))
                if not texts:
                    raise self._refusal()
            if texts:
                if len(texts) > MAX_BATCH:
                    self._texts = texts[MAX_BATCH:]
                    del texts[MAX_BATCH:]
                return texts

    def _recv_within(self, deadline: float) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock = self._sock
        sock.settimeout(remaining)
        try:
            return sock.recv(CHUNK)
        finally:
            try:
                sock.settimeout(None)
            except OSError:  # closed meanwhile
                pass

    def _sort(self, events: list[Any]) -> list[str]:
        texts, pings, self._partial = sort_frames(events, self._partial)
        self._protocol.data_to_send()  # its own pongs: websocket-client sends ours
        for payload in pings:
            try:
                self._ws.pong(payload)
            except (websocket.WebSocketException, *_BROKEN):
                break  # the reader finds out
        return texts

    def _end(self, closed: TransportClosed) -> None:
        """Nothing more will come: send the close frame the protocol owes (the echo of the
        server's, or 1009 for a frame over ``max_size``), then release the socket."""
        if self._closed is not None:
            return
        self._closed = closed
        protocol = self._protocol
        owed = close_frames(protocol)[1] if protocol.state is not _OPEN else None
        protocol.data_to_send()  # its own bytes: websocket-client sends ours
        if owed is not None:
            try:
                payload = b"" if owed.code == CloseCode.NO_STATUS_RCVD else owed.serialize()
                self._ws.send(payload, ABNF.OPCODE_CLOSE)
            except (ProtocolError, websocket.WebSocketException, *_BROKEN):
                pass  # a goodbye at best
        self.abort()

    def _refusal(self) -> TransportClosed:
        closed = self._closed
        if closed is None:
            return TransportClosed(None, "connection closed")
        return TransportClosed(closed.code, closed.reason)  # a fresh one: no traceback pile-up

    def send(self, text: str) -> None:
        if self._closed is not None:
            raise self._refusal()
        try:
            self._ws.send(text)
        except (websocket.WebSocketException, *_BROKEN) as exc:
            raise TransportClosed(None, str(exc)) from None

    def ping(self) -> None:
        """A WebSocket ping, to keep proxies from closing an idle connection."""
        if self._closed is not None:
            raise self._refusal()
        try:
            self._ws.ping()
        except (websocket.WebSocketException, *_BROKEN) as exc:
            raise TransportClosed(None, str(exc)) from None

    def close(self) -> None:
        """Say goodbye, then wake a reader blocked in ``recv_batch`` and release the socket."""
        try:
            self._ws.send_close()
        except (websocket.WebSocketException, *_BROKEN):
            pass
        self.abort()

    def abort(self) -> None:
        """Drop the connection at once, without the closing handshake (a reader blocked in
        ``recv_batch`` wakes: the shutdown ends its read)."""
        sock = self._sock
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except _BROKEN:
            pass
        sock.close()


def connect(
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
    # the ssl module cannot wrap a TLS socket in TLS
    uri, chosen, through = route(url, proxy, "is not supported by the blocking flavour")
    deadline = time.monotonic() + open_timeout
    try:
        sock = _open_socket(uri, chosen, ssl_context, deadline)
    except TimeoutError:
        raise TransportError(
            f"cannot open {url}{through}: no answer within {open_timeout} s", kind="timeout"
        ) from None
    except OSError as exc:
        raise TransportError.from_os_error(f"cannot open {url}{through}", exc) from None
    ws = websocket.WebSocket(enable_multithread=True, skip_utf8_validation=True)
    try:
        sock.settimeout(_remaining(deadline))  # websocket-client leaves a given socket's alone
        ws.connect(  # type: ignore[no-untyped-call]
            url,
            header=[f"{k}: {v}" for k, v in headers.items()],
            socket=sock,  # opened above: websocket-client only does the handshake
            # A redirect is refused, as the asyncio twin does: following it, websocket-client
            # would open its own connection, ignoring our proxy choice and key checks.
            redirect_limit=0,
        )
    except websocket.WebSocketBadStatusException as exc:
        sock.close()
        body = exc.resp_body.decode("utf-8", "replace") if exc.resp_body else ""
        raise HandshakeRejected(exc.status_code, body) from None
    except (TimeoutError, websocket.WebSocketTimeoutException):
        sock.close()
        raise TransportError(
            f"cannot open {url}{through}: no answer within {open_timeout} s", kind="timeout"
        ) from None
    except (OSError, websocket.WebSocketException, ValueError) as exc:
        sock.close()
        redirect = ws.handshake_response
        if redirect is not None and redirect.status != 101:  # a redirect, not followed
            location = cast("dict[str, str]", redirect.headers).get("location")
            raise HandshakeRejected(redirect.status, "", location) from None
        raise TransportError.from_os_error(f"cannot open {url}{through}", exc) from None
    # From here on the reader reads ws.sock itself. Nothing of the stream is lost: websocket-
    # client reads the handshake response one byte at a time up to its blank line
    # (websocket/_http.py read_headers -> _socket.recv_line -> recv(sock, 1)), and reads frames
    # only when asked to (never, here), so the socket holds every byte after the response (an
    # SSL socket, in its own buffer).
    ws.settimeout(None)  # recv blocks until a frame comes or the socket is shut down
    return Transport(ws, max_size)


def _open_socket(
    uri: WebSocketURI, proxy: Proxy | None, ssl_context: ssl.SSLContext | None, deadline: float
) -> socket.socket:
    """A socket to the server (through the proxy's tunnel, if any), in TLS for ``wss://``."""
    if proxy is None:
        sock = socket.create_connection((uri.host, uri.port), _remaining(deadline))
    else:
        sock = _tunnel(proxy, uri, ssl_context, deadline)
    try:
        if uri.secure:  # verified against the system's trust store unless a context is given
            sock.settimeout(_remaining(deadline))
            tls = ssl_context or ssl.create_default_context()
            sock = tls.wrap_socket(sock, server_hostname=uri.host)
        return sock
    except BaseException:
        sock.close()
        raise


def _tunnel(
    proxy: Proxy, uri: WebSocketURI, ssl_context: ssl.SSLContext | None, deadline: float
) -> socket.socket:
    """A socket to the proxy, through which it tunnels to the server."""
    try:
        sock = socket.create_connection((proxy.host, proxy.port), _remaining(deadline))
        if proxy.scheme == "https":
            tls = ssl_context or ssl.create_default_context()
            sock = tls.wrap_socket(sock, server_hostname=proxy.host)
    except TimeoutError:
        raise
    except OSError as exc:
        raise ProxyRefused(f"cannot reach the proxy {proxy}: {exc}", proxy=str(proxy)) from None
    try:
        exchange = open_tunnel(proxy, uri.host, uri.port)
        opened = False
        while not opened:
            sock.sendall(exchange.data_to_send())
            sock.settimeout(_remaining(deadline))
            data = sock.recv(4096)  # the server never speaks first: all of it is the proxy's
            if not data:
                raise ProxyRefused(
                    f"the proxy {proxy} closed the connection before it opened the tunnel",
                    proxy=str(proxy),
                )
            opened = exchange.receive_data(data)
        sock.sendall(exchange.data_to_send())
        return sock
    except BaseException:
        sock.close()
        raise


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    return remaining
