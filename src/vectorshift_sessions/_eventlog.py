"""One bounded log of a session's events, read by every listener at its own cursor. Sans-I/O.

The rules (the guide "How ``listen()`` delivers", docs/guides/listen.md, states them for users):

- Every event gets a sequence number. A listener is a cursor into the log: it reads every
  event after its start that passes its filter, in order. Publishing appends once, whatever
  the number of listeners: nothing is copied per listener.
- A new listener starts at the first event that no listener has read yet: events that arrive
  while nobody reads wait for the next listener, and an abandoned listener holds nothing back.
  ``PONG`` events are live-only: a listener never gets pongs older than itself.
- A listener more than ``maxsize`` events (of its filter) behind loses the oldest of them, and
  exactly one overflow ``ERROR`` (``"subscriber queue overflow"``, ``dropped_event_type``,
  ``dropped_count``) stands in their place; participant statuses are never lost.
- With nobody reading, the log keeps the newest ``backlog_size`` unread events.

Threads: one producer appends without a lock (``list.append`` is atomic); everything else
(subscribing, fetching a batch, trimming) takes the log's lock for a moment. Nothing sleeps
here: a reader that finds nothing registers a ``Waker`` (anything with ``set()``), which the
next append sets.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from . import _logs
from ._types import SessionEvent, SessionEventType

__all__ = ["OVERFLOW_ERROR", "Cursor", "EventLog", "Waker", "overflow_event"]

OVERFLOW_ERROR = "subscriber queue overflow"
_STATUS = SessionEventType.PARTICIPANT_STATUS
_PONG = SessionEventType.PONG
#: Trimming looks at every cursor and copies what it keeps, so it runs once the log grew by
#: an eighth of what it kept, and at least this many appends: what every listener has read
#: is gone soon, and what is kept unread (up to the backlog) costs O(1) an append.
_TRIM_SLACK = 64


class Waker(Protocol):
    def set(self) -> None: ...


def overflow_event(session_id: str, first_type: SessionEventType, count: int) -> SessionEvent:
    """The notice a listener gets in place of the ``count`` events it lost."""
    data = {"error": OVERFLOW_ERROR, "dropped_event_type": first_type.value, "dropped_count": count}
    return SessionEvent(SessionEventType.ERROR, session_id, None, data)


class Cursor:
    """One listener's place in the log. ``batch[taken:]`` is what it fetched and has not
    handed out yet (its reader owns those two); the other fields belong to the log."""

    __slots__ = (
        "batch",
        "carry",
        "error",
        "lost",
        "lost_type",
        "maxsize",
        "seq",
        "since",
        "stop_at",
        "taken",
        "types",
        "waiting",
    )

    def __init__(self, maxsize: int = 0, types: frozenset[SessionEventType] | None = None):
        self.batch: list[SessionEvent] = []
        self.taken = 0
        self.seq = 0  # the next event to fetch (set when it subscribes)
        self.since = 0  # the log's end when it subscribed (older pongs are skipped)
        self.maxsize = maxsize
        self.types = types
        self.carry: list[SessionEvent] = []  # kept from events trimmed before it fetched them
        self.lost = 0  # events lost since the last overflow notice was handed out
        self.lost_type: SessionEventType | None = None
        self.stop_at: int | None = None  # ended: deliver up to here, then stop
        self.waiting = False  # caught up and asleep: what comes now is not its lag
        self.error: BaseException | None = None


class EventLog:
    """The session's events. ``append`` / ``extend`` are the hot path; readers ``refill``
    their cursor's batch."""

    def __init__(self, backlog_size: int, session_id: str = "", *, trim_slack: int = _TRIM_SLACK):
        self.session_id = session_id  # for overflow notices
        self._items: list[SessionEvent] = []
        self._base = 0  # sequence number of _items[0]
        # Re-entrant: a listener released by garbage collection unsubscribes in whatever
        # thread collects it, which may be inside one of these methods.
        self._lock = threading.RLock()
        self._cursors: list[Cursor] = []
        # Cursors whose listener was garbage collected: settled at the next locked step (the
        # collection may happen anywhere, even inside one of these methods).
        self._departed: list[Cursor] = []
        # What nobody has read yet, kept for the next listener: a hidden cursor at the first
        # unread event, bounded like a listener (so statuses survive and losses are told);
        # never heartbeat pongs.
        self._backlog = Cursor(backlog_size, frozenset(SessionEventType) - {_PONG})
        self._read_mark = 0  # departed listeners read everything before it
        self._wakers: list[Waker] = []
        self._slack = trim_slack
        self._trim_at = trim_slack
        #: Told of every overflow notice handed out (the session's instrumentation, if any).
        self.overflowed: Callable[[SessionEventType, int], None] | None = None

    # --- the producer -----------------------------------------------------------------------

    def append(self, event: SessionEvent) -> None:
        """Publish one event (one producer: the session's reader)."""
        items = self._items
        items.append(event)
        if self._wakers:
            self._wake()
        if len(items) >= self._trim_at:
            self._trim()

    def extend(self, events: list[SessionEvent]) -> None:
        """Publish several events at once, in order (the same producer)."""
        items = self._items
        items += events
        if self._wakers:
            self._wake()
        if len(items) >= self._trim_at:
            self._trim()

    @property
    def end(self) -> int:
        """The sequence number the next event will get."""
        return self._base + len(self._items)

    @property
    def listening(self) -> bool:
        return bool(self._cursors)

    def _wake(self) -> None:
        with self._lock:
            wakers, self._wakers = self._wakers, []
        for waker in wakers:
            waker.set()

    def _trim(self) -> None:
        """Drop what no one needs: each cursor its last ``maxsize`` events (all, unbounded),
        the backlog its newest unread ones. A cursor the cut passes keeps, in its carry, what
        it may still hand out (its filter, its limit, every status)."""
        with self._lock:
            self._settle()
            self._follow_mark()
            items, base = self._items, self._base
            end = base + len(items)
            cut = end
            for cursor in (*self._cursors, self._backlog):
                limit = self._limit(cursor)
                need = cursor.seq if not limit else max(cursor.seq, end - limit)
                cut = min(cut, need)
            for cursor in (*self._cursors, self._backlog):
                if cursor.seq < cut:
                    self._absorb(cursor, items[cursor.seq - base : cut - base])
                    cursor.seq = cut
            if cut > base:
                self._items = items[cut - base :]
                self._base = cut
            kept = len(self._items)
            self._trim_at = kept + max(self._slack, kept >> 3)

    def _follow_mark(self) -> None:
        """Move the backlog past what some listener read: that is not news any more. Only
        listeners without a filter read: a filtered one leaves the rest to others."""
        mark = self._read_mark
        for cursor in self._cursors:
            if cursor.types is None and cursor.seq > mark:
                mark = max(mark, self._read_to(cursor))
        backlog = self._backlog
        if mark > backlog.seq:
            backlog.seq = mark
            backlog.carry, backlog.lost, backlog.lost_type = [], 0, None

    # --- listeners --------------------------------------------------------------------------

    def subscribe(self, cursor: Cursor, *, from_now: bool = False) -> None:
        """Start ``cursor`` at the first event no listener has read (``from_now``: at the end)."""
        with self._lock:
            self._settle()
            end = cursor.since = self.end
            if from_now:
                cursor.seq = end
            else:
                self._follow_mark()
                backlog = self._backlog
                cursor.seq = backlog.seq
                # What the backlog saved from trimming is every new listener's too (until a
                # listener reads past it).
                types = cursor.types
                cursor.carry = [e for e in backlog.carry if types is None or e.type in types]
                cursor.lost, cursor.lost_type = backlog.lost, backlog.lost_type
            self._cursors.append(cursor)

    def unsubscribe(self, cursor: Cursor) -> None:
        """The listener is gone; what it fetched but never handed out waits for the next."""
        with self._lock:
            self._leave(cursor)

    def abandon(self, cursor: Cursor) -> None:
        """The listener was garbage collected: unsubscribe it at the next step. Takes no lock
        (a collection may run inside one of this log's methods, in any thread)."""
        self._departed.append(cursor)

    def _settle(self) -> None:
        """Unsubscribe the cursors of collected listeners (under the lock)."""
        while self._departed:
            self._leave(self._departed.pop())

    def _leave(self, cursor: Cursor) -> None:
        if cursor not in self._cursors:
            return
        self._cursors.remove(cursor)
        if cursor.types is None:
            read_to = self._read_to(cursor)
            self._read_mark = max(self._read_mark, read_to)
            self._follow_mark()
            backlog = self._backlog
            if backlog.seq == read_to:
                # Nobody read further: what it held of events already trimmed from the log
                # (and any loss it was yet to tell) goes back to the backlog.
                in_log = {id(e) for e in self._items}
                unread = (*cursor.batch[cursor.taken :], *cursor.carry)
                held = [e for e in unread if id(e) not in in_log and e.type is not _PONG]
                known = {id(e) for e in backlog.carry}
                backlog.carry = [e for e in held if id(e) not in known] + backlog.carry
                if cursor.lost and not backlog.lost:
                    backlog.lost_type = cursor.lost_type
                backlog.lost += cursor.lost
        cursor.batch, cursor.taken, cursor.carry, cursor.lost = [], 0, [], 0
        cursor.stop_at = cursor.seq
        if cursor.waiting:
            cursor.waiting = False

    def _read_to(self, cursor: Cursor) -> int:
        """Where the events this cursor has not handed out begin (rare: a listener joins or
        leaves): the first of its unread events still in the log; the log's start if it still
        holds (or has yet to tell the loss of) events already trimmed; else its fetch position."""
        unread = (*cursor.batch[cursor.taken :], *cursor.carry)
        if unread:
            items, base = self._items, self._base
            position = {id(e): base + i for i, e in enumerate(items)}
            for event in unread:
                seq = position.get(id(event))
                if seq is not None:
                    return min(seq, cursor.seq)
                if event.data.get("error") != OVERFLOW_ERROR:  # trimmed: none of the log read
                    return min(base, cursor.seq)
        if cursor.lost:
            return min(self._base, cursor.seq)
        return cursor.seq

    def refill(self, cursor: Cursor) -> bool | None:
        """Give the cursor a new ``batch`` of every event it may hand out now: ``True`` if
        there are some, ``False`` if none yet, ``None`` once it ended with nothing left
        (``cursor.error`` then says why, if it was an error)."""
        lost, lost_type = 0, SessionEventType.ERROR
        with self._lock:
            self._settle()
            end = self.end
            if cursor.stop_at is not None:
                end = min(end, cursor.stop_at)
            if cursor.seq < end:
                base = self._base
                self._absorb(cursor, self._items[cursor.seq - base : end - base])
                cursor.seq = end
            cursor.waiting = False
            out = cursor.carry
            if cursor.lost:
                lost, lost_type = cursor.lost, cursor.lost_type or SessionEventType.ERROR
                out.insert(0, overflow_event(self.session_id, lost_type, lost))
                cursor.lost, cursor.lost_type = 0, None
            cursor.carry = []
            cursor.batch, cursor.taken = out, 0
            if out:
                got: bool | None = True
            elif cursor.stop_at is not None:
                if cursor in self._cursors:
                    self._cursors.remove(cursor)
                got = None
            else:
                got = False
        if lost:
            self._told_overflow(lost_type, lost)
        return got

    def _told_overflow(self, lost_type: SessionEventType, lost: int) -> None:
        """A listener's overflow notice is handed out: logged, and shown to the observer."""
        _logs.log(
            _logs.LISTENER,
            logging.WARNING,
            self.session_id,
            "a listener fell behind and lost %d event(s), the first a %s; it gets an overflow "
            "notice in their place",
            lost,
            lost_type.value,
        )
        overflowed = self.overflowed
        if overflowed is not None:
            overflowed(lost_type, lost)

    def _absorb(self, cursor: Cursor, span: list[SessionEvent]) -> None:
        """Add ``span`` (the events right after ``cursor.seq``) to the cursor's carry through
        its filter and limit: past the limit the oldest go, and are counted (statuses stay)."""
        if cursor.seq < cursor.since:  # catching up on the past: its pongs are stale
            fresh = cursor.since - cursor.seq
            span = [e for e in span[:fresh] if e.type is not _PONG] + span[fresh:]
        types = cursor.types
        if types is not None:
            span = [e for e in span if e.type in types]
        carry = cursor.carry
        if carry:
            carry.extend(span)
        else:
            carry = cursor.carry = span
        limit = self._limit(cursor)
        if limit and len(carry) > limit:
            excess = sum(1 for event in carry if event.type is not _STATUS) - limit
            if excess > 0:  # the oldest go, statuses aside
                kept: list[SessionEvent] = []
                for event in carry:
                    if excess and event.type is not _STATUS:
                        excess -= 1
                        if not cursor.lost:
                            cursor.lost_type = event.type
                        cursor.lost += 1
                    else:
                        kept.append(event)
                cursor.carry = kept

    def _limit(self, cursor: Cursor) -> int:
        """How far behind the cursor may be before it loses events: ``maxsize`` while it is
        busy; while it waits, what arrives is no fault of its own (a thread waiting for the
        GIL, a task for its turn), so then only the backlog's bound applies."""
        limit = cursor.maxsize
        if cursor.waiting and limit:
            limit = max(limit, self._backlog.maxsize)
        return limit

    def wait_for_more(self, cursor: Cursor, waker: Waker) -> bool:
        """Register ``waker`` to be set by the next append or end; ``False`` (nothing
        registered) if there is something to fetch already."""
        with self._lock:
            self._wakers.append(waker)  # first: an append from now on sets it
            if cursor.seq < self.end or cursor.carry or cursor.lost or cursor.stop_at is not None:
                self._wakers.remove(waker)
                return False
            cursor.waiting = True
            return True

    def forget_waker(self, cursor: Cursor, waker: Waker) -> None:
        """The cursor stopped waiting (it timed out, or was cancelled)."""
        with self._lock:
            cursor.waiting = False
            if waker in self._wakers:
                self._wakers.remove(waker)

    def end_listeners(self, error: BaseException | None = None) -> None:
        """Every current listener ends after what was published so far (then raising
        ``error``, if given); what they fetched counts as read. New listeners may join."""
        with self._lock:
            self._settle()
            end = self.end
            base = self._base
            for cursor in self._cursors:
                if cursor.seq < end:
                    self._absorb(cursor, self._items[cursor.seq - base : end - base])
                    cursor.seq = end
                cursor.stop_at = end
                cursor.error = error
            if any(cursor.types is None for cursor in self._cursors):
                self._read_mark = max(self._read_mark, end)
            self._cursors = []
            wakers, self._wakers = self._wakers, []
        for waker in wakers:
            waker.set()
