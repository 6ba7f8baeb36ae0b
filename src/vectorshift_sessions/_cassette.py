"""Recording sessions into cassettes: every frame, both ways, as JSON Lines.

A session made with ``record_to=`` (a path, a writable text file, or a :class:`Recorder`)
appends its frames to a cassette, which ``vectorshift_sessions.testing.Cassette`` loads and
replays offline. This is the writing side only; the session imports it when it records (it
uses the standard library alone, so recording costs nothing when it is off).

The format, one JSON object per line (UTF-8):

- a header per recording (a session's ``connect()``, up to its disconnect)::

    {"cassette": 1, "rec": "<8 hex digits>", "package": "vectorshift-sessions",
     "version": "<package version>", "owner": {"object_type": ..., "object_id": ...} | null,
     "session_id": ... | null, "started": "<ISO 8601 UTC>"}

- then one line per frame, sent or received::

    {"rec": "<id>", "t": <seconds since the header>, "dir": "sent" | "received",
     "frame": <the frame>}

  (a received text that is not a JSON object is kept as ``"text": "<raw>"`` instead).

Lines are written as frames come and go, so a frame sent may be written after the engine's
answer to it: its ``t`` is when its sending began, and a recording's frames are in order once
sorted by ``t`` (readers sort them, stably). Several recordings may share a file, written from
any number of threads: each line is written whole, under one lock per file.

The API key is never written: it is not in any frame (the ``Authorization`` header is not
recorded), and should it appear in one (a user pasting it into a message) it is replaced by
``"[redacted]"``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Union

__all__ = [
    "CASSETTE_VERSION",
    "REDACTED",
    "Recorder",
    "Recording",
    "RecordTarget",
    "Redactor",
    "as_recorder",
    "default_recorder",
    "recording",
]

logger = logging.getLogger("vectorshift_sessions.cassette")

#: The cassette format this package writes (and the newest it reads).
CASSETTE_VERSION = 1
#: What the API key is replaced with, should it ever appear in a frame.
REDACTED = "[redacted]"
#: The directions a frame line names.
SENT = "sent"
RECEIVED = "received"

#: ``redact(frame, direction)``: the frame as it should be written (``direction`` is ``"sent"``
#: or ``"received"``). It may change the frame it is given, or return a new one.
Redactor = Callable[[dict[str, Any], str], dict[str, Any]]
#: What ``record_to=`` accepts.
RecordTarget = Union[str, "os.PathLike[str]", IO[str], "Recorder"]

# One lock per file, for the whole process: the lines of recordings that share a file (from
# any thread, through any number of Recorders) never interleave.
_LOCKS_GUARD = threading.Lock()
_PATH_LOCKS: dict[str, threading.Lock] = {}
_FILE_LOCKS: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()


def _path_lock(key: str) -> threading.Lock:
    with _LOCKS_GUARD:
        lock = _PATH_LOCKS.get(key)
        if lock is None:
            lock = _PATH_LOCKS[key] = threading.Lock()
        return lock


def _file_lock(stream: Any) -> threading.Lock:
    with _LOCKS_GUARD:
        try:
            lock = _FILE_LOCKS.get(stream)
            if lock is None:
                lock = _FILE_LOCKS[stream] = threading.Lock()
        except TypeError:  # not weakly referenceable: a lock of its own Recorder
            return threading.Lock()
        return lock


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _now_iso() -> str:
    """Now, in ISO 8601 UTC to the millisecond: ``2026-01-31T12:00:00.000Z``."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


