"""The session's logic without I/O: what a frame means, who waits for it, what listeners get,
and what a recovery sends and delivers. Like h11's ``Connection``: the I/O layer (``_async/
session.py``, and its generated twin) feeds it what happened (a frame's text, a dropped
connection, a heartbeat tick, a user's request) and does what it says (send these frames,
wake that waiter). No awaits, no threads, no sockets: it is tested directly.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from . import _codec as codec
from . import _logs
from ._errors import CodecError, SessionError, SessionNotFoundError
from ._eventlog import EventLog
from ._types import (
    ParticipantStatus,
    SessionEvent,
    SessionEventType,
    SessionMessage,
    SessionMessageStatus,
)

if TYPE_CHECKING:  # the session's instrumentation, imported by the session
    from ._telemetry import SessionTelemetry

__all__ = ["Beat", "Requests", "SessionCore", "State", "Waiter", "last_turn", "turn_ended_in"]


ET = SessionEventType
_DELTA = ET.MESSAGE_DELTA
_IN_TURN = (ParticipantStatus.PROCESSING.value, ParticipantStatus.AWAITING_APPROVAL.value)
_IDLE = ParticipantStatus.IDLE.value
#: Events of a message still being written: they may follow its backfill.
_PARTIAL = (ET.MESSAGE_DELTA, ET.MESSAGE_STREAMING)
_POSTED = (ET.MESSAGE_POSTED, ET.MESSAGES_POSTED)


class State(enum.Enum):
    NEW = "new"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    CLOSING = "closing"
    CLOSED = "closed"
    TERMINATED = "terminated"


class Waiter(Protocol):
    """Whoever waits for an answer (the I/O layer's future-like object)."""

    def resolve(self, value: Any) -> None: ...


class Requests:
    """Requests waiting for their answers, matched first-in first-out per request type (the
    order the engine answers in on one connection). Callers in any thread; the reader answers."""

    __slots__ = ("_lock", "_waiting")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, deque[Waiter]] = {}

    def expect(self, request_type: str, waiter: Waiter) -> None:
        """Register before sending, so the answer cannot arrive unexpected."""
        with self._lock:
            self._waiting.setdefault(request_type, deque()).append(waiter)

    def forget(self, request_type: str, waiter: Waiter) -> None:
        """Withdraw a request that was never sent (its answer will not come)."""
        with self._lock:
            queue = self._waiting.get(request_type)
            if queue and waiter in queue:
                queue.remove(waiter)
                if not queue:
                    del self._waiting[request_type]

    def answer(self, request_type: str, value: Any) -> bool:
        """Resolve the oldest request of this type; whether there was one."""
        with self._lock:
            queue = self._waiting.get(request_type)
            if not queue:
                return False
            waiter = queue.popleft()
            if not queue:  # an idle session keeps no empty deques
                del self._waiting[request_type]
        waiter.resolve(value)
        return True

    def forget_all(self, request_type: str) -> None:
        """Withdraw every request of this type (none of them will be answered)."""
        with self._lock:
            self._waiting.pop(request_type, None)

    def waiting(self, request_type: str) -> bool:
        return bool(self._waiting.get(request_type))

    def fail_all(self, error: BaseException) -> None:
        with self._lock:
            waiting, self._waiting = self._waiting, {}
        for queue in waiting.values():
            for waiter in queue:
                waiter.resolve(error)


class _Taken:
    """Stands for a request nobody waits on (a heartbeat ping): its answer is just taken."""

    def resolve(self, value: Any) -> None:
        return None


class Observer(Protocol):
    """Sees every event the core publishes (the session's instrumentation, while a turn
    records), just before its listeners can: each delta batch of the hot path at once, every
    other event one by one, and the overflow notices its listeners get. It never raises."""

    def deltas(self, events: list[SessionEvent]) -> None: ...

    def event(self, event: SessionEvent) -> None: ...

    def overflowed(self, dropped_type: SessionEventType, count: int) -> None:
        """A listener lost ``count`` events, the first of type ``dropped_type``."""


