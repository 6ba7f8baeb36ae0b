"""Reading a cassette's bytes into checked recordings (the format: ``vectorshift_sessions._cassette``).

Every problem is a `CassetteError` naming the file and the line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, cast

import attrs

from ..._cassette import CASSETTE_VERSION, RECEIVED, SENT
from ._errors import CassetteError
from ._model import Owner, RecordedFrame

__all__ = ["Take", "corrupt", "read"]

_FIX = "the cassette is corrupt: record it again"


def corrupt(name: str, line: int | None, reason: str) -> CassetteError:
    """A `CassetteError` for a damaged cassette, saying how to get a good one."""
    return CassetteError(
        name,
        line,
        f"{reason}; {_FIX} (pytest --vectorshift-record-mode=rewrite with the plugin, or a "
        "session with record_to=)",
    )


@attrs.define(eq=False)
class Take:
    """One recording as read: its header, then its frames (ordered by ``t`` once read)."""

    rec: str
    line: int
    owner: Owner | None = None
    session_id: str | None = None
    version: str | None = None
    started: str | None = None
    frames: list[RecordedFrame] = attrs.field(factory=list)


def read(name: str, data: bytes) -> list[Take]:
    """The recordings in ``data``, in the order of their headers."""
    takes: dict[str, Take] = {}
    for number, raw in enumerate(data.split(b"\n"), 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise corrupt(name, number, f"not UTF-8 text ({exc.reason})") from None
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise corrupt(name, number, f"not valid JSON ({exc})") from None
        if type(obj) is not dict:
            raise corrupt(name, number, f"expected a JSON object, got {type(obj).__name__}")
        obj = cast("dict[str, Any]", obj)
        if "cassette" in obj:
            take = _header(name, obj, number)
            if take.rec in takes:
                first = takes[take.rec].line
                raise corrupt(
                    name,
                    number,
                    f"a second header for recording {take.rec!r} (the first: line {first})",
                )
            takes[take.rec] = take
        else:
            _frame(name, takes, obj, number)
    for take in takes.values():
        # A sent frame is written once sent, maybe after its answer: time tells the order.
        take.frames.sort(key=lambda frame: frame.t)
    return list(takes.values())


def _str(name: str, obj: Mapping[str, Any], key: str, line: int) -> str | None:
    """``obj[key]``: a string, or ``None`` when missing or null."""
    value = obj.get(key)
    if value is None or type(value) is str:
        return value
    raise corrupt(name, line, f"the field {key!r} is not a string ({value!r:.60})")


def _required(name: str, obj: Mapping[str, Any], key: str, line: int) -> str:
    value = _str(name, obj, key, line)
    if not value:
        raise corrupt(name, line, f"the field {key!r} is missing")
    return value


def _header(name: str, obj: dict[str, Any], line: int) -> Take:
    version = obj["cassette"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise corrupt(name, line, f"'cassette' must be a format number >= 1, got {version!r}")
    if version > CASSETTE_VERSION:
        written_by = obj.get("version")
        by = f" {written_by}" if isinstance(written_by, str) else ""
        raise CassetteError(
            name,
            line,
            f"cassette format {version}, written by a newer vectorshift-sessions{by}; this "
            f"one reads format {CASSETTE_VERSION} and older: upgrade vectorshift-sessions",
        )
    take = Take(_required(name, obj, "rec", line), line)
    owner = obj.get("owner")
    if owner is not None:
        if type(owner) is not dict:
            raise corrupt(name, line, f"'owner' must be an object or null, got {owner!r:.60}")
        owner = cast("dict[str, Any]", owner)
        take.owner = Owner(
            _required(name, owner, "object_type", line),
            _required(name, owner, "object_id", line),
            _str(name, owner, "name", line) or None,
        )
    take.session_id = _str(name, obj, "session_id", line) or None
    take.version = _str(name, obj, "version", line)
    take.started = _str(name, obj, "started", line)
    return take


def _frame(name: str, takes: dict[str, Take], obj: dict[str, Any], line: int) -> None:
    rec = _required(name, obj, "rec", line)
    take = takes.get(rec)
    if take is None:
        raise corrupt(
            name,
            line,
            f"a frame of recording {rec!r} before its header (a cassette starts each "
            "recording with a header line; is it missing?)",
        )
    t = obj.get("t")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
        raise corrupt(name, line, f"the field 't' must be a number of seconds, got {t!r:.60}")
    direction = obj.get("dir")
    if direction not in (SENT, RECEIVED):
        raise corrupt(
            name, line, f"the field 'dir' must be {SENT!r} or {RECEIVED!r}, got {direction!r:.60}"
        )
    frame = obj.get("frame")
    text = obj.get("text")
    if type(frame) is dict:
        frame = cast("dict[str, Any]", frame)
        if type(frame.get("type")) is not str:
            raise corrupt(name, line, "the frame has no 'type'")
    elif frame is not None:
        raise corrupt(name, line, f"the field 'frame' must be an object, got {frame!r:.60}")
    elif direction == SENT or type(text) is not str:
        raise corrupt(name, line, "the line has no 'frame' (nor, for a received text, 'text')")
    take.frames.append(RecordedFrame(float(t), direction, frame, text, line))
