"""The asyncio twin: websockets' asyncio client, asyncio tasks and events."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from ._base import HandshakeRejected, NoDebugLogger, TransportClosed, TransportError

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
#: While frames are buffered, websockets' ``recv()`` returns them without yielding to the event
#: loop, so one fast burst (a socket read holds ~2,000 deltas) would run without letting any
#: other task in: listeners could not drain their queues, and would overflow. ``recv`` yields
#: once every this many frames.
_YIELD_EVERY = 256
#: Frames websockets buffers before it stops reading the socket (its default, 16, pauses and
#: resumes reading every few frames of a fast stream).
_MAX_QUEUE = 1024


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

    def __await__(self) -> Generator[Any, None, Any]:
        return self.connect().__await__()  # type: ignore[attr-defined,no-any-return]


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
        timer = None if timeout is None else loop.call_later(timeout, _expire, waiter)
        try:
            # True when set; False when the timer expired first (unless it was set meanwhile)
            return await waiter or self._flag
        finally:
            if timer is not None:
                timer.cancel()
            waiters = self._waiters  # set() took the list it woke; a timeout or cancel did not
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


def wait_blocking(event: Event, timeout: float) -> bool:
    """Wait for ``event`` without yielding: impossible on an event loop (nothing else would
    run to set it), so ``False`` at once. The threads twin really waits."""
    return False


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


class Transport:
    """One WebSocket connection: text frames in and out."""

    __slots__ = ("_unyielded", "_ws")

    def __init__(self, ws: ClientConnection):
        self._ws = ws
        self._unyielded = 0  # frames returned since the last yield to the event loop

    async def send(self, text: str) -> None:
        try:
            await self._ws.send(text)
        except ConnectionClosed as exc:
            raise _closed(exc) from None

    async def recv(self, timeout: float | None = None) -> str:
        """The next text frame; ``TransportClosed`` when closed (or silent past ``timeout``)."""
        self._unyielded += 1
        if self._unyielded >= _YIELD_EVERY:
            self._unyielded = 0
            await asyncio.sleep(0)
        try:
            if timeout is None:
                message = await self._ws.recv()
            else:  # websockets' recv() loses nothing when cancelled
                message = await asyncio.wait_for(self._ws.recv(), timeout)
        except ConnectionClosed as exc:
            raise _closed(exc) from None
        except asyncio.TimeoutError:
            raise TransportClosed(None, f"no frame within {timeout} s") from None
        return message if isinstance(message, str) else message.decode("utf-8", "replace")

    async def ping(self) -> None:
        """A WebSocket ping, to keep proxies from closing an idle connection."""
        try:
            await self._ws.ping()
        except ConnectionClosed as exc:
            raise _closed(exc) from None

    async def close(self) -> None:
        await self._ws.close()

    def abort(self) -> None:
        """Drop the connection at once, without the closing handshake."""
        transport = self._ws.transport
        if transport is not None:
            transport.abort()


def _closed(exc: ConnectionClosed) -> TransportClosed:
    frame = exc.rcvd or exc.sent
    return TransportClosed(frame.code if frame else None, frame.reason if frame else "")


async def connect(
    url: str,
    *,
    headers: dict[str, str],
    open_timeout: float,
    max_size: int | None,
    ssl_context: ssl.SSLContext | None = None,
) -> Transport:
    """Open a WebSocket, or raise ``HandshakeRejected`` / ``TransportError``."""
    # TLS for wss:// URLs: verified against the system's trust store unless a context is given.
    tls: dict[str, Any] = {"ssl": ssl_context} if ssl_context is not None else {}
    try:
        ws = await ws_connect(
            url,
            **tls,
            additional_headers=headers,
            open_timeout=open_timeout,
            max_size=max_size,
            max_queue=_MAX_QUEUE,
            ping_interval=None,  # the session runs its own heartbeat
            compression=None,
            user_agent_header=None,
            logger=NoDebugLogger("websockets.client"),
        )
    except InvalidStatus as exc:
        body = exc.response.body.decode("utf-8", "replace") if exc.response.body else ""
        raise HandshakeRejected(exc.response.status_code, body) from None
    except (OSError, asyncio.TimeoutError, TimeoutError, InvalidURI, InvalidHandshake) as exc:
        raise TransportError(f"cannot open {url}: {exc or type(exc).__name__}") from None
    return Transport(ws)