class Beat(enum.Enum):
    """What a heartbeat tick calls for."""

    REST = "rest"  # nothing (recovering, or our last ping is still unanswered)
    PING = "ping"  # send a ping_session (its pong is ours: news to no one later)
    DEAD = "dead"  # nothing heard for too long: drop the connection (recovery follows)


def last_turn(
    history: Iterable[SessionMessage], *, continues: bool = False
) -> list[SessionMessage] | None:
    """The agent's messages after the user's last message (``None``: no user message yet).
    ``continues``: ``history`` is what was stored after an earlier read, so the agent's
    messages before its first user message (if any) go on the turn that was running then."""
    after: list[SessionMessage] | None = [] if continues else None
    for message in history:
        if message.is_user:
            after = []
        elif message.is_agent and after is not None:
            after.append(message)
    return after


def turn_ended_in(history: Iterable[SessionMessage]) -> bool:
    """Whether the stored history shows the last turn over: after the user's last message,
    the agent answered (complete text, an error or a re-authorization request), nothing is
    still streaming and no approval request waits for an answer."""
    after = last_turn(history)
    if not after or after[-1].content_type == "tool_call_approval":
        return False
    if any(m.status == SessionMessageStatus.STREAMING for m in after):
        return False
    return any(
        (m.content_type == "data_type_message" and m.status == SessionMessageStatus.COMPLETE)
        or m.content_type in ("error_message", "reauthorization_request")
        for m in after
    )


def _after(history: list[SessionMessage], message_id: str) -> list[SessionMessage] | None:
    """What ``history`` holds after the message ``message_id``; ``None`` when it is not in it."""
    for index in range(len(history) - 1, -1, -1):
        if history[index].id == message_id:
            return history[index + 1 :]
    return None


class _Ids:
    """Message ids, in two generations: ``forget_older()`` drops the older one and starts a
    new one. A session that pages its history keeps only what a recovery can still meet."""

    __slots__ = ("older", "recent")

    def __init__(self) -> None:
        self.recent: set[str] = set()
        self.older: set[str] = set()

    def __contains__(self, message_id: object) -> bool:
        return message_id in self.recent or message_id in self.older

    def __len__(self) -> int:
        return len(self.recent | self.older)

    def add(self, message_id: str) -> None:
        self.recent.add(message_id)

    def update(self, message_ids: Iterable[str]) -> None:
        self.recent.update(message_ids)

    def forget_older(self) -> None:
        self.older, self.recent = self.recent, set()


class _Rejoin:
    """A recovery in progress on a new connection: our own requests, and what arrived meanwhile."""

    __slots__ = ("ack", "after", "error", "held", "history")

    def __init__(self, after: str | None) -> None:
        self.after = after  # the history asked is what was stored after this message
        self.ack: SessionEvent | None = None
        self.history: list[SessionMessage] | None = None
        self.held: list[SessionEvent | codec.Answer] = []
        self.error: BaseException | None = None


