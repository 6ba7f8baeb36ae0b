"""The threads twin: websocket-client, daemon threads and threading events. No asyncio anywhere,
so the blocking flavour works inside a running event loop (a notebook) and in any server thread.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import websocket
from websocket import ABNF

from ._base import HandshakeRejected, TransportClosed, TransportError

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
    "wait_blocking",
]

monotonic = time.monotonic
sleep = time.sleep
#: ``recv`` serves frames from a chunk already read (see ``_BufferedWebSocket``) without
#: releasing the GIL, so during a fast burst listener threads would rarely run and their queues
#: would overflow; like the asyncio twin, ``recv`` lets them in once every this many frames.
_YIELD_EVERY = 256
#: Guards state shared with the reader thread; re-entrant because a listener may be released
#: (and unsubscribe) by garbage collection in a thread that already holds it.
StateLock = threading.RLock


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


def wait_blocking(event: Event, timeout: float) -> bool:
    """Wait for ``event`` for up to ``timeout`` seconds; whether it was set."""
    return event.wait(timeout)


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
    one thread at a time calls ``recv``."""

    __slots__ = ("_max_size", "_unyielded", "_ws")

    def __init__(self, ws: websocket.WebSocket, max_size: int | None):
        self._ws = ws
        self._max_size = max_size
        self._unyielded = 0  # frames returned since other threads last had the GIL

    def send(self, text: str) -> None:
        try:
            self._ws.send(text)
        except (websocket.WebSocketConnectionClosedException, OSError) as exc:
            raise TransportClosed(None, str(exc)) from None

    def recv(self, timeout: float | None = None) -> str:
        """The next text frame; ``TransportClosed`` when closed (or silent past ``timeout``)."""
        self._unyielded += 1
        if self._unyielded >= _YIELD_EVERY:
            self._unyielded = 0
            time.sleep(0)  # releases the GIL: a listener thread waiting for it runs
        try:
            if timeout is not None:
                self._ws.settimeout(timeout)
            try:
                opcode, data = self._ws.recv_data()
            finally:
                if timeout is not None and self._ws.sock is not None:
                    self._ws.settimeout(None)
        except websocket.WebSocketTimeoutException:
            raise TransportClosed(None, f"no frame within {timeout} s") from None
        except (websocket.WebSocketException, OSError, AttributeError) as exc:
            # AttributeError: the socket was shut down under us (websocket-client sets sock=None)
            raise TransportClosed(None, str(exc)) from None
        if opcode == ABNF.OPCODE_CLOSE:
            code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
            raise TransportClosed(code, data[2:].decode("utf-8", "replace"))
        if self._max_size is not None and len(data) > self._max_size:
            # websocket-client has no limit of its own: refuse it as websockets would (1009)
            self.abort()
            raise TransportClosed(1009, f"frame of {len(data)} bytes over max_frame_bytes")
        return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)

    def ping(self) -> None:
        """A WebSocket ping, to keep proxies from closing an idle connection."""
        try:
            self._ws.ping()
        except (websocket.WebSocketException, OSError) as exc:
            raise TransportClosed(None, str(exc)) from None

    def close(self) -> None:
        """Say goodbye, then wake a reader blocked in ``recv`` and release the socket."""
        try:
            self._ws.send_close()
        except (websocket.WebSocketException, OSError):
            pass
        self.abort()

    def abort(self) -> None:
        """Drop the connection at once, without the closing handshake."""
        sock = self._ws.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


class _BufferedWebSocket(websocket.WebSocket):
    """websocket-client reads each frame with two exact-size socket reads (header, payload):
    two system calls per frame, and a release of the GIL at each. This reads the socket in
    large chunks and serves those reads from the chunk (the handshake reads the socket itself)."""

    _CHUNK = 64 * 1024

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._chunk = b""
        self._pos = 0

    def _recv(self, bufsize: int) -> bytes:
        chunk, pos = self._chunk, self._pos
        if not chunk:
            received: bytes = super()._recv(self._CHUNK)  # type: ignore[no-untyped-call]
            if len(received) <= bufsize:
                return received  # all of it
            chunk, pos = received, 0
        end = pos + bufsize
        if end >= len(chunk):  # used up: an idle connection keeps no chunk
            self._chunk, self._pos = b"", 0
        else:
            self._chunk, self._pos = chunk, end
        return chunk[pos:end]


def connect(
    url: str,
    *,
    headers: dict[str, str],
    open_timeout: float,
    max_size: int | None,
    ssl_context: ssl.SSLContext | None = None,
) -> Transport:
    """Open a WebSocket, or raise ``HandshakeRejected`` / ``TransportError``."""
    sslopt: dict[str, Any] = {"context": ssl_context} if ssl_context is not None else {}
    ws = _BufferedWebSocket(
        enable_multithread=True, skip_utf8_validation=True, sslopt=sslopt or None
    )
    try:
        ws.connect(  # type: ignore[no-untyped-call]
            url, header=[f"{k}: {v}" for k, v in headers.items()], timeout=open_timeout
        )
    except websocket.WebSocketBadStatusException as exc:
        body = exc.resp_body.decode("utf-8", "replace") if exc.resp_body else ""
        raise HandshakeRejected(exc.status_code, body) from None
    except (OSError, websocket.WebSocketException, ValueError) as exc:
        raise TransportError(f"cannot open {url}: {exc or type(exc).__name__}") from None
    ws.settimeout(None)  # recv blocks until a frame comes or the socket is shut down
    return Transport(ws, max_size)
