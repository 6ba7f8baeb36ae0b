"""From recordings to sessions: group a cassette's recordings by session, read each
session's as one timeline, and build what `Cassette` shows."""

from __future__ import annotations

import calendar
import itertools
import time

from ..._cassette import RECEIVED, SENT
from ._building import ACCEPTED, Approvals, Building
from ._model import Owner, RecordedFrame, RecordedSession, RecordedTurn
from ._reader import Take, corrupt
from ._steps import Approval
from ._turns import SessionSplitter

__all__ = ["split"]


def split(name: str, takes: list[Take]) -> tuple[list[RecordedSession], list[RecordedTurn]]:
    """The recordings (in the order of their headers) and the turns (in the order posted)."""
    groups: dict[str, list[Take]] = {}
    for take in takes:
        groups.setdefault(_session_key(take), []).append(take)
    approvals = Approvals()  # one for the cassette: answers cross recordings
    order = itertools.count()
    recordings: dict[str, RecordedSession] = {}
    turns: list[RecordedTurn] = []
    for key, group in groups.items():
        splitter = SessionSplitter(name, group, approvals, order)
        built = splitter.run(_timeline(group))
        owners = [take.owner or _created_for(take) for take in group]
        fallback = next((o for o in owners if o is not None), splitter.owner)
        session_id = None if key.startswith(" ") else key
        for take, owner, link in zip(group, owners, splitter.links, strict=True):
            recordings[take.rec] = RecordedSession(
                take.rec,
                owner or fallback,
                session_id,
                take.version,
                take.started,
                take.line,
                tuple(take.frames),
                link.joined,
            )
        turns += (_turn(name, turn, key, session_id, fallback) for turn in built)
    turns.sort(key=lambda turn: turn.line)
    return [recordings[take.rec] for take in takes], turns


def _session_key(take: Take) -> str:
    """The session's id: the header's, else the one the engine created, else the one the
    client named; a recording that names none is a session of its own (a key with a space)."""
    created = named = None
    for item in take.frames:
        frame = item.frame or {}
        session_id = frame.get("session_id")
        if not isinstance(session_id, str) or not session_id:
            continue
        if item.direction == RECEIVED and frame.get("type") == "session_created":
            created = created or session_id
        elif item.direction == SENT:
            named = named or session_id
    return take.session_id or created or named or " " + take.rec


def _created_for(take: Take) -> Owner | None:
    for item in take.frames:
        frame = item.frame or {}
        if item.direction == SENT and frame.get("type") == "create_session":
            object_type, object_id = frame.get("object_type"), frame.get("object_id")
            if isinstance(object_type, str) and isinstance(object_id, str) and object_id:
                return Owner(object_type, object_id)
    return None


def _epoch(started: str | None) -> float | None:
    """A header's ``started`` (``2026-01-31T12:00:00.000Z``) in seconds, if it reads."""
    if not started:
        return None
    head, _, fraction = started.rstrip("Z").partition(".")
    try:
        seconds = calendar.timegm(time.strptime(head, "%Y-%m-%dT%H:%M:%S"))
        return seconds + (float("0." + fraction) if fraction.isdigit() else 0.0)
    except ValueError:
        return None


def _timeline(takes: list[Take]) -> list[tuple[int, RecordedFrame | None]]:
    """The frames of a session's recordings in one order (by when each recording started,
    plus ``t``; one that does not say when starts where the one before ended), with
    ``None`` after each recording's last frame."""
    items: list[tuple[float, int, int, RecordedFrame | None]] = []
    epochs = [_epoch(take.started) for take in takes]
    origin = next((e for e in epochs if e is not None), 0.0)
    end = 0.0
    for index, (take, epoch) in enumerate(zip(takes, epochs, strict=True)):
        base = end if epoch is None else epoch - origin
        last = base
        for seq, item in enumerate(take.frames):
            last = max(last, base + item.t)
            items.append((base + item.t, index, seq, item))
        items.append((last, index, len(take.frames), None))
        end = max(end, last)
    items.sort(key=lambda entry: entry[:3])
    return [(index, item) for _, index, _, item in items]


def _turn(
    name: str, turn: Building, key: str, session_id: str | None, owner: Owner | None
) -> RecordedTurn:
    if turn.decoded is None:
        what = "accepted" if turn.state == ACCEPTED else "did not refuse"
        raise corrupt(name, turn.post.line, f"a post the engine {what} is malformed: {turn.bad}")
    _set_waits(turn)
    return RecordedTurn(
        turn.rec,
        owner,
        turn.post.t,
        turn.post.line,
        tuple(turn.contents),
        tuple(turn.frames),
        tuple(step.answer.answer if step.answer else None for step in turn.approvals),
        session_id,
        turn.decoded,
        tuple(turn.steps),
        key,
        turn.order,
    )


def _set_waits(turn: Building) -> None:
    """How long each step waits at the recorded pace: the time since the step before in the
    same recording (none across recordings, nor for the time the user took to answer)."""
    t, rec = turn.post.t, turn.rec
    for step in turn.steps:
        step.wait = max(0.0, step.t - t) if step.rec == rec else 0.0
        t, rec = step.t, step.rec
        if isinstance(step, Approval) and step.answer is not None:
            t, rec = step.answer.t, step.answer.rec