class Recorder:
    """Where sessions record their frames, and how: a cassette file and a redaction hook.

    ``target`` is a path (``str`` or ``os.PathLike``; the file is created if needed and
    appended to, opened when a session connects and closed when it disconnects) or a text
    file object opened for writing (written as given, never closed here). One recorder may
    serve any number of sessions, at once or one after another: each connection of a session
    is one recording, with its own header.

    ``redact(frame, direction)``, when given, is applied to every frame before it is written
    (``direction`` is ``"sent"`` or ``"received"``) and returns the frame to write: use it to
    take personal data out of recorded turns. Whatever it returns, the API key is never
    written. If it raises (or the file cannot be written), that session's recording stops,
    with an error in the ``vectorshift_sessions.cassette`` log; the session itself goes on.

    Raises ``TypeError`` for a target of another type (or a binary file) and for a ``redact``
    that is not callable, ``FileNotFoundError`` when the path's directory does not exist,
    ``IsADirectoryError`` when the path is a directory, and ``ValueError`` for a file object
    that is closed or not writable: all before any session sends anything.
    """

    __slots__ = ("_key", "_lock", "_path", "_stream", "redact")

    def __init__(self, target: str | os.PathLike[str] | IO[str], *, redact: Redactor | None = None):
        if redact is not None and not callable(redact):
            raise TypeError(
                f"redact must be a function (frame, direction) -> frame, got {redact!r:.100}"
            )
        self.redact = redact
        self._path: Path | None = None
        self._stream: IO[str] | None = None
        if isinstance(target, (str, os.PathLike)):
            raw = os.fspath(target)
            if not isinstance(raw, str):
                raise TypeError(f"record_to needs a text path, got bytes {raw!r}")
            path = Path(raw).expanduser().absolute()
            if not path.parent.is_dir():
                raise FileNotFoundError(
                    2, "cannot record there: the directory does not exist", str(path.parent)
                )
            if path.is_dir():
                raise IsADirectoryError(21, "cannot record into a directory", str(path))
            self._path = path
            self._key = os.path.realpath(path)
            self._lock = _path_lock(self._key)
        elif callable(getattr(target, "write", None)):
            if isinstance(target, (io.RawIOBase, io.BufferedIOBase)) or "b" in str(
                getattr(target, "mode", "")
            ):
                raise TypeError(
                    "record_to needs a text file (opened with 'w' or 'a', not 'wb'), "
                    f"got {type(target).__name__}"
                )
            if getattr(target, "closed", False):
                raise ValueError("record_to is a closed file; open it again")
            writable = getattr(target, "writable", None)
            if callable(writable) and not writable():
                raise ValueError("record_to is a file not opened for writing")
            self._stream = target
            self._key = f"<{type(target).__name__} at {id(target):#x}>"
            self._lock = _file_lock(target)
        else:
            raise TypeError(
                "record_to must be a path, a text file opened for writing or a Recorder, got "
                f"{type(target).__module__}.{type(target).__qualname__}".replace("builtins.", "")
            )

    @property
    def path(self) -> Path | None:
        """The cassette's path (absolute), or ``None`` when recording into a file object."""
        return self._path

    def __repr__(self) -> str:
        where = str(self._path) if self._path is not None else self._key
        return f"Recorder({where!r}, redact={self.redact!r})"

    def start(
        self,
        *,
        owner_type: str | None = None,
        owner_id: str | None = None,
        session_id: str | None = None,
        secret: str | None = None,
    ) -> Recording:
        """Begin one recording: open the file (a path target) and write the header.

        ``owner_type`` / ``owner_id`` name the agent or chatbot (both, or the owner is
        written as ``null``), ``session_id`` the session when it is known (resuming), and
        ``secret`` (the API key) is never written. Sessions call this when they connect.
        Raises ``OSError`` when the file cannot be opened or written.
        """
        owner = (
            {"object_type": owner_type, "object_id": owner_id} if owner_type and owner_id else None
        )
        rec = os.urandom(4).hex()
        header = {
            "cassette": CASSETTE_VERSION,
            "rec": rec,
            "package": "vectorshift-sessions",
            "version": _version(),
            "owner": owner,
            "session_id": session_id,
            "started": _now_iso(),
        }
        if self._path is not None:
            stream: IO[str] = open(self._path, "a", encoding="utf-8", newline="\n")  # noqa: SIM115
            owned = True
        else:
            assert self._stream is not None
            stream, owned = self._stream, False
        try:
            recording = Recording(self, stream, owned, rec, secret)
            recording._write_raw(_scrub(_dumps(header), secret) + "\n")
        except BaseException:
            if owned:
                stream.close()
            raise
        return recording


def _version() -> str:
    from . import __version__

    return __version__


def _scrub(text: str, secret: str | None) -> str:
    """``text`` with the secret replaced, as written and as JSON escapes it."""
    if not secret:
        return text
    text = text.replace(secret, REDACTED)
    escaped = json.dumps(secret, ensure_ascii=False)[1:-1]
    if escaped != secret:
        text = text.replace(escaped, REDACTED)
    ascii_escaped = json.dumps(secret)[1:-1]
    if ascii_escaped != escaped:
        text = text.replace(ascii_escaped, REDACTED)
    return text


def _close_stream(stream: IO[str]) -> None:
    with contextlib.suppress(Exception):
        stream.close()