class SessionCore:
    """One session's state. The I/O layer calls ``receive`` for every frame (the hot path)."""

    def __init__(self, session_id: str | None, backlog_size: int):
        self.state = State.NEW
        self.session_id = session_id
        self.log = EventLog(backlog_size, session_id or "")
        self.requests = Requests()
        self.frames_received = 0  # the heartbeat's evidence that the connection is alive
        self._heard = (0, 0.0)  # frames_received, and when the heartbeat saw it change
        self._rejoin: _Rejoin | None = None
        # Message ids already delivered, so a recovery's backfill repeats nothing, and ids
        # the backfill delivered, so the live notification that may follow is not repeated.
        self._seen = _Ids()
        self._completed = _Ids()
        self._backfilled = _Ids()
        # With an engine that pages its history (the ``history_after`` extension of its
        # connect ack), the last message of the last history read: a recovery asks only for
        # what was stored after it (each reads a few messages, not the whole history), and
        # the ids of what came before it are forgotten (see ``finish_rejoin``).
        self._cursor: str | None = None
        self._paged = False  # the engine's last connect ack offered paging
        self._page_refused = False  # ... and then failed a paged read: never ask again
        self._engine_in_turn = False  # Processing or AwaitingApproval, not yet Idle (the engine)
        self._said_end = False  # a recovery said the turn's end; the engine's own is a repeat
        self._end_due = 0  # heartbeats until a turn end read from the history is said
        # The session's instrumentation (its hooks; None when the core runs on its own).
        self.telemetry: SessionTelemetry | None = None
        # How events are published: straight into the log, or through an observer too
        # (``observe``). Swapped, never tested per event: unobserved, the hot path is the same.
        self._append = self.log.append
        self._extend = self.log.extend

    def observe(self, observer: Observer | None) -> None:
        """Show ``observer`` every event published from now on (``None``: stop)."""
        log = self.log
        if observer is None:
            self._append, self._extend = log.append, log.extend
            log.overflowed = None
            return

        # The observer first: a listener that sees the turn's end sees its span ended.
        def append(event: SessionEvent) -> None:
            observer.event(event)
            log.append(event)

        def extend(events: list[SessionEvent]) -> None:
            observer.deltas(events)
            log.extend(events)

        self._append, self._extend = append, extend
        log.overflowed = observer.overflowed

    def set_session_id(self, session_id: str) -> None:
        self.session_id = session_id
        self.log.session_id = session_id

    # --- frames in --------------------------------------------------------------------------

    def receive(self, texts: list[str]) -> None:
        """Frames from the engine, in order: answer whoever asked, publish what is news."""
        self.frames_received += len(texts)
        decoded, only_deltas, errors = codec.decode_engine_frames(texts, self.session_id or "")
        for error in errors:
            self._malformed(error)
        if self._rejoin is not None:
            for item in decoded:
                self._rejoining(item)
        elif only_deltas:
            events: list[SessionEvent] = decoded  # type: ignore[assignment]  # all events
            if events:
                ids = {event.message_id for event in events}
                self._seen.update([i for i in ids if i is not None])
                self._end_due = 0
            self._extend(events)
        else:
            for item in decoded:
                self._route(item)

    def _malformed(self, error: CodecError) -> None:
        """A frame that does not decode is dropped: said at WARNING by its type and field,
        and whole (what it says may quote the frame) at DEBUG only."""
        frame_type = error.frame_type
        _logs.log(
            _logs.CONNECTION,
            logging.WARNING,
            self.session_id,
            "dropping a malformed frame from the engine (type %s, field %s)",
            repr(frame_type[:60]) if frame_type is not None else "unknown",
            repr(error.field) if error.field is not None else "unknown",
        )
        _logs.log(
            _logs.CONNECTION, logging.DEBUG, self.session_id, "the dropped frame's error: %s", error
        )

    def _route(self, item: SessionEvent | codec.Answer) -> None:
        if isinstance(item, SessionEvent):
            self._publish(item)
            return
        answered = self.requests.answer(item.request, item)
        if item.event is None:
            return  # the history goes only to whoever asked
        if item.request == codec.PingSession.TYPE and answered:
            if self.log.listening:
                self._append(item.event)  # our heartbeat's pong is news to no one later
        else:
            self._publish(item.event)

    def _publish(self, event: SessionEvent) -> None:
        """Deliver one event, once: statuses track the turn, message ids dedupe a backfill."""
        kind = event.type
        if self._end_due and kind in _POSTED:  # a new turn: the end read from history stands
            self._end_due = 0
            self._recovered_status(ParticipantStatus.IDLE)
        if kind is ET.PARTICIPANT_STATUS:
            status = event.data.get("status")
            if status == _IDLE and self._said_end and not event.data.get("recovered"):
                self._said_end = False
                return  # the end a recovery said already
            self._said_end = status == _IDLE and bool(event.data.get("recovered"))
            self._engine_in_turn = status in _IN_TURN
            self._end_due = 0  # the turn speaks for itself
        message_id = event.message_id
        if message_id is not None:
            self._end_due = 0
            if message_id in self._backfilled and kind not in _PARTIAL:
                return  # a recovery's backfill delivered it already
            if kind is ET.MESSAGE_COMPLETE:
                self._completed.add(message_id)
            self._seen.add(message_id)
        self._append(event)

    def remember(self, history: list[SessionMessage]) -> None:
        """What is already stored (a resumed session's history) is not news: a later
        recovery must not replay it."""
        for message in history:
            self._hold(message)
        self._read_up_to(history)

    def _hold(self, message: SessionMessage) -> None:
        if message.id:
            self._seen.add(message.id)
            if message.status == SessionMessageStatus.COMPLETE:
                self._completed.add(message.id)

    def _offered(self, ack: SessionEvent | None) -> None:
        """A connect ack: whether to page the history. Only with an engine that says both
        extensions: a part of the history cannot show the end of a turn that ended before
        it, so the ack's status must."""
        offered = (
            ack is not None
            and ack.data.get("history_after") is True
            and isinstance(ack.data.get("participant_status"), str)
        )
        self._paged = offered and not self._page_refused

    def _read_up_to(self, history: list[SessionMessage]) -> None:
        """A history was read: the cursor moves to its last message. Only with paging (an
        engine that pages stores each message once, as it first stores it: what follows is
        told live, never stored again)."""
        if not self._paged and self._cursor is None:
            return
        for message in reversed(history):
            if message.id:
                self._cursor = message.id
                return

    def _unread(self, history: list[SessionMessage]) -> list[SessionMessage]:
        """What of ``history`` was stored after the cursor: all of it when the cursor is not
        in it (the engine paged it, or there is no cursor)."""
        unread = None if self._cursor is None else _after(history, self._cursor)
        return history if unread is None else unread

    # --- the connection ---------------------------------------------------------------------

    def connection_lost(self, cause: BaseException | None, *, recover: bool) -> None:
        """The connection dropped unasked; ``recover``: a recovery starts (else we are closed).
        The I/O layer fails the pending requests (``requests.fail_all``) with its error."""
        self.state = State.RECONNECTING if recover else State.CLOSED
        if recover:
            self.publish_client_status(ParticipantStatus.OFFLINE, {"reason": str(cause)})

    def publish_client_status(self, status: ParticipantStatus, extra: dict[str, Any]) -> None:
        """Listeners see a recovery as client-side participant statuses: Offline, then Connected."""
        data = {"status": status.value, "source": "client", **extra}
        self._append(SessionEvent(ET.PARTICIPANT_STATUS, self.session_id or "", None, data))

    def start_rejoin(self) -> list[codec.ClientFrame]:
        """A new connection is open: the frames that rejoin our session on it. Until
        ``rejoin_done`` says so, frames are held (their answers are ours)."""
        after = self._cursor if self._paged else None
        self._rejoin = _Rejoin(after)
        self.requests.forget_all(codec.PingSession.TYPE)  # a ping that never went out
        session_id = self.session_id or ""
        return [codec.ConnectSession(session_id), codec.GetMessages(session_id, after)]

    def _rejoining(self, item: SessionEvent | codec.Answer) -> None:
        rejoin = self._rejoin
        assert rejoin is not None
        request = item.request if type(item) is codec.Answer else None
        if request == codec.ConnectSession.TYPE and rejoin.ack is None:
            assert type(item) is codec.Answer
            rejoin.ack = item.event
            if item.error is not None:
                rejoin.error = SessionNotFoundError(
                    f"cannot reconnect to session {self.session_id!r}: {item.error}",
                    session_id=self.session_id,
                )
            else:
                self._offered(item.event)
        elif (
            request == codec.GetMessages.TYPE and rejoin.ack is not None and rejoin.history is None
        ):
            assert type(item) is codec.Answer
            if item.error is not None:  # try again: an empty history would say nothing was missed
                rejoin.error = SessionError(f"the engine refused the history: {item.error}")
            elif rejoin.after is not None and not self._paged:
                # Asked for a part, but this ack no longer offers paging: the part may not
                # show whether the turn ended. The next attempt reads the whole history.
                rejoin.error = SessionError("the engine no longer pages the history")
            else:
                rejoin.history = list(item.messages or ())
            if rejoin.error is not None and rejoin.after is not None:
                self._page_refused, self._paged = True, False
        else:
            rejoin.held.append(item)  # in order, after the backfill

    @property
    def rejoin_done(self) -> bool:
        """The rejoin's answers came (or it failed: ``rejoin_error``)."""
        rejoin = self._rejoin
        return rejoin is not None and (rejoin.error is not None or rejoin.history is not None)

    @property
    def rejoin_error(self) -> BaseException | None:
        return self._rejoin.error if self._rejoin is not None else None

    def abandon_rejoin(self) -> None:
        """That connection failed: the next attempt starts afresh (nothing held is lost: the
        next attempt's history has it)."""
        self._rejoin = None

    def finish_rejoin(self, *, heartbeat: bool = True) -> int:
        """Connected again: deliver what was missed (from the history, each message once),
        then what arrived meanwhile, and the turn's start or end if either came while we were
        away. Returns how many messages the backfill delivered.

        The extension (the ack's ``participant_status``) tells where the engine is. Without
        it, the history does, less surely (an agent may go on after a complete message): an
        end read from the history is said only if the turn shows nothing live for a
        ``heartbeat`` or two (at once when there is no heartbeat).

        With paging, the history is what was stored after the cursor; what was stored before
        will not come again, by history (the cursor is past it) or live (on a connection
        that is gone), so the ids delivered two recoveries ago are forgotten."""
        rejoin = self._rejoin
        assert rejoin is not None and rejoin.history is not None and rejoin.ack is not None
        self._rejoin = None
        self.state = State.CONNECTED
        history = rejoin.history  # with paging: a part, and the ack's status says the rest
        unread = self._unread(history)
        held = rejoin.held
        live = next(
            (
                i.data.get("status")
                for i in held
                if type(i) is SessionEvent and i.participant_status
            ),
            None,
        )
        status = rejoin.ack.data.get("participant_status")
        if isinstance(status, str):
            ended, running = status == _IDLE, status in _IN_TURN
        else:
            ended = turn_ended_in(history)
            running = last_turn(history) is not None and not ended
        was_in_turn = self._engine_in_turn
        unread_turn = last_turn(unread, continues=rejoin.after is not None or unread is not history)
        missed_turn = any(m.id and m.id not in self._seen for m in unread_turn or ())
        if not was_in_turn and (running or (ended and missed_turn)) and live not in _IN_TURN:
            self._recovered_status(ParticipantStatus.PROCESSING)  # before what it started
        backfilled = self._backfill(unread)
        self.publish_client_status(
            ParticipantStatus.CONNECTED, {"recovered": True, "backfilled": backfilled}
        )
        if ended and (was_in_turn or missed_turn):
            if isinstance(status, str):  # the engine says so: unless its own end is here
                if live != _IDLE:
                    self._recovered_status(ParticipantStatus.IDLE)
            elif any(type(i) is SessionEvent and i.type is not ET.PONG for i in held):
                pass  # the turn's own stream came meanwhile: it will say its end itself
            elif heartbeat:
                self._end_due = 2  # heartbeats without live traffic before it is said
            else:
                self._recovered_status(ParticipantStatus.IDLE)
        for item in held:
            self._route(item)
        self._read_up_to(unread)
        if self._cursor is not None:
            for ids in (self._seen, self._completed, self._backfilled):
                ids.forget_older()
        return backfilled

    def _recovered_status(self, status: ParticipantStatus) -> None:
        """A status the engine showed while we were away, said now (``data["recovered"]``)."""
        data = {"status": status.value, "recovered": True}
        self._publish(SessionEvent(ET.PARTICIPANT_STATUS, self.session_id or "", None, data))

    def _backfill(self, history: list[SessionMessage]) -> int:
        count = 0
        for message in history:
            if message.is_user or not message.id:
                continue
            complete = message.status == SessionMessageStatus.COMPLETE
            if message.id in (self._completed if complete else self._seen):
                continue
            self._hold(message)
            if message.status != SessionMessageStatus.STREAMING:
                self._backfilled.add(message.id)  # its live notification may still come
            self._append(codec.stored_message_event(message.raw, self.session_id or ""))
            count += 1
        return count

    # --- time ------------------------------------------------------------------------------

    def heartbeat(self, now: float, silence_limit: float | None) -> Beat:
        """A heartbeat tick at ``now`` (seconds, monotonic): ``DEAD`` when the connection has
        said nothing for ``silence_limit`` seconds, ``PING`` when a ping should go (it is
        registered: its pong is ours), else ``REST``."""
        heard = self.frames_received
        if self.state is not State.CONNECTED:
            self._heard = (heard, now)
            return Beat.REST
        if self._end_due:
            self._end_due -= 1
            if not self._end_due:  # nothing of the turn came live: it did end while away
                self._recovered_status(ParticipantStatus.IDLE)
        if heard != self._heard[0]:
            self._heard = (heard, now)
        elif silence_limit is not None and now - self._heard[1] > silence_limit:
            return Beat.DEAD
        if self.requests.waiting(codec.PingSession.TYPE):
            return Beat.REST
        self.requests.expect(codec.PingSession.TYPE, _Taken())
        return Beat.PING

    # --- answers to the I/O layer's requests ------------------------------------------------

    def history_request(self, after: str | None) -> codec.GetMessages:
        """``get_messages(after=...)``: ask for the part only when the engine pages."""
        return codec.GetMessages(self.session_id or "", after if self._paged else None)

    def history_reask(self, asked: codec.GetMessages) -> codec.GetMessages:
        """A history request again, after a recovery: without ``after`` if the engine it
        reached no longer offers paging (``history_answer`` then cuts the whole history)."""
        if asked.after is None or self._paged:
            return asked
        return codec.GetMessages(asked.session_id)

    def history_answer(
        self, answer: codec.Answer, asked: codec.GetMessages, after: str | None
    ) -> list[SessionMessage]:
        """The history a caller asked for (``after``: only what was stored after that
        message): the engine's part, or the whole history cut here."""
        if answer.error is not None:
            raise SessionError(f"the engine refused the history: {answer.error}")
        messages = list(answer.messages or ())
        if after is None or (asked.after is not None and answer.after == after):
            return messages  # all of it, or the part the engine paged
        unread = _after(messages, after)  # the whole history: cut it here
        if unread is not None:
            return unread
        raise SessionError(
            f"message {after!r} is not in session {self.session_id!r}'s history; pass the "
            "id of a message of this session (a SessionMessage's id or an event's "
            "message_id), or no after for the whole history"
        )

    def created(self, answer: codec.Answer, owner: str) -> str:
        """The answer to ``create_session``: the new session's id, or why there is none."""
        if answer.error is not None or answer.event is None:
            raise SessionError(
                f"the engine could not create a session with {owner}: {answer.error}"
            )
        self.set_session_id(answer.event.session_id)
        return answer.event.session_id

    def connected(self, answer: codec.Answer) -> None:
        """The answer to ``connect_session``."""
        if answer.error is not None:
            raise SessionNotFoundError(
                f"cannot connect to session {self.session_id!r}: {answer.error}",
                session_id=self.session_id,
            )
        self._offered(answer.event)
