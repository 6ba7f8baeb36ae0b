"""The event log without sockets: every listener's delivery rules, under random interleavings of
publishing, listeners joining, reading slowly, leaving and ending (``hypothesis.stateful``)."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, initialize, rule

from vectorshift_sessions._eventlog import OVERFLOW_ERROR, Cursor, EventLog
from vectorshift_sessions._types import SessionEvent, SessionEventType

ET = SessionEventType
KINDS = [ET.MESSAGE_DELTA, ET.PARTICIPANT_STATUS, ET.MESSAGE_COMPLETE, ET.TOOL_CALL, ET.PONG]
FILTERS = [None, frozenset({ET.MESSAGE_DELTA}), frozenset({ET.PARTICIPANT_STATUS, ET.TOOL_CALL})]


def is_notice(event: SessionEvent) -> bool:
    return event.type is ET.ERROR and event.data.get("error") == OVERFLOW_ERROR


class Woken:
    def set(self) -> None:
        return None


class Reader:
    """A listener as the session's listener classes use a cursor: batches, handed out one by one."""

    def __init__(self, log: EventLog, cursor: Cursor, responsible_from: int):
        self.log = log
        self.cursor = cursor
        self.responsible_from = responsible_from  # events before it are not this reader's
        self.got: list[SessionEvent] = []
        self.notices: list[SessionEvent] = []
        self.ended = False
        self.left = False
        self.read_to: int | None = None  # fixed when it leaves or is ended
        self.inherited_loss = False

    def take(self, count: int) -> None:
        cursor = self.cursor
        while count and not self.ended:
            if cursor.taken < len(cursor.batch):
                event = cursor.batch[cursor.taken]
                cursor.taken += 1
                (self.notices if is_notice(event) else self.got).append(event)
                count -= 1
                continue
            got = self.log.refill(cursor)
            if got is None:
                self.ended = True
            elif not got:
                return


class LogMachine(RuleBasedStateMachine):
    readers = Bundle("readers")

    @initialize(backlog=st.integers(1, 12), slack=st.integers(1, 8))
    def start(self, backlog: int, slack: int) -> None:
        self.log = EventLog(backlog, "s", trim_slack=slack)
        self.backlog = backlog
        self.published: list[SessionEvent] = []
        self.seq: dict[int, int] = {}
        self.all_readers: list[Reader] = []
        self.counter = 0

    # --- what happens ---------------------------------------------------------------------

    @rule(kind=st.sampled_from(KINDS), live=st.booleans())
    def publish(self, kind: SessionEventType, live: bool) -> None:
        self.counter += 1
        event = SessionEvent(kind, "s", None, {"n": self.counter})
        before = self.log.end
        if not live or self.log.listening:  # a live event is news only to current listeners
            self.log.append(event)
        if self.log.end > before:
            self.seq[id(event)] = len(self.published)
            self.published.append(event)

    @rule(
        target=readers,
        maxsize=st.sampled_from([0, 1, 3, 50]),
        types=st.sampled_from(FILTERS),
        from_now=st.booleans(),
    )
    def join(
        self, maxsize: int, types: frozenset[SessionEventType] | None, from_now: bool
    ) -> Reader:
        mark = self.read_mark()
        cursor = Cursor(maxsize, types)
        self.log.subscribe(cursor, from_now=from_now)
        start = self.log.end if from_now else mark
        if not from_now:  # it starts at the first event no listener has read (drain checks)
            assert cursor.seq >= mark
        reader = Reader(self.log, cursor, start)
        # The backlog was trimmed before it came, or hands it events from before its start
        # (saved from trimming while another listener has yet to tell their loss): its
        # overflow count may include those.
        reader.inherited_loss = bool(cursor.lost) or any(
            self.seq.get(id(e), start) < start for e in cursor.carry
        )
        self.all_readers.append(reader)
        return reader

    @rule(reader=readers, count=st.integers(1, 40))
    def read(self, reader: Reader, count: int) -> None:
        if not reader.left:
            reader.take(count)
            self.check_order(reader)

    @rule(reader=readers)
    def wait(self, reader: Reader) -> None:
        """Caught up, it goes to sleep: what comes next is not held against its limit."""
        if not reader.left and reader.cursor.taken >= len(reader.cursor.batch):
            self.log.wait_for_more(reader.cursor, Woken())

    @rule(reader=consumes(readers))
    def leave(self, reader: Reader) -> None:
        if not reader.left:
            reader.left = True
            if reader.read_to is None:
                reader.read_to = self.position(reader)
            self.log.unsubscribe(reader.cursor)

    @rule()
    def end_listeners(self) -> None:
        """Disconnect: listeners end after what was published; what they fetched is read."""
        for reader in self.all_readers:
            if reader.read_to is None:
                reader.read_to = self.log.end
        self.log.end_listeners()

    @rule(reader=readers)
    def drain(self, reader: Reader) -> None:
        """Read all there is: then whatever the reader was responsible for was either handed
        out or counted in an overflow notice, and no participant status was lost."""
        if reader.left:
            return
        reader.take(10**9)
        self.check_order(reader)
        cursor = reader.cursor
        stop = cursor.stop_at if cursor.stop_at is not None else self.log.end
        types = cursor.types
        expected = [
            e
            for seq, e in enumerate(self.published[reader.responsible_from : stop])
            if (types is None or e.type in types)
            and not (e.type is ET.PONG and reader.responsible_from + seq < cursor.since)
        ]
        got_ids = {id(e) for e in reader.got}
        missing = [e for e in expected if id(e) not in got_ids]
        assert not [e for e in missing if e.type is ET.PARTICIPANT_STATUS], "a status was lost"
        told = sum(n.data["dropped_count"] for n in reader.notices)
        if types is None and not reader.inherited_loss:
            assert told == len(missing), (told, len(missing))
        else:  # a loss inherited from the backlog may count events from before its start
            assert told >= len(missing)
        if not missing:
            assert not [n for n in reader.notices if n.data["dropped_count"] == 0]

    # --- checks -----------------------------------------------------------------------------

    def check_order(self, reader: Reader) -> None:
        seqs = [self.seq[id(e)] for e in reader.got]
        assert seqs == sorted(set(seqs)), "out of order, or twice"
        types = reader.cursor.types
        assert all(types is None or e.type in types for e in reader.got)
        since = reader.cursor.since
        assert not [
            s for s, e in zip(seqs, reader.got, strict=True) if e.type is ET.PONG and s < since
        ]
        if reader.cursor.maxsize == 0 and not reader.inherited_loss:
            assert not reader.notices, "an unbounded listener lost events"

    def read_mark(self) -> int:
        """The first event no listener has read: what any listener without a filter handed
        out, up to the first event it fetched and has not handed out yet."""
        mark = 0
        for reader in self.all_readers:
            if reader.cursor.types is not None:
                continue  # a filtered listener reads nothing for the others
            read_to = reader.read_to
            mark = max(mark, self.position(reader) if read_to is None else read_to)
        return mark

    def position(self, reader: Reader) -> int:
        cursor = reader.cursor
        for event in [*cursor.batch[cursor.taken :], *cursor.carry]:
            seq = self.seq.get(id(event))
            if seq is not None:
                return min(cursor.seq, seq)
        return cursor.seq


