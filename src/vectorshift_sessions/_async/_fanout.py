"""Fan-out: events from the one reader to every listener, and answers to the one caller that asked.

Rules (documented in the README):
- every listener gets every event that passes its filter, in order, in its own queue;
- events that arrive while nobody listens wait in a bounded backlog for the next listener, and
  what a departing last listener left unread goes back there: nothing is lost in between;
- when a queue is full the event is dropped and a synthetic ``ERROR`` (``"subscriber queue
  overflow"``, with ``dropped_event_type`` and ``dropped_count``) takes its place; that notice
  always arrives, ignoring the queue's limit and the listener's filter; participant statuses
  are never dropped (so the turn's end is always seen);
- answers (acks, history) are matched to their requests first-in first-out per request type,
  which is the order the engine answers in on one connection.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from typing import Any

from .._backends import _asyncio_backend as backend
from .._errors import SessionTimeoutError
from .._types import SessionEvent, SessionEventType

logger = logging.getLogger("vectorshift_sessions.session")

OVERFLOW_ERROR = "subscriber queue overflow"
#: How long a reader thread waits for a full listener to take an event before dropping.
ROOM_GRACE = 0.05
_STATUS = SessionEventType.PARTICIPANT_STATUS


class _Overflow:
    """Stands in a queue for a run of dropped events; becomes one ``ERROR`` event when read."""

    __slots__ = ("count", "first")

    def __init__(self, first: SessionEvent):
        self.first = first
        self.count = 1

    def as_event(self) -> SessionEvent:
        return SessionEvent(
            SessionEventType.ERROR,
            self.first.session_id,
            None,
            {
                "error": OVERFLOW_ERROR,
                "dropped_event_type": self.first.type.value,
                "dropped_count": self.count,
            },
        )


class _Ended:
    """Why a queue ended: cleanly (``error`` None) or with an error to raise."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None):
        self.error = error


class EventQueue:
    """One listener's queue (or the backlog). Fed by the reader; read by one consumer."""

    __slots__ = ("_ended", "_items", "_maxsize", "_room", "_types", "_wakeup")

    def __init__(self, maxsize: int, types: frozenset[SessionEventType] | None = None):
        self._items: deque[SessionEvent | _Overflow] = deque()
        self._maxsize = maxsize
        self._types = types
        self._wakeup = backend.Event()
        self._ended: _Ended | None = None
        self._room: backend.Event | None = None  # while the producer waits for room

    def offer(self, event: SessionEvent) -> None:
        if self._types is not None and event.type not in self._types:
            return
        items = self._items
        # Statuses are never dropped: a loop waiting for the turn's end must see it.
        if self._maxsize and len(items) >= self._maxsize and event.type is not _STATUS:
            last = items[-1] if items else None
            if type(last) is _Overflow:
                last.count += 1
                return
            if not self._wait_for_room():
                items.append(_Overflow(event))  # one slot past the limit: the notice always fits
                return
        items.append(event)
        if len(items) == 1:  # it was empty, so its reader may be asleep: wake it
            self._wakeup.set()

    def _wait_for_room(self) -> bool:
        """Give a listener that just fell behind a moment to catch up before dropping: a reader
        thread can wait (a listener thread may simply not have had the GIL yet); on an event
        loop ``wait_blocking`` returns at once, and the reader yields during bursts instead."""
        room = self._room = backend.Event()
        try:
            if len(self._items) < self._maxsize:  # the listener took one meanwhile
                return True
            return backend.wait_blocking(room, ROOM_GRACE) and len(self._items) < self._maxsize
        finally:
            self._room = None

    def take_from(self, other: EventQueue) -> None:
        """Move ``other``'s unread events here (after ours), through our filter and limit."""
        items, other._items = other._items, deque()
        for item in items:
            if isinstance(item, _Overflow):
                self._items.append(item)
            else:
                self.offer(item)
        if self._items:
            self._wakeup.set()

    def end(self, error: BaseException | None = None) -> None:
        """No more events: the reader drains what is queued, then stops (or raises ``error``)."""
        if self._ended is None:
            self._ended = _Ended(error)
        self._wakeup.set()

    async def get(self, deadline: float | None = None) -> SessionEvent:
        """The next event; ``StopAsyncIteration`` (or the end's error) once drained and ended;
        ``SessionTimeoutError`` if none came by ``deadline`` (a ``backend.monotonic()`` time)."""
        while True:
            items = self._items
            if items:
                item = items.popleft()
                room = self._room
                if room is not None:  # the producer waits for room: there is some now
                    room.set()
                return item if type(item) is SessionEvent else item.as_event()  # type: ignore[union-attr]
            ended = self._ended
            if ended is not None:
                if ended.error is not None:
                    raise ended.error
                raise StopAsyncIteration
            # Clear, then look again before sleeping: an offer between the two is not missed.
            self._wakeup.clear()
            if self._items or self._ended is not None:
                continue
            if deadline is None:
                await self._wakeup.wait()
            elif not await self._wakeup.wait(max(0.0, deadline - backend.monotonic())):
                raise SessionTimeoutError("no event arrived in time")


