"""Cassettes: sessions recorded once (``record_to=``), replayed offline by an agent.

A session made with ``record_to="chat.jsonl"`` writes every frame it sends and receives to a
JSON Lines cassette (the format is described in ``vectorshift_sessions._cassette``). Loaded
here, a cassette replays what the engine sent, turn by turn::

    from vectorshift_sessions.engine import LocalEngine
    from vectorshift_sessions.testing import Cassette

    cassette = Cassette.load("chat.jsonl")
    agent = cassette.agent()                       # replays the recorded turns
    with LocalEngine(db=":memory:") as engine:
        for owner in cassette.owners:              # under the recorded ids
            engine.add_agent(owner.object_id, agent, id=owner.object_id)
        ...                                        # run the same code against engine.env()
    agent.assert_done()

For each post, the agent finds the first recorded turn not replayed yet whose post is the
same (texts, MIME types, files' names, types and bytes: the decoded content, not its JSON),
and sends the frames the engine sent in that turn: deltas and messages with new ids (the
deltas of a message share its new id), participant statuses, and approval requests, whose
answer it waits for and compares with the recorded one. A post or an answer that differs
raises :class:`CassetteMismatch`, naming what was recorded and what came: the engine turns it
into an ``ERROR`` event in the session (which never hangs, and stays usable), and it is kept on
the agent's ``mismatches``.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Union

import attrs

from .. import _codec as codec
from .._cassette import CASSETTE_VERSION, RECEIVED, SENT
from .._content import DecodedContent, WireContent, decode_content
from .._errors import CodecError
from .._types import ParticipantStatus
from ..engine._turn import ApprovalAnswer, Turn, new_id
from ._mismatch import Mismatch

__all__ = [
    "Cassette",
    "CassetteError",
    "CassetteMismatch",
    "Owner",
    "RecordedFrame",
    "RecordedSession",
    "RecordedTurn",
    "ReplayAgent",
]

_IDLE = ParticipantStatus.IDLE.value
_PROCESSING = ParticipantStatus.PROCESSING.value
_AWAITING = ParticipantStatus.AWAITING_APPROVAL.value
_POSTS = ("post_message", "post_messages")
#: Engine frames that answer the client's own requests: never part of a turn.
_ANSWERS = frozenset(
    {
        "session_created",
        "connect_session",
        "get_messages",
        "pong",
        "disconnect_session",
        "terminate_session",
        *_POSTS,
    }
)
_CLIENT_TYPES = frozenset(
    {
        "create_session",
        "connect_session",
        "post_message",
        "post_messages",
        "get_messages",
        "ping_session",
        "disconnect_session",
        "terminate_session",
    }
)
_QUOTE_LIMIT = 200


class CassetteError(ValueError):
    """A cassette that cannot be loaded: not JSON Lines, a line without a required field, a
    frame before its recording's header, or a format newer than this package reads.

    ``path`` names the file (or the name given to :meth:`Cassette.loads`), ``line`` the line
    (from 1; ``None`` for the file as a whole); the message names both.
    """

    def __init__(self, path: str, line: int | None, reason: str):
        where = path if line is None else f"{path}, line {line}"
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


class CassetteMismatch(Mismatch):
    """The code under test did not do what the cassette recorded: a post that no recorded
    turn left has, or an approval answered otherwise. The message names both."""


@attrs.frozen
class Owner:
    """The agent or chatbot a recorded session belonged to."""

    object_type: str
    object_id: str


@attrs.frozen
class RecordedFrame:
    """One recorded frame: ``t`` seconds after its recording began, ``direction`` ``"sent"``
    or ``"received"``, the ``frame`` (a dict; ``None`` for a received text that was not a
    JSON object, then kept in ``text``), and the cassette ``line`` it is on."""

    t: float
    direction: str
    frame: dict[str, Any] | None = attrs.field(eq=False)
    text: str | None = attrs.field(default=None, eq=False)
    line: int = 0


@attrs.frozen
class RecordedSession:
    """One recording: a session's connection, from ``connect()`` to its disconnect.

    ``rec`` is its id in the cassette, ``owner`` the agent or chatbot (from the header, else
    from the senders of its messages; ``None`` when neither says), ``session_id`` the session
    (the header's, else the one the engine created), ``version`` the package version that
    wrote it, ``started`` when (ISO 8601 UTC), ``line`` its header's line, ``frames`` every
    frame in order (of ``t``: a sent frame is written once sent, maybe after its answer).
    """

    rec: str
    owner: Owner | None
    session_id: str | None
    version: str | None
    started: str | None
    line: int
    frames: tuple[RecordedFrame, ...] = attrs.field(repr=lambda f: f"<{len(f)} frames>")


class _Delta:
    """A replay step: one ``message_delta`` (``turn.delta``)."""

    __slots__ = ("index", "line", "message_id", "t", "text")

    def __init__(self, t: float, line: int, message_id: str | None, text: str, index: int):
        self.t, self.line, self.message_id, self.text, self.index = t, line, message_id, text, index


class _Message:
    """A replay step: one ``message_notification`` (``turn.emit``)."""

    __slots__ = ("content", "line", "message_id", "t")

    def __init__(self, t: float, line: int, message_id: str | None, content: dict[str, Any]):
        self.t, self.line, self.message_id, self.content = t, line, message_id, content


class _Status:
    """A replay step: a participant status inside the turn (``turn.status``)."""

    __slots__ = ("line", "status", "t")

    def __init__(self, t: float, line: int, status: str):
        self.t, self.line, self.status = t, line, status


class _Approval:
    """A replay step: an approval request (``turn.request_approval``) and the recorded
    answer to compare the user's with."""

    __slots__ = ("answer", "answer_line", "answer_t", "content", "line", "message_id", "t")

    def __init__(self, t: float, line: int, message_id: str | None, content: dict[str, Any]):
        self.t, self.line, self.message_id, self.content = t, line, message_id, content
        self.answer: ApprovalAnswer | None = None
        self.answer_t: float | None = None
        self.answer_line: int | None = None


_Step = Union[_Delta, _Message, _Status, _Approval]


@attrs.frozen(eq=False)
class RecordedTurn:
    """One recorded turn: a post, and what the engine sent for it.

    ``post`` is the posted content as sent (one value, or several for ``post_messages``),
    ``frames`` the engine frames of the turn (without the answers to the client's own
    requests, and without the ``Processing`` / ``Idle`` the engine shows around every turn),
    ``approvals`` the recorded answers to its approval requests, in order (``None``: never
    answered). ``rec`` and ``owner`` name its recording, ``t`` and ``line`` its post.
    """

    rec: str
    owner: Owner | None
    t: float
    line: int
    post: tuple[WireContent, ...]
    frames: tuple[RecordedFrame, ...] = attrs.field(repr=lambda f: f"<{len(f)} frames>")
    approvals: tuple[ApprovalAnswer | None, ...]
    _decoded: tuple[DecodedContent, ...] = attrs.field(repr=False, eq=False)
    _steps: tuple[_Step, ...] = attrs.field(repr=False, eq=False)

    @property
    def text(self) -> str:
        """The posted texts, joined by newlines (as the agent's ``turn.text``)."""
        return "\n".join(d.text for d in self._decoded if d.text is not None)

    def describe(self) -> str:
        """The post, in words (for messages): its texts quoted, its files named."""
        return _describe_post(self._decoded)


def _quote(text: str) -> str:
    if len(text) <= _QUOTE_LIMIT:
        return json.dumps(text, ensure_ascii=False)
    cut = json.dumps(text[:_QUOTE_LIMIT], ensure_ascii=False)
    return f"{cut}...(+{len(text) - _QUOTE_LIMIT} chars)"


def _describe_post(decoded: Sequence[DecodedContent]) -> str:
    parts = []
    for item in decoded:
        if item.data is not None:
            parts.append(f"file {item.filename!r} ({item.mime_type}, {len(item.data):,} bytes)")
        else:
            typed = f" ({item.mime_type})" if item.mime_type else ""
            parts.append(_quote(item.text or "") + typed)
    return " + ".join(parts) if parts else "an empty post"


def _describe_answer(answer: ApprovalAnswer) -> str:
    if answer.approved:
        confirm = dict(answer.confirm)
        return f"approved with confirm {confirm!r}" if confirm else "approved"
    return f"denied ({answer.deny_reason!r})"


def _check_speed(speed: object) -> float:
    if speed is None:
        return 0.0
    if isinstance(speed, bool) or not isinstance(speed, (int, float)):
        raise TypeError(f"speed must be a number or None, got {type(speed).__name__} {speed!r}")
    if not (math.isfinite(speed) and speed >= 0):
        raise ValueError(
            f"speed must be a finite number >= 0 (1.0: the recorded pace; 0 or None: at once), "
            f"got {speed!r}"
        )
    return float(speed)


# --- loading ---------------------------------------------------------------------------------


class _Header:
    __slots__ = ("frames", "line", "owner", "rec", "session_id", "started", "version")

    def __init__(self, rec: str, line: int):
        self.rec = rec
        self.line = line
        self.owner: Owner | None = None
        self.session_id: str | None = None
        self.version: str | None = None
        self.started: str | None = None
        self.frames: list[RecordedFrame] = []


class _Reader:
    """Reads a cassette's lines into recordings, naming the line of anything wrong."""

    def __init__(self, name: str):
        self.name = name
        self.headers: dict[str, _Header] = {}

    def error(self, line: int | None, reason: str) -> CassetteError:
        return CassetteError(self.name, line, reason)

    def read(self, lines: Iterable[bytes]) -> list[_Header]:
        for number, raw in enumerate(lines, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise self.error(number, f"not UTF-8 text ({exc.reason})") from None
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except (ValueError, RecursionError) as exc:
                raise self.error(number, f"not valid JSON ({exc}); the file is corrupt") from None
            if type(obj) is not dict:
                raise self.error(number, f"expected a JSON object, got {type(obj).__name__}")
            if "cassette" in obj:
                self.header(obj, number)
            else:
                self.frame(obj, number)
        for header in self.headers.values():
            # A sent frame is written once sent, maybe after its answer: time tells the order.
            header.frames.sort(key=lambda frame: frame.t)
        return list(self.headers.values())

    def _str(self, obj: Mapping[str, Any], key: str, line: int, *, optional: bool) -> str | None:
        value = obj.get(key)
        if value is None and optional:
            return None
        if type(value) is not str or (not value and not optional):
            what = "missing" if value is None else f"not a string ({value!r:.60})"
            raise self.error(line, f"the field {key!r} is {what}")
        return value

    def header(self, obj: dict[str, Any], line: int) -> None:
        version = obj["cassette"]
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise self.error(line, f"'cassette' must be a format number >= 1, got {version!r}")
        if version > CASSETTE_VERSION:
            written_by = obj.get("version")
            by = f" {written_by}" if isinstance(written_by, str) else ""
            raise self.error(
                line,
                f"cassette format {version}, written by a newer vectorshift-sessions{by}; this "
                f"one reads format {CASSETTE_VERSION} and older: upgrade vectorshift-sessions",
            )
        rec = self._str(obj, "rec", line, optional=False)
        assert rec is not None
        if rec in self.headers:
            first = self.headers[rec].line
            raise self.error(
                line, f"a second header for recording {rec!r} (the first: line {first})"
            )
        header = _Header(rec, line)
        owner = obj.get("owner")
        if owner is not None:
            if type(owner) is not dict:
                raise self.error(line, f"'owner' must be an object or null, got {owner!r:.60}")
            object_type = self._str(owner, "object_type", line, optional=False)
            object_id = self._str(owner, "object_id", line, optional=False)
            assert object_type is not None and object_id is not None
            header.owner = Owner(object_type, object_id)
        header.session_id = self._str(obj, "session_id", line, optional=True)
        header.version = self._str(obj, "version", line, optional=True)
        header.started = self._str(obj, "started", line, optional=True)
        self.headers[rec] = header

    def frame(self, obj: dict[str, Any], line: int) -> None:
        rec = self._str(obj, "rec", line, optional=False)
        assert rec is not None
        header = self.headers.get(rec)
        if header is None:
            raise self.error(
                line,
                f"a frame of recording {rec!r} before its header (a cassette starts each "
                "recording with a header line; is it missing?)",
            )
        t = obj.get("t")
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
            raise self.error(line, f"the field 't' must be a number of seconds, got {t!r:.60}")
        direction = obj.get("dir")
        if direction not in (SENT, RECEIVED):
            raise self.error(
                line, f"the field 'dir' must be 'sent' or 'received', got {direction!r:.60}"
            )
        frame = obj.get("frame")
        text = obj.get("text")
        if type(frame) is dict:
            if type(frame.get("type")) is not str:
                raise self.error(line, "the frame has no 'type'")
        elif frame is not None:
            raise self.error(line, f"the field 'frame' must be an object, got {frame!r:.60}")
        elif direction == SENT or type(text) is not str:
            raise self.error(line, "the line has no 'frame' (nor, for a received text, 'text')")
        header.frames.append(RecordedFrame(float(t), direction, frame, text, line))


class _Building:
    """A turn being read: its post, then the engine's frames for it."""

    def __init__(self, frame: RecordedFrame, post: list[WireContent], request: str):
        self.frame = frame
        self.post = post
        self.request = request
        self.decoded: tuple[DecodedContent, ...] | None = None
        self.bad: str | None = None
        self.frames: list[RecordedFrame] = []
        self.steps: list[_Step] = []
        self.approvals: list[_Approval] = []
        self.saw_processing = False  # its leading Processing came
        self.skip_processing = False  # the Processing that follows an answered approval
        self.refused = False


class _Splitter:
    """One recording's frames -> its turns (see the module docstring)."""

    def __init__(self, reader: _Reader, header: _Header):
        self.reader = reader
        self.header = header
        self.turns: list[_Building] = []
        self.active: _Building | None = None
        self.waiting: deque[_Building] = deque()  # posted while another turn ran
        self.acks: dict[str, deque[_Building | tuple[_Approval, ApprovalAnswer] | None]] = {
            kind: deque() for kind in _POSTS
        }
        self.approvals: dict[str, _Approval] = {}
        self.session_id: str | None = header.session_id
        self.owner: Owner | None = header.owner
        # An engine that shows Processing before its turns ends each with Idle, and takes
        # posts sent meanwhile in turn; one that shows no statuses ends a turn at the next post.
        self.statuses = any(
            item.direction == RECEIVED
            and item.frame is not None
            and item.frame.get("type") == "participant_status"
            and isinstance(item.frame.get("message"), dict)
            and item.frame["message"].get("status") == _PROCESSING
            for item in header.frames
        )

    def error(self, frame: RecordedFrame, reason: str) -> CassetteError:
        return self.reader.error(frame.line, reason)

    def run(self) -> list[_Building]:
        for item in self.header.frames:
            if item.frame is None:
                continue  # a text that was no frame: the client dropped it too
            if item.direction == SENT:
                self.sent(item, item.frame)
            else:
                self.received(item, item.frame)
        return [turn for turn in self.turns if not turn.refused]

    # --- what the client sent ---

    def sent(self, item: RecordedFrame, frame: dict[str, Any]) -> None:
        try:
            decoded = codec.decode_client_frame(frame)
        except CodecError as exc:
            raise self.error(item, f"a malformed client frame: {exc}") from None
        if isinstance(decoded, codec.PostMessage):
            answer = None
            if decoded.parent_message_id is not None:
                try:
                    answer = codec.parse_approval_content(decoded.content)
                except CodecError as exc:
                    raise self.error(item, f"a malformed approval answer: {exc}") from None
            if answer is not None:
                parent = decoded.parent_message_id or ""
                step = self.approvals.get(parent)
                if step is not None and step.answer is None:
                    reply = ApprovalAnswer(
                        answer.approved, dict(answer.confirm or {}), answer.deny_reason
                    )
                    step.answer, step.answer_t, step.answer_line = reply, item.t, item.line
                    self.acks["post_message"].append((step, reply))
                else:
                    self.acks["post_message"].append(None)
                return
            self.post(item, [decoded.content], "post_message")
        elif isinstance(decoded, codec.PostMessages):
            self.post(item, list(decoded.messages), "post_messages")
        elif isinstance(decoded, codec.CreateSession) and self.owner is None:
            self.owner = Owner(decoded.object_type, decoded.object_id)

    def post(self, item: RecordedFrame, contents: list[WireContent], request: str) -> None:
        turn = _Building(item, contents, request)
        try:
            turn.decoded = tuple(decode_content(c, request) for c in contents)
        except CodecError as exc:
            turn.bad = str(exc)  # the engine refused it, surely: the ack will tell
        self.turns.append(turn)
        self.acks[request].append(turn)
        if self.active is None or not self.statuses:
            self.active = turn
        else:
            self.waiting.append(turn)

    # --- what the engine sent ---

    def received(self, item: RecordedFrame, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind in _POSTS:
            self.acked(kind, frame.get("success") is not False)
            return
        if kind == "error" and frame.get("request_type") in _CLIENT_TYPES:
            if frame.get("request_type") in _POSTS:
                self.acked(frame["request_type"], False)
            return
        if kind == "session_created" and self.session_id is None:
            session_id = frame.get("session_id")
            self.session_id = session_id if isinstance(session_id, str) else None
        if kind in _ANSWERS:
            return
        turn = self.active
        if kind == "message_notification":
            self.sender(frame)
        if turn is None:
            return  # between turns: nothing a replay sends
        if kind == "participant_status":
            message = frame.get("message")
            status = message.get("status") if type(message) is dict else None
            if type(status) is not str:
                raise self.error(item, "a participant_status without message.status")
            if status == _IDLE:
                self.active = self.waiting.popleft() if self.waiting else None
                return
            if status == _PROCESSING and not turn.saw_processing and not turn.steps:
                turn.saw_processing = True
                return  # the engine shows it before every turn
            turn.saw_processing = turn.saw_processing or status == _PROCESSING
            if status == _PROCESSING and turn.skip_processing:
                turn.skip_processing = False  # shown by request_approval() itself
            else:
                turn.steps.append(_Status(item.t, item.line, status))
        elif kind == "message_delta":
            self.delta(turn, item, frame)
        elif kind == "message_notification":
            self.notification(turn, item, frame)
        turn.frames.append(item)

    def acked(self, request: str, success: bool) -> None:
        waiting = self.acks[request]
        entry = waiting.popleft() if waiting else None
        if success or entry is None:
            return
        if isinstance(entry, tuple):  # a refused approval answer: it answered nothing
            step, reply = entry
            if step.answer is reply:
                step.answer = step.answer_t = step.answer_line = None
            return
        entry.refused = True
        if self.active is entry:
            self.active = self.waiting.popleft() if self.waiting else None
        elif entry in self.waiting:
            self.waiting.remove(entry)

    def sender(self, frame: dict[str, Any]) -> None:
        if self.owner is not None:
            return
        message = frame.get("message")
        sender = message.get("sender") if type(message) is dict else None
        if type(sender) is dict:
            object_type, object_id = sender.get("object_type"), sender.get("object_id")
            if isinstance(object_type, str) and isinstance(object_id, str) and object_id:
                self.owner = Owner(object_type, object_id)

    def delta(self, turn: _Building, item: RecordedFrame, frame: dict[str, Any]) -> None:
        value, index, message_id = frame.get("value"), frame.get("index"), frame.get("message_id")
        if type(value) is not str:
            raise self.error(item, "a message_delta without a string 'value'")
        if index is None:
            index = 0
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise self.error(item, f"a message_delta whose 'index' is {index!r:.60}")
        if message_id is not None and type(message_id) is not str:
            raise self.error(item, f"a message_delta whose 'message_id' is {message_id!r:.60}")
        turn.steps.append(_Delta(item.t, item.line, message_id, value, index))

    def notification(self, turn: _Building, item: RecordedFrame, frame: dict[str, Any]) -> None:
        message = frame.get("message")
        if type(message) is not dict:
            raise self.error(item, "a message_notification without a 'message' object")
        content = message.get("content")
        if type(content) is not dict or type(content.get("type")) is not str:
            raise self.error(item, "a message_notification whose message has no content type")
        message_id = message.get("id")
        if message_id is not None and type(message_id) is not str:
            raise self.error(item, f"a message_notification whose message id is {message_id!r:.60}")
        if content["type"] == "tool_call_approval":
            steps = turn.steps
            if steps and isinstance(steps[-1], _Status) and steps[-1].status == _AWAITING:
                steps.pop()  # shown by request_approval() itself
            step = _Approval(item.t, item.line, message_id, content)
            if message_id:
                self.approvals[message_id] = step
            turn.steps.append(step)
            turn.approvals.append(step)
            turn.skip_processing = True
        else:
            turn.steps.append(_Message(item.t, item.line, message_id, content))


def _build(reader: _Reader, headers: list[_Header]) -> Cassette:
    recordings: list[RecordedSession] = []
    turns: list[RecordedTurn] = []
    for header in headers:
        splitter = _Splitter(reader, header)
        built = splitter.run()
        recordings.append(
            RecordedSession(
                header.rec,
                splitter.owner,
                splitter.session_id,
                header.version,
                header.started,
                header.line,
                tuple(header.frames),
            )
        )
        for turn in built:
            if turn.bad is not None or turn.decoded is None:
                raise reader.error(
                    turn.frame.line, f"a post the engine accepted is malformed: {turn.bad}"
                )
            turns.append(
                RecordedTurn(
                    header.rec,
                    splitter.owner,
                    turn.frame.t,
                    turn.frame.line,
                    tuple(turn.post),
                    tuple(turn.frames),
                    tuple(step.answer for step in turn.approvals),
                    turn.decoded,
                    tuple(turn.steps),
                )
            )
    turns.sort(key=lambda turn: turn.line)
    return Cassette(reader.name, tuple(recordings), tuple(turns))


class Cassette:
    """A loaded cassette: its recordings, their owners and their turns, and an agent that
    replays them (:meth:`agent`). Load one with :meth:`load` (or :meth:`loads`)."""

    def __init__(
        self,
        name: str,
        recordings: Sequence[RecordedSession],
        turns: Sequence[RecordedTurn],
    ):
        self.name = name
        """The file it was loaded from (or the name given to :meth:`loads`)."""
        self.recordings: tuple[RecordedSession, ...] = tuple(recordings)
        """Every recording (a session's connection), in the order of their headers."""
        self.turns: tuple[RecordedTurn, ...] = tuple(turns)
        """Every recorded turn, in the order they were posted."""

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Cassette:
        """Read the cassette at ``path``.

        Raises :class:`CassetteError` (naming the file and the line) when it is corrupt or
        written by a newer version, and ``OSError`` when it cannot be read.
        """
        data = Path(path).read_bytes()
        return cls.loads(data, name=os.fspath(path))

    @classmethod
    def loads(cls, data: str | bytes, *, name: str = "<cassette>") -> Cassette:
        """Read a cassette's text; ``name`` is what errors call it. Raises
        :class:`CassetteError` as :meth:`load` does."""
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        reader = _Reader(name)
        return _build(reader, reader.read(raw.split(b"\n")))

    @property
    def owners(self) -> tuple[Owner, ...]:
        """The agents and chatbots the recordings belong to, each once, in order (those of
        recordings that do not say are left out)."""
        seen: dict[Owner, None] = {}
        for recording in self.recordings:
            if recording.owner is not None:
                seen.setdefault(recording.owner)
        return tuple(seen)

    def agent(self, *, owner: str | Owner | None = None, speed: float | None = None) -> ReplayAgent:
        """An agent that replays this cassette's turns (see the module docstring).

        ``owner`` (an id, or an :class:`Owner`) keeps only that agent's or chatbot's turns.
        Without it, a session gets the turns recorded for its own agent or chatbot (by id)
        when there are any, else any turn. ``speed``: ``None`` or ``0`` replays at once,
        ``1.0`` at the recorded pace, ``2.0`` twice as fast (the time the user took to answer
        an approval is never waited). Raises ``TypeError`` / ``ValueError`` for a bad
        ``speed`` or ``owner``.
        """
        if isinstance(owner, Owner):
            owner = owner.object_id
        if owner is not None and (not isinstance(owner, str) or not owner):
            raise TypeError(f"owner must be an id (a str) or an Owner, got {owner!r}")
        return ReplayAgent(self, owner=owner, speed=speed)

    def __repr__(self) -> str:
        return (
            f"<Cassette {self.name!r}: {len(self.recordings)} recordings, {len(self.turns)} turns>"
        )


# --- replaying -------------------------------------------------------------------------------


class ReplayAgent:
    """An agent (for :class:`~vectorshift_sessions.engine.LocalEngine` or ``add_agent``) that
    replays a cassette's turns. Made by :meth:`Cassette.agent`.

    Its state (the turns replayed, the mismatches) is this object's, shared by every session
    that talks to it. :attr:`mismatches` lists every :class:`CassetteMismatch` raised so far.
    """

    def __init__(self, cassette: Cassette, *, owner: str | None = None, speed: float | None = None):
        self.cassette = cassette
        self.owner = owner
        self.speed = _check_speed(speed)
        turns = cassette.turns
        if owner is not None:
            turns = tuple(t for t in turns if t.owner is None or t.owner.object_id == owner)
        self.turns: tuple[RecordedTurn, ...] = turns
        """The turns this agent replays (all of the cassette's, or its owner's)."""
        self.mismatches: list[CassetteMismatch] = []
        """Every :class:`CassetteMismatch` raised so far, oldest first."""
        self._used: set[int] = set()
        self._owners = {t.owner.object_id for t in turns if t.owner is not None}
        self._lock = threading.Lock()

    @property
    def remaining(self) -> tuple[RecordedTurn, ...]:
        """The recorded turns not replayed yet, in order."""
        with self._lock:
            return tuple(t for i, t in enumerate(self.turns) if i not in self._used)

    def assert_done(self) -> None:
        """Raise :class:`CassetteMismatch` listing every mismatch so far and every recorded
        turn never replayed; return quietly when the replay went as recorded."""
        with self._lock:
            problems = [str(m) for m in self.mismatches]
            left = [t for i, t in enumerate(self.turns) if i not in self._used]
        if left:
            problems.append(
                "never replayed: " + "; ".join(f"{t.describe()} (line {t.line})" for t in left)
            )
        if problems:
            raise CassetteMismatch(
                f"cassette {self.cassette.name}: the session did not go as recorded:\n- "
                + "\n- ".join(problems)
            )

    async def __call__(self, turn: Turn) -> None:
        """Replay the recorded turn whose post is this turn's.

        Raises :class:`CassetteMismatch` (kept on :attr:`mismatches`) when no recorded turn
        left has this post, or when an approval is answered otherwise than recorded.
        """
        recorded = self._select(turn)
        await self._replay(turn, recorded)

    def _fail(self, message: str) -> CassetteMismatch:
        mismatch = CassetteMismatch(message)
        with self._lock:
            self.mismatches.append(mismatch)
        return mismatch

    def _select(self, turn: Turn) -> RecordedTurn:
        decoded = tuple(decode_content(content) for content in turn.inputs)
        owner = self.owner or (turn.owner_id if turn.owner_id in self._owners else None)
        with self._lock:
            pool = [
                (i, t)
                for i, t in enumerate(self.turns)
                if i not in self._used
                and (owner is None or t.owner is None or t.owner.object_id == owner)
            ]
            for index, candidate in pool:
                if candidate._decoded == decoded:
                    self._used.add(index)
                    return candidate
        received = _describe_post(decoded)
        name = self.cassette.name
        whose = f" for {owner}" if owner else ""
        if not pool:
            played = len(self.turns) - len(self.remaining)
            raise self._fail(
                f"cassette {name}: the post {received} matches no recorded turn: every turn "
                f"recorded{whose} was replayed already ({played})"
            )
        expected = pool[0][1]
        same = " (the same names, other bytes)" if expected.describe() == received else ""
        raise self._fail(
            f"cassette {name}: the post {received} matches no recorded turn left{whose}; the "
            f"next recorded post is {expected.describe()} (line {expected.line}){same}"
        )

    async def _replay(self, turn: Turn, recorded: RecordedTurn) -> None:
        ids: dict[str, str] = {}

        def new(old: str | None) -> str | None:
            if old is None:
                return None  # a fresh id each time
            mapped = ids.get(old)
            if mapped is None:
                mapped = ids[old] = new_id()
            return mapped

        speed = self.speed
        clock = recorded.t
        for step in recorded._steps:
            if speed:
                gap = (step.t - clock) / speed
                if gap > 0:
                    await asyncio.sleep(gap)
                clock = max(clock, step.t)
            if isinstance(step, _Delta):
                # Deltas that name no message: one new id for all of them in this turn.
                message_id = new(step.message_id) or ids.setdefault("", new_id())
                await turn.delta(message_id, step.text, step.index)
            elif isinstance(step, _Message):
                await turn.emit(step.content, message_id=new(step.message_id))
            elif isinstance(step, _Status):
                await turn.status(step.status)
            else:
                answer = await turn.request_approval(step.content, message_id=new(step.message_id))
                expected = step.answer
                if expected is not None and not _same_answer(expected, answer):
                    raise self._fail(
                        f"cassette {self.cassette.name}, line {step.answer_line}: the approval "
                        f"of {step.content.get('tool_name', 'a tool call')!r} was answered "
                        f"otherwise than recorded: recorded {_describe_answer(expected)}, "
                        f"received {_describe_answer(answer)}"
                    )
                if step.answer_t is not None:
                    clock = max(clock, step.answer_t)  # the user's time is not replayed

    def __repr__(self) -> str:
        return (
            f"<ReplayAgent {self.cassette.name!r}, {len(self.turns)} turns, "
            f"{len(self.remaining)} remaining, {len(self.mismatches)} mismatches>"
        )


def _same_answer(recorded: ApprovalAnswer, received: ApprovalAnswer) -> bool:
    if recorded.approved != received.approved:
        return False
    if recorded.approved:
        return dict(recorded.confirm) == dict(received.confirm)
    return recorded.deny_reason == received.deny_reason
