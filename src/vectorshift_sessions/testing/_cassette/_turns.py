"""Splitting one session's recordings into turns: each post, and what the engine sent for it.

A session may have several recordings (a resume by id, another client answering an
approval): their frames are read as one timeline, and a turn still open when one recording
ends goes on in the next. The engine shows ``Processing`` before a turn and ``Idle`` after
it, and takes posts sent meanwhile in turn (an engine that shows no statuses ends a turn at
the next post). What the engine sends to every connection of the session is taken from one
of them (the first attached), the answers to each connection's requests from each.

A reconnection (``connect_session`` again in a recording, or a resume) loses the answers the
old connection was waiting for: the history fetched then tells which posts and approval
answers the engine stored (the others are forgotten), and which messages the client never
saw live (they become messages of the turn they belong to, after what it has).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator
from typing import Any, cast

import attrs

from ... import _codec as codec
from ..._cassette import RECEIVED, SENT
from ..._content import DecodedContent, WireContent, decode_content
from ..._errors import CodecError
from ..._types import ParticipantStatus
from ...engine._turn import ApprovalAnswer
from . import _history as hist
from ._building import (
    ACCEPTED,
    LOST,
    POSTED,
    REFUSED,
    Approvals,
    Building,
    Waiting,
    parse_delta,
    parse_notification,
    parse_status,
)
from ._errors import CassetteError
from ._model import Owner, RecordedFrame
from ._reader import Take, corrupt
from ._steps import Answer

__all__ = ["SessionSplitter"]

_IDLE = ParticipantStatus.IDLE.value
_PROCESSING = ParticipantStatus.PROCESSING.value
_POSTS = ("post_message", "post_messages")
#: Engine frames that answer a client request, and the request each answers.
_ANSWERS = {
    "session_created": "create_session",
    "connect_session": "connect_session",
    "get_messages": "get_messages",
    "pong": "ping_session",
    "disconnect_session": "disconnect_session",
    "terminate_session": "terminate_session",
}


@attrs.define(eq=False)
class _Rejoin:
    """A reconnection or a resume, until its history: what the old connection never heard."""

    pending: list[Waiting]
    open: list[Building] = attrs.field(factory=list)  # the turns open at the connect ack
    status: str | None = None  # the engine's, from the connect ack (an extension)
    acked: bool = False


@attrs.define(eq=False)
class _Link:
    """One recording (a connection) of the session."""

    take: Take
    acks: dict[str, deque[Waiting]] = attrs.field(factory=lambda: {k: deque() for k in _POSTS})
    asked: Counter[str] = attrs.field(factory=Counter)  # other requests waiting for answers
    created: bool = False
    connected: bool = False
    joined: bool = False  # created, connected, or a post accepted
    posted: bool = False  # sent a post or an answer (so it was connected)
    attached: bool = True  # receives the session's frames
    ended: bool = False
    rejoin: _Rejoin | None = None

    @property
    def rec(self) -> str:
        return self.take.rec

    def drain(self) -> list[Waiting]:
        waiting = [entry for queue in self.acks.values() for entry in queue]
        for queue in self.acks.values():
            queue.clear()
        return waiting


class SessionSplitter:
    """Reads one session's recordings into turns (see the module docstring)."""

    def __init__(self, name: str, takes: list[Take], approvals: Approvals, order: Iterator[int]):
        self.name = name
        self.links = [_Link(take) for take in takes]
        self.approvals = approvals  # the cassette's
        self.order = order  # numbers the posts
        self.turns: list[Building] = []
        self.active: Building | None = None
        self.waiting: deque[Building] = deque()  # posted while another turn ran
        self.seen: set[str] = set()  # message ids the client saw (any version)
        self.completed: set[str] = set()  # ... and those it saw complete
        self.unsure: list[Waiting] = []  # what ended recordings never got answers to
        self.history: list[dict[str, Any]] = []  # the whole history, as last read
        self.owner: Owner | None = None  # from the senders, when nothing else says
        self.statuses = any(
            item.direction == RECEIVED
            and item.frame is not None
            and item.frame.get("type") == "participant_status"
            and isinstance(item.frame.get("message"), dict)
            and item.frame["message"].get("status") == _PROCESSING
            for take in takes
            for item in take.frames
        )

    def error(self, item: RecordedFrame, reason: str) -> CassetteError:
        return corrupt(self.name, item.line, reason)

    def run(self, timeline: list[tuple[int, RecordedFrame | None]]) -> list[Building]:
        """Read the timeline (each recording's frames, and ``None`` where it ends); the
        turns, in the order posted."""
        for index, item in timeline:
            link = self.links[index]
            if item is None:
                self.ended(link)
            elif item.frame is None:
                continue  # a text that was no frame: the client dropped it too
            elif item.direction == SENT:
                self.sent(link, item, item.frame)
            else:
                self.received(link, item, item.frame)
        return [turn for turn in self.turns if turn.kept]

    # --- the open turns ---

    def _open(self) -> list[Building]:
        return [t for t in (self.active, *self.waiting) if t is not None]

    def _reopen(self, turns: list[Building]) -> None:
        self.active = turns[0] if turns else None
        self.waiting = deque(turns[1:])

    def _drop(self, turn: Building, state: str) -> None:
        turn.state = state
        self._reopen([t for t in self._open() if t is not turn])

    def _forget(self, entry: Waiting) -> None:
        """A post or an answer the engine did not take (lost with its connection)."""
        if isinstance(entry, Building):
            self._drop(entry, LOST)
        elif entry is not None:
            self.approvals.forget(*entry)

    def _primary(self) -> _Link | None:
        return next((x for x in self.links if x.attached and not x.ended), None)

    # --- what the client sent ---

    def sent(self, link: _Link, item: RecordedFrame, frame: dict[str, Any]) -> None:
        try:
            decoded = codec.decode_client_frame(frame)
        except CodecError as exc:
            raise self.error(item, f"a malformed client frame: {exc}") from None
        if isinstance(decoded, codec.PostMessage):
            if decoded.parent_message_id is not None:
                try:
                    answer = codec.parse_approval_content(decoded.content)
                except CodecError as exc:
                    raise self.error(item, f"a malformed approval answer: {exc}") from None
                if answer is not None:
                    reply = ApprovalAnswer(
                        answer.approved, dict(answer.confirm or {}), answer.deny_reason
                    )
                    recorded = Answer(reply, item.t, link.rec, item.line)
                    link.posted = True
                    entry = self.approvals.answered(decoded.parent_message_id, recorded)
                    link.acks["post_message"].append(entry)
                    return
            self.post(link, item, [decoded.content], decoded.TYPE)
        elif isinstance(decoded, codec.PostMessages):
            self.post(link, item, list(decoded.messages), decoded.TYPE)
        else:
            link.asked[decoded.TYPE] += 1
            if isinstance(decoded, codec.ConnectSession):
                self.connecting(link)
            elif isinstance(decoded, codec.CreateSession):
                link.attached = False

    def connecting(self, link: _Link) -> None:
        if link.connected or link.posted:
            # A reconnection: the answers the old connection waited for are lost with it.
            earlier = link.rejoin.pending if link.rejoin is not None else []
            link.rejoin = _Rejoin(earlier + link.drain())
        elif not link.created and any(x.joined for x in self.links if x is not link):
            link.rejoin = _Rejoin([])  # a resume
        link.attached = False

    def post(
        self, link: _Link, item: RecordedFrame, contents: list[WireContent], request: str
    ) -> None:
        # A new post: what ended recordings never heard about was delivered (nothing says
        # otherwise); a reconnection that fetched no history forgets what it lost.
        self.unsure.clear()
        if link.rejoin is not None:
            for entry in link.rejoin.pending:
                self._forget(entry)
            link.rejoin.pending = []
        link.posted = True
        decoded: tuple[DecodedContent, ...] | None = None
        bad = None
        try:
            decoded = tuple(decode_content(c, request) for c in contents)
        except CodecError as exc:
            bad = str(exc)  # the engine refused it, surely: the ack will tell
        turn = Building(link.rec, item, contents, decoded, bad, next(self.order))
        self.turns.append(turn)
        link.acks[request].append(turn)
        if self.active is None or not self.statuses:
            self.active = turn
        else:
            self.waiting.append(turn)

    # --- what the engine sent ---

    def received(self, link: _Link, item: RecordedFrame, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind in _POSTS:
            self.acked(link, kind, frame.get("success") is not False)
            return
        if kind == "error":
            request = frame.get("request_type")
            if request in _POSTS and link.acks[request]:
                self.acked(link, request, False)
                return
            if isinstance(request, str) and link.asked[request] > 0:
                link.asked[request] -= 1  # a refused request: the client's business
                return
            # Otherwise the engine's own error: part of the turn.
        elif kind in _ANSWERS:
            request = _ANSWERS[kind]
            if link.asked[request] > 0:
                link.asked[request] -= 1
            self.answered(link, item, frame)
            return
        if kind == "message_notification":
            self._learn_owner(frame)
        if self._primary() is not link:
            return  # another connection's copy
        self._see(frame)
        if self.active is not None:
            self.in_turn(self.active, link, item, frame)

    def acked(self, link: _Link, request: str, success: bool) -> None:
        queue = link.acks[request]
        entry = queue.popleft() if queue else None
        if isinstance(entry, Building) and success:
            entry.state = ACCEPTED
            link.joined = True
        elif isinstance(entry, Building):
            self._drop(entry, REFUSED)
        elif not success:
            self._forget(entry)

    def answered(self, link: _Link, item: RecordedFrame, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "session_created":
            link.created = link.joined = link.attached = True
        elif kind == "connect_session" and frame.get("success") is not False:
            link.connected = link.joined = link.attached = True
            rejoin = link.rejoin
            if rejoin is not None and not rejoin.acked:
                status = frame.get("participant_status")
                rejoin.acked = True
                rejoin.status = status if isinstance(status, str) else None
                rejoin.open = self._open()
                if rejoin.status == _IDLE:
                    self._reopen([])  # every turn ended while the client was away
        elif kind == "get_messages" and type(frame.get("messages")) is list:
            history = self.whole(frame)
            rejoin = link.rejoin
            if rejoin is not None and rejoin.acked:
                link.rejoin = None
                self.rejoined(link, item, rejoin, history)
            for message in history:  # the client has them now
                self._remember(message)

    def whole(self, frame: dict[str, Any]) -> list[dict[str, Any]]:
        """A ``get_messages`` answer's history, whole: a part (the engine's paging extension:
        what was stored ``after`` a message) follows what was read before, up to that
        message (the client asks after the last message it read)."""
        history = [cast("dict[str, Any]", m) for m in frame["messages"] if type(m) is dict]
        after = frame.get("after")
        if isinstance(after, str):
            ids = [hist.message_id(m) for m in self.history]
            if after in ids:
                history = self.history[: ids.index(after) + 1] + history
        self.history = history
        return history

    def ended(self, link: _Link) -> None:
        """A recording ended: what it waited for may have been delivered or not."""
        link.ended = True
        link.attached = False
        self.unsure += link.drain()
        if link.rejoin is not None:
            self.unsure += link.rejoin.pending
            link.rejoin = None

    def _see(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "message_delta" and isinstance(frame.get("message_id"), str):
            self.seen.add(frame["message_id"])
        elif kind == "message_notification" and type(frame.get("message")) is dict:
            self._remember(frame["message"])

    def _remember(self, message: dict[str, Any]) -> None:
        mid = hist.message_id(message)
        if mid:
            self.seen.add(mid)
            if hist.is_complete(message):
                self.completed.add(mid)

    def _learn_owner(self, frame: dict[str, Any]) -> None:
        message = frame.get("message")
        sender = cast("dict[str, Any]", message).get("sender") if type(message) is dict else None
        if self.owner is None and type(sender) is dict:
            sender = cast("dict[str, Any]", sender)
            object_type, object_id = sender.get("object_type"), sender.get("object_id")
            if isinstance(object_type, str) and isinstance(object_id, str) and object_id:
                self.owner = Owner(object_type, object_id)

    # --- a reconnection's history ---

    def rejoined(
        self, link: _Link, item: RecordedFrame, rejoin: _Rejoin, history: list[dict[str, Any]]
    ) -> None:
        """Settle what the old connection never heard about, and take the messages only the
        history holds."""
        doubtful, self.unsure = rejoin.pending + self.unsure, []
        posts: list[Building] = []
        for entry in doubtful:
            if isinstance(entry, Building):
                if entry.decoded is None:
                    self._forget(entry)  # malformed: the engine did not take it
                elif entry.state == POSTED:
                    posts.append(entry)
            elif entry is not None:
                target = entry[0]
                request = target if isinstance(target, str) else target.message_id
                if not (request and hist.answered_in(history, request)):
                    self._forget(entry)
        posts.sort(key=lambda p: p.order)
        candidates = _ordered([*rejoin.open, *posts])
        first = candidates[0].order if candidates else None
        earlier = [
            t for t in self.turns if t.state == ACCEPTED and (first is None or t.order < first)
        ]
        stored, starts = hist.align(history, candidates, posts, earlier[-1] if earlier else None)
        for post in posts[stored:]:
            self._forget(post)
        for post in posts[:stored]:
            post.state = ACCEPTED
        fallback = candidates[0] if candidates else self.active
        fed: list[Building] = []
        for n, message in hist.missed(history, self.seen, self.completed, starts):
            turn = candidates[n] if n >= 0 else fallback
            if turn is None or not turn.kept:
                continue
            synthetic = {"type": "message_notification", "message": message}
            turn.frames.append(RecordedFrame(item.t, RECEIVED, synthetic, None, item.line))
            turn.add_message(link.rec, item, message, self.approvals)
            fed.append(turn)
        if rejoin.status == _IDLE or (rejoin.status is None and hist.ended_in(history)):
            self._reopen([])
            return
        still = _ordered([*self._open(), *candidates])
        # A turn fed from the history ran: the ones before it ended.
        self._reopen(still[max((still.index(t) for t in fed if t in still), default=0) :])

    # --- the frames of a turn ---

    def in_turn(
        self, turn: Building, link: _Link, item: RecordedFrame, frame: dict[str, Any]
    ) -> None:
        kind = frame["type"]
        if kind == "participant_status":
            status = parse_status(self.name, item, frame)
            if status == _IDLE:
                self._reopen(list(self.waiting))
                return
            if not turn.add_status(link.rec, item, status):
                return
        elif kind == "message_delta":
            turn.add_delta(link.rec, item, parse_delta(self.name, item, frame))
        elif kind == "message_notification":
            message = parse_notification(self.name, item, frame)
            turn.add_message(link.rec, item, message, self.approvals)
        else:
            turn.add_raw(link.rec, item, frame)  # an engine error, a frame type of its own
        turn.frames.append(item)


def _ordered(turns: list[Building]) -> list[Building]:
    """The turns still kept, each once, in the order posted."""
    unique = {id(turn): turn for turn in turns if turn.kept}
    return sorted(unique.values(), key=lambda turn: turn.order)
