"""What ``listen()`` returns: it reads the session's event log at its own cursor.

Written once, in ``_async/``; ``_sync/`` is generated from it.
"""

from __future__ import annotations

from .._backends import _asyncio_backend as backend
from .._errors import SessionTimeoutError
from .._eventlog import Cursor, EventLog
from .._types import SessionEvent, SessionEventType

__all__ = ["AsyncSessionListener"]


class AsyncSessionListener:
    """What ``listen()`` returns: an async iterator of events, and an async context manager.

    Leaving the loop (``break``, then dropping the listener), closing it (``aclose()``) or
    leaving the block it opened as a context manager ends the subscription; the events it did
    not hand out wait for the next listener. Iteration ends when the session disconnects.

    Made by the session (``listen()``), not directly.

    Args:
        log: The session's event log.
        maxsize: How many events it may fall behind before it loses the oldest (0 = no
            limit).
        types: Only events of these types (``None``: every type).
        from_now: Start at the next event published, instead of the first one no listener
            has read.

    Raises:
        ReconnectFailedError: While iterating: the connection dropped and recovery gave up
            (the events that came before it are handed out first).
    """

    __slots__ = ("__weakref__", "_closed", "_cursor", "_log", "_wakeup")

    def __init__(
        self,
        log: EventLog,
        maxsize: int = 0,
        types: frozenset[SessionEventType] | None = None,
        *,
        from_now: bool = False,
    ):
        self._log = log
        self._cursor = Cursor(maxsize, types)  # the log holds the cursor, never the listener
        self._wakeup = backend.Event()
        self._closed = False
        log.subscribe(self._cursor, from_now=from_now)

    def __aiter__(self) -> AsyncSessionListener:
        return self

    async def __anext__(self) -> SessionEvent:
        cursor = self._cursor
        batch, i = cursor.batch, cursor.taken
        if i < len(batch):  # the hot path
            cursor.taken = i + 1
            return batch[i]
        return await self._refill(None)

    async def _get(self, deadline: float | None) -> SessionEvent:
        """The next event, or ``SessionTimeoutError`` if none came by ``deadline``."""
        cursor = self._cursor
        batch, i = cursor.batch, cursor.taken
        if i < len(batch):
            cursor.taken = i + 1
            return batch[i]
        return await self._refill(deadline)

    async def _refill(self, deadline: float | None) -> SessionEvent:
        log, cursor, wakeup = self._log, self._cursor, self._wakeup
        while not self._closed:
            got = log.refill(cursor)
            if got is None:
                break
            if got:
                cursor.taken = 1
                return cursor.batch[0]
            wakeup.clear()
            if not log.wait_for_more(cursor, wakeup):
                continue
            timeout = None if deadline is None else max(0.0, deadline - backend.monotonic())
            try:
                woken = await wakeup.wait(timeout)
            except BaseException:
                log.forget_waker(cursor, wakeup)
                raise
            if not woken:
                log.forget_waker(cursor, wakeup)
                raise SessionTimeoutError("no event arrived in time")
        if cursor.error is not None and not self._closed:
            raise cursor.error
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """End the subscription now (a reader waiting on this listener stops too).

        Safe to call twice; the events it did not hand out wait for the next listener.
        """
        if not self._closed:
            self._closed = True
            self._log.unsubscribe(self._cursor)
            self._wakeup.set()

    async def __aenter__(self) -> AsyncSessionListener:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # `break` dropped the last reference: the log lets its cursor go at its next step.
        if hasattr(self, "_closed") and not self._closed:
            self._log.abandon(self._cursor)