class Pending:
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


class Fanout:
    """The listeners, the backlog and the pending requests of one session."""

    def __init__(self, backlog_size: int):
        self._lock = backend.StateLock()
        self._listeners: tuple[EventQueue, ...] = ()
        self._backlog = EventQueue(backlog_size)
        self._pending: dict[str, deque[Pending]] = {}

    # --- events -------------------------------------------------------------------------

    def publish(self, event: SessionEvent) -> None:
        """The hot path: one event to every listener, or to the backlog when there is none."""
        with self._lock:
            listeners = self._listeners
            if listeners:
                for queue in listeners:
                    queue.offer(event)
            else:
                self._backlog.offer(event)

    def subscribe(self, queue: EventQueue, *, take_backlog: bool = True) -> None:
        with self._lock:
            if take_backlog and not self._listeners:
                queue.take_from(self._backlog)
            self._listeners = (*self._listeners, queue)

    def unsubscribe(self, queue: EventQueue) -> None:
        with self._lock:
            if queue not in self._listeners:
                return
            self._listeners = tuple(q for q in self._listeners if q is not queue)
            if not self._listeners:
                self._backlog.take_from(queue)  # what the last listener left unread waits

    def end_listeners(self, error: BaseException | None = None) -> None:
        with self._lock:
            listeners, self._listeners = self._listeners, ()
        for queue in listeners:
            queue.end(error)

    # --- requests and their answers -------------------------------------------------------

    def expect(self, request_type: str) -> Pending:
        """Register a request before sending it, so its answer cannot arrive unexpected."""
        pending = Pending()
        with self._lock:
            self._pending.setdefault(request_type, deque()).append(pending)
        return pending

    def forget(self, request_type: str, pending: Pending) -> None:
        """Withdraw a request that was never sent."""
        with self._lock:
            queue = self._pending.get(request_type)
            if queue and pending in queue:
                queue.remove(pending)
                if not queue:
                    del self._pending[request_type]

    def answer(self, request_type: str, value: Any) -> bool:
        """Resolve the oldest request of this type; whether there was one."""
        with self._lock:
            queue = self._pending.get(request_type)
            pending = queue.popleft() if queue else None
            if queue is not None and not queue:  # an idle session keeps no empty deques
                del self._pending[request_type]
        if pending is None:
            return False
        pending.resolve(value)
        return True

    def fail_pending(self, error: BaseException) -> None:
        with self._lock:
            queues, self._pending = self._pending, {}
        for pending in _flatten(queues.values()):
            pending.resolve(error)


def _flatten(queues: Iterable[deque[Pending]]) -> Iterable[Pending]:
    for queue in queues:
        yield from queue
