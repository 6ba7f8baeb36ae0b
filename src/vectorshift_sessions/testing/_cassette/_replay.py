"""The replaying agent: which recorded turn a live post gets, and playing it.

Each live session is pinned, at its first post found in a recorded session (one that begins
with it, else one that has it later), to that recorded session; its later posts are taken from
that session only, in order (a turn skipped is never replayed: ``assert_done`` names it). So
several sessions replayed at once never get each other's turns.
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING

from ..._cassette import Redactor
from ..._content import DecodedContent
from ...engine._turn import Turn
from ._errors import RERECORD, CassetteMismatch
from ._model import RecordedTurn, describe_post
from ._play import Options, play, posted

if TYPE_CHECKING:
    from . import Cassette

__all__ = ["DEFAULT_APPROVAL_TIMEOUT", "ReplayAgent"]

#: How long a replay waits for the answer to an approval that was answered when recorded
#: (seconds): shorter than the client's own timeouts (30 s), so a test that posts instead of
#: answering fails with a message naming the approval instead of hanging.
DEFAULT_APPROVAL_TIMEOUT = 10.0
_LISTED = 3  # recorded sessions named in a message, at most


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


def _check_timeout(timeout: object) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"approval_timeout must be a number of seconds or None, got {timeout!r}")
    if not (math.isfinite(timeout) and timeout > 0):
        raise ValueError(
            f"approval_timeout must be a finite number of seconds > 0 (or None: no limit), "
            f"got {timeout!r}"
        )
    return float(timeout)


class ReplayAgent:
    """An agent (for `vectorshift_sessions.engine.LocalEngine` or ``add_agent``) that
    replays a cassette's turns. Made by `Cassette.agent`.

    Its state (the turns replayed, which live session replays which recorded one, the
    mismatches) is this object's, shared by every session that talks to it.
    `mismatches` lists every `CassetteMismatch` raised so far.

    Args:
        cassette: The cassette to replay.
        owner: Only this agent's or chatbot's turns (its id).
        speed: How fast to replay (see `Cassette.agent`).
        redact: The hook the cassette was recorded with.
        approval_timeout: Seconds to wait for the answer to a recorded approval.

    Attributes:
        cassette: The cassette it replays.
        owner: The id whose turns it replays, or ``None`` for all.
        speed: How fast it replays (``None`` at once).
        redact: The redaction hook, or ``None``.
        approval_timeout: Seconds it waits for an approval's answer, or ``None``.
        turns: The turns this agent replays (all of the cassette's, or its owner's).
        mismatches: Every `CassetteMismatch` raised so far, oldest first.

    Raises:
        TypeError: ``redact`` is not callable, or an argument is of a wrong type.
        ValueError: ``speed`` or ``approval_timeout`` is out of range.
    """

    def __init__(
        self,
        cassette: Cassette,
        *,
        owner: str | None = None,
        speed: float | None = None,
        redact: Redactor | None = None,
        approval_timeout: float | None = DEFAULT_APPROVAL_TIMEOUT,
    ):
        if redact is not None and not callable(redact):
            raise TypeError(
                f"redact must be a function (frame, direction) -> frame, got {redact!r:.100}"
            )
        self.cassette = cassette
        self.owner = owner
        self.speed = _check_speed(speed)
        self.redact = redact
        self.approval_timeout = _check_timeout(approval_timeout)
        turns = cassette.turns
        if owner is not None:
            turns = tuple(t for t in turns if t.owner is None or t.owner.object_id == owner)
        self.turns: tuple[RecordedTurn, ...] = turns
        """The turns this agent replays (all of the cassette's, or its owner's)."""
        self.mismatches: list[CassetteMismatch] = []
        """Every `CassetteMismatch` raised so far, oldest first."""
        self._sessions: dict[str, list[RecordedTurn]] = {}  # recorded session -> its turns
        for turn in sorted(turns, key=lambda t: t._order):
            self._sessions.setdefault(turn._session, []).append(turn)
        self._next_index: dict[str, int] = dict.fromkeys(self._sessions, 0)  # turns after it
        self._played: set[int] = set()  # the ids of the turns replayed
        self._pins: dict[str, str] = {}  # live session id -> recorded session
        self._owners = {t.owner.object_id for t in turns if t.owner is not None}
        self._options = Options(cassette.name, self.speed, redact, self.approval_timeout)
        self._lock = threading.Lock()

    @property
    def remaining(self) -> tuple[RecordedTurn, ...]:
        """The recorded turns not replayed yet, in order."""
        with self._lock:
            return self._remaining()

    def _remaining(self) -> tuple[RecordedTurn, ...]:
        return tuple(t for t in self.turns if id(t) not in self._played)

    def assert_done(self) -> None:
        """Raise `CassetteMismatch` listing every mismatch so far and every recorded
        turn never replayed; return quietly when the replay went as recorded."""
        with self._lock:
            problems = [str(m) for m in self.mismatches]
            left = self._remaining()
        if left:
            problems.append(
                "never replayed: "
                + "; ".join(f"{t.describe()} (line {t.line})" for t in left)
                + f"; {RERECORD}"
            )
        if problems:
            raise CassetteMismatch(
                f"cassette {self.cassette.name}: the session did not go as recorded:\n- "
                + "\n- ".join(problems)
            )

    async def __call__(self, turn: Turn) -> None:
        """Replay the recorded turn this post stands for.

        Raises `CassetteMismatch` (kept on `mismatches`) when the post is not
        the one recorded next, or when an approval is answered otherwise than recorded (or
        not within ``approval_timeout``).
        """
        recorded = self._select(turn, posted(turn, self.redact))
        await play(turn, recorded, self._options, self._fail)

    def _fail(self, message: str) -> CassetteMismatch:
        mismatch = CassetteMismatch(message)
        with self._lock:
            self.mismatches.append(mismatch)
        return mismatch

    def _select(self, turn: Turn, decoded: tuple[DecodedContent, ...]) -> RecordedTurn:
        with self._lock:
            found = self._find(turn, decoded)
        if isinstance(found, str):
            raise self._fail(f"cassette {self.cassette.name}: the post {found}; {RERECORD}")
        return found

    def _find(self, turn: Turn, decoded: tuple[DecodedContent, ...]) -> RecordedTurn | str:
        """The recorded turn for this post (under the lock), else what is wrong."""
        received, live = describe_post(decoded), turn.session_id
        key = self._pins.get(live)
        if key is not None:
            return self._next(key, live, decoded, received)
        owner = self.owner or (turn.owner_id if turn.owner_id in self._owners else None)
        pinned = set(self._pins.values())
        free = [
            k
            for k, ts in self._sessions.items()
            if k not in pinned
            and (owner is None or ts[0].owner is None or ts[0].owner.object_id == owner)
        ]
        # A session that begins with this post, else one that has it later (skipping turns).
        for first_only in (True, False):
            for k in free:
                found = self._take(k, decoded, first_only)
                if found is not None:
                    self._pins[live] = k
                    return found
        whose = f" for {owner}" if owner else ""
        if not free:
            return (
                f"{received} (session {live}) matches no recorded turn: every session "
                f"recorded{whose} was replayed already, or is being replayed by another session"
            )
        firsts = [self._sessions[k][0] for k in free]
        begins = "; ".join(f"{t.describe()} (line {t.line})" for t in firsts[:_LISTED])
        more = f" and {len(firsts) - _LISTED} more" if len(firsts) > _LISTED else ""
        return (
            f"{received} (the first of session {live}) is in no recorded session left{whose}; "
            f"those left begin with {begins}{more}{_same_names(firsts[0], received)}"
        )

    def _take(
        self, key: str, decoded: tuple[DecodedContent, ...], first_only: bool
    ) -> RecordedTurn | None:
        """The recorded session's first turn left with this post (the next one only, with
        ``first_only``), now replayed; turns skipped stay unplayed."""
        turns, start = self._sessions[key], self._next_index[key]
        for index in range(start, start + 1 if first_only else len(turns)):
            if index < len(turns) and turns[index]._decoded == decoded:
                self._next_index[key] = index + 1
                self._played.add(id(turns[index]))
                return turns[index]
        return None

    def _next(
        self, key: str, live: str, decoded: tuple[DecodedContent, ...], received: str
    ) -> RecordedTurn | str:
        """The pinned recorded session's next turn with this post, else what is wrong."""
        found = self._take(key, decoded, first_only=False)
        if found is not None:
            return found
        turns, start = self._sessions[key], self._next_index[key]
        recorded = turns[0].session_id or f"of recording {turns[0].rec}"
        if start == len(turns):
            return (
                f"{received} in session {live} is one too many: that session replays recorded "
                f"session {recorded}, whose turns were replayed already"
            )
        expected = turns[start]
        return (
            f"{received} in session {live} is not in what recorded session {recorded} posted "
            f"next: {expected.describe()} (line {expected.line})"
            f"{_same_names(expected, received)}"
        )

    def __repr__(self) -> str:
        return (
            f"<ReplayAgent {self.cassette.name!r}, {len(self.turns)} turns, "
            f"{len(self.remaining)} remaining, {len(self.mismatches)} mismatches>"
        )


def _same_names(expected: RecordedTurn, received: str) -> str:
    return " (the same names, other bytes)" if expected.describe() == received else ""