LogMachine.TestCase.settings = settings(max_examples=500, stateful_step_count=60, deadline=None)
TestEventLog = LogMachine.TestCase


def test_every_new_listener_gets_what_the_backlog_saved_from_trimming() -> None:
    log = EventLog(2, "s", trim_slack=1)
    for status in ("Processing", "Idle"):
        log.append(SessionEvent(ET.PARTICIPANT_STATUS, "s", None, {"status": status}))
    for n in range(6):  # pushes the statuses out of the log, into the backlog's keeping
        log.append(SessionEvent(ET.MESSAGE_DELTA, "s", None, {"n": n}))
    first, second = Cursor(), Cursor()
    log.subscribe(first)
    log.subscribe(second)
    for cursor in (first, second):
        assert log.refill(cursor)
        statuses = [e.data["status"] for e in cursor.batch if e.type is ET.PARTICIPANT_STATUS]
        assert statuses == ["Processing", "Idle"]
        notice, *rest = cursor.batch
        deltas = [e for e in rest if e.type is ET.MESSAGE_DELTA]
        assert is_notice(notice) and notice.data["dropped_count"] + len(deltas) == 6


def test_an_abandoned_cursor_is_let_go_at_the_next_step() -> None:
    log = EventLog(10, "s")
    cursor = Cursor()
    log.subscribe(cursor)
    log.abandon(cursor)  # what a collected listener does, from any thread, with no lock
    assert log.listening  # not yet: no step has settled it
    log.subscribe(Cursor(types=frozenset({ET.PONG})))
    assert [c for c in log._cursors if c is cursor] == []


def test_a_filtered_listener_leaves_the_rest_for_the_others() -> None:
    log = EventLog(10, "s")
    statuses_only = Cursor(types=frozenset({ET.PARTICIPANT_STATUS}))
    log.subscribe(statuses_only)
    log.append(SessionEvent(ET.PARTICIPANT_STATUS, "s", None, {"status": "Processing"}))
    log.append(SessionEvent(ET.MESSAGE_DELTA, "s", "m", {"delta": "hi"}))
    assert log.refill(statuses_only) and len(statuses_only.batch) == 1
    statuses_only.taken = 1
    everything = Cursor()
    log.subscribe(everything)
    assert log.refill(everything)
    assert [e.type for e in everything.batch] == [ET.PARTICIPANT_STATUS, ET.MESSAGE_DELTA]


def test_a_long_session_holds_what_is_unread_not_what_was_read() -> None:
    """The soak found each session holding ~10,000 events it had read (~5 MB): what every
    listener read goes soon (within the trim slack), whatever the backlog's size."""
    log = EventLog(10_000, "s")  # the default backlog
    reader = Cursor()
    log.subscribe(reader)
    held = []
    for n in range(30_000):
        log.append(SessionEvent(ET.MESSAGE_DELTA, "s", "m", {"n": n}))
        if n % 100 == 99:
            assert log.refill(reader) and len(reader.batch) == 100
            reader.taken = len(reader.batch)
            held.append(log.end - log._base)
    assert max(held) <= 64 + 100  # the slack, and what arrived since the last read
    log.unsubscribe(reader)
    for n in range(30_000):  # nobody reads: the newest backlog_size wait for the next listener
        log.append(SessionEvent(ET.MESSAGE_DELTA, "s", "m", {"n": n}))
    assert 10_000 <= log.end - log._base <= 10_000 + 10_000 // 8
