"""What ``listen()`` returns: a cursor into the session's event log, handing out its events.

Written once, in ``_async/``; ``_sync/`` is generated from it.
"""

from __future__ import annotations

from .._backends import _asyncio_backend as backend
from .._errors import SessionTimeoutError
from .._eventlog import Cursor, EventLog
from .._types import SessionEvent, SessionEventType

__all__ = ["AsyncSessionListener"]


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
                log.forget_waker(self, wakeup)
                raise
            if not woken:
                log.forget_waker(self, wakeup)
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