class Recording:
    """One session connection's recording: its header is written; ``sent`` / ``received``
    write frames; ``close`` ends it (closing the file of a path target). Thread-safe. Made by
    :meth:`Recorder.start`."""

    __slots__ = (
        "__weakref__",
        "_closed",
        "_finalizer",
        "_lock",
        "_owned",
        "_prefix",
        "_recorder",
        "_secret",
        "_start",
        "_stream",
        "rec",
    )

    def __init__(
        self, recorder: Recorder, stream: IO[str], owned: bool, rec: str, secret: str | None
    ):
        self._recorder = recorder
        self._stream = stream
        self._owned = owned
        self._lock = recorder._lock
        self._secret = secret or None
        self._start = time.monotonic()
        self._closed = False
        self.rec = rec
        """This recording's id (the ``rec`` of its lines)."""
        self._prefix = '{"rec":' + _dumps(rec) + ',"t":'
        # A path target's file is closed with the recording, even one never closed.
        self._finalizer = weakref.finalize(self, _close_stream, stream) if owned else None

    @property
    def closed(self) -> bool:
        """Whether the recording has ended (closed, or stopped by an error)."""
        return self._closed

    def _write_raw(self, text: str) -> None:
        with self._lock:
            self._stream.write(text)
            self._stream.flush()

    def _body(self, text: str | None, frame: Any, direction: str) -> str:
        """The end of one line: direction and frame (redacted), without the time."""
        redact = self._recorder.redact
        if type(frame) is dict:
            if redact is not None:
                frame = redact(frame, direction)
                if not isinstance(frame, dict):
                    raise TypeError(
                        f"redact() must return the frame (a dict), got {type(frame).__name__}"
                    )
            body = ',"dir":"' + direction + '","frame":' + _dumps(frame) + "}\n"
        else:
            body = ',"dir":"' + direction + '","text":' + _dumps(text) + "}\n"
        return _scrub(body, self._secret)

    def clock(self) -> float:
        """Seconds since the recording began (what a line's ``t`` says)."""
        return time.monotonic() - self._start

    def _write(self, bodies: Sequence[str], t: float | None = None) -> None:
        with self._lock:
            if self._closed:
                return
            if t is None:
                t = time.monotonic() - self._start
            head = self._prefix + repr(round(t, 6))
            self._stream.write("".join(head + body for body in bodies))
            self._stream.flush()

    def _failed(self, exc: BaseException) -> None:
        logger.error(
            "stopped recording %s into %s: %s: %s",
            self.rec,
            self._recorder,
            type(exc).__name__,
            exc,
            exc_info=exc,
        )
        self.close()

    def sent(self, text: str, t: float | None = None) -> None:
        """Record one frame the session sent (its JSON text); ``t`` is when its sending
        began (:meth:`clock`; default now), so that it comes before its answer once the
        lines are ordered by time. Never raises."""
        if self._closed:
            return
        try:
            self._write([self._body(text, json.loads(text), SENT)], t)
        except Exception as exc:
            self._failed(exc)

    def received(self, texts: Sequence[str]) -> None:
        """Record frames the session received, in order (one batch, one time). Never raises."""
        if self._closed or not texts:
            return
        try:
            bodies = []
            for text in texts:
                try:
                    frame = json.loads(text)
                except (ValueError, TypeError, RecursionError):
                    frame = None
                bodies.append(self._body(text, frame, RECEIVED))
            self._write(bodies)
        except Exception as exc:
            self._failed(exc)

    def close(self) -> None:
        """End the recording (a path target's file is closed). Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._finalizer is not None:
            self._finalizer()  # closes the file, once

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Recording {self.rec} into {self._recorder!r} ({state})>"


def as_recorder(target: RecordTarget) -> Recorder:
    """``record_to``'s value as a :class:`Recorder` (a recorder is returned as is). Raises
    what :class:`Recorder` raises for a bad target."""
    if isinstance(target, Recorder):
        return target
    if isinstance(target, bool):  # record_to=True is not a file descriptor
        raise TypeError("record_to must be a path, a text file opened for writing or a Recorder")
    return Recorder(target)


# --- the process-wide default: sessions made without record_to record here -----------------

_DEFAULTS_GUARD = threading.Lock()
_defaults: list[Recorder] = []


def default_recorder() -> Recorder | None:
    """The recorder of the innermost active :func:`recording`, if any (any thread)."""
    with _DEFAULTS_GUARD:
        return _defaults[-1] if _defaults else None


@contextlib.contextmanager
def recording(target: RecordTarget, *, redact: Redactor | None = None) -> Iterator[Recorder]:
    """While active, every session created without ``record_to``, in any thread, records
    into ``target`` (a path, a text file or a :class:`Recorder`; ``redact`` as there).

    Sessions created inside keep recording after the block ends, until they disconnect.
    Blocks may nest (the innermost wins) and overlap from several threads (each block takes
    back only its own recorder). Yields the recorder.
    """
    if isinstance(target, Recorder):
        if redact is not None:
            raise TypeError("pass redact= to the Recorder, not with one")
        recorder = target
    else:
        recorder = Recorder(target, redact=redact)
    with _DEFAULTS_GUARD:
        _defaults.append(recorder)
    try:
        yield recorder
    finally:
        with _DEFAULTS_GUARD:
            for i in range(len(_defaults) - 1, -1, -1):
                if _defaults[i] is recorder:
                    del _defaults[i]
                    break
