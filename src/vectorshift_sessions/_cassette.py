"""Recording sessions into cassettes: every frame, both ways, as JSON Lines.

A session made with ``record_to=`` (a path, a writable text file, or a `Recorder`)
appends its frames to a cassette, which ``vectorshift_sessions.testing.Cassette`` loads and
replays offline; ``record_to=False`` never records (not even inside `recording`). This
is the writing side only; the session imports it when it records (it uses the standard
library alone, so recording costs nothing when it is off).

The format, one JSON object per line, ASCII only (anything else is written as a ``\\u``
escape, as JSON allows: readers decode it), so a cassette is valid UTF-8 even when written into
a text file opened with another ASCII-compatible encoding (``latin-1``, ``cp1252``, ...):

- a header per recording (a session's ``connect()``, up to its disconnect)::

    {"cassette": 1, "rec": "<8 hex digits>", "package": "vectorshift-sessions",
     "version": "<package version>",
     "owner": {"object_type": ..., "object_id": ..., "name": ...} | null,
     "session_id": ... | null, "started": "<ISO 8601 UTC>"}

  (``owner`` names the agent or chatbot the session was made for; its ``name`` is there only
  when known: a session made from an ``Agent`` or ``Chatbot`` handle);

- then one line per frame, sent or received::

    {"rec": "<id>", "t": <seconds since the header>, "dir": "sent" | "received",
     "frame": <the frame>}

  (a received text that is not a JSON object is kept as ``"text": "<raw>"`` instead). A
  frame is written as it came, character for character, when nothing has to change in it (no
  ``redact`` hook, no API key in it, ASCII only, on one line, exactly one JSON object: it is
  decoded to be sure); otherwise it is decoded and encoded again. The same JSON value either
  way.

A sent frame's ``t`` is when its sending began, and a received frame's when it was written,
after its arrival: once a recording's lines are sorted by ``t`` (readers sort them, stably),
every answer comes after the frame it answers, and the sent frames are in the order they went
on the wire (a session sends one frame at a time while it records). Lines are written as
frames come and go, so a frame sent may be written after the engine's answer to it. Several
recordings may share a file, written from any number of threads: each line is written whole,
under one lock per file.

The API key is no part of any frame (the ``Authorization`` header is not recorded); should it
appear in one (a user pasting it into a message, an engine echoing it), it is replaced by
``"[redacted]"`` in every string value of the frame (decoded, at any depth), whatever
``redact`` returned; object member names are left as they are (they are the protocol's), and
in a text that is not JSON it is replaced wherever it is. Only a key of at least
`MIN_SECRET_LENGTH` characters is looked for: a shorter one (a test key such as
``"echo"``) would mangle ordinary words and the protocol's own (``"type"``), and a real key is
far longer. What is not found: a key split across two frames (two deltas of a stream), or
inside a file's base64 (``raw_bytes``). The key is also replaced in what a recording that
stops on an error logs and keeps (`Recorder.error`).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import IO, Any, Union, cast

__all__ = [
    "CASSETTE_VERSION",
    "MIN_SECRET_LENGTH",
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
#: The shortest API key looked for in frames: a shorter one is never replaced (it would mangle
#: ordinary words; a real key is much longer).
MIN_SECRET_LENGTH = 8
#: The directions a frame line names.
SENT = "sent"
RECEIVED = "received"

#: ``redact(frame, direction)``: the frame as it should be written (``direction`` is ``"sent"``
#: or ``"received"``). It may change the frame it is given, or return a new one.
Redactor = Callable[[dict[str, Any], str], dict[str, Any]]
#: What ``record_to=`` accepts (besides ``None``, and ``False`` for "never record").
RecordTarget = Union[str, "os.PathLike[str]", IO[str], "Recorder"]

# One lock per file, for the whole process: the lines of recordings that share a file (from
# any thread, through any number of Recorders) never interleave. Re-entrant: a recording left
# to the garbage collector closes its file under the lock, and the collector may run in a
# thread that holds it (while it writes another recording's line into the same file).
_LOCKS_GUARD = threading.Lock()
_PATH_LOCKS: dict[str, threading.RLock] = {}
_FILE_LOCKS: weakref.WeakKeyDictionary[Any, threading.RLock] = weakref.WeakKeyDictionary()
# Guards Recorder.error (set once, from any recording's thread).
_ERROR_GUARD = threading.Lock()

#: Compact JSON, ASCII only (``json.dumps`` with options builds a new encoder at every call).
_encode = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode
_decode = json.loads
#: The C scanner under ``json.loads``: tells whether a text is one JSON object at less than half
#: the cost (without ``loads``' Python wrapper). Strict: no raw control character in a string.
_scan: Callable[[str, int], tuple[Any, int]]
_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _path_lock(key: str) -> threading.RLock:
    with _LOCKS_GUARD:
        lock = _PATH_LOCKS.get(key)
        if lock is None:
            lock = _PATH_LOCKS[key] = threading.RLock()
        return lock


def _file_lock(stream: Any) -> threading.RLock:
    with _LOCKS_GUARD:
        try:
            lock = _FILE_LOCKS.get(stream)
            if lock is None:
                lock = _FILE_LOCKS[stream] = threading.RLock()
        except TypeError:  # not weakly referenceable: a lock of its own Recorder
            return threading.RLock()
        return lock


def _is_object(text: str) -> bool:
    """Whether ``text`` is exactly one JSON object, nothing before or after it."""
    if not text.startswith("{"):
        return False
    try:
        end: int = _scan(text, 0)[1]
    except (StopIteration, ValueError, RecursionError):
        return False
    return end == len(text)


def _now_iso() -> str:
    """Now, in ISO 8601 UTC to the millisecond: ``2026-01-31T12:00:00.000Z``."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


# --- the API key --------------------------------------------------------------------------------


def _usable_secret(secret: str | None) -> str | None:
    """The key as it is looked for: ``None`` when there is none, or it is too short to replace
    without mangling ordinary text (see ``MIN_SECRET_LENGTH``)."""
    return secret if secret and len(secret) >= MIN_SECRET_LENGTH else None


def _scrub_text(text: str, secret: str | None) -> str:
    """Plain text (a raw frame that is not JSON, an error's text) with the key replaced, as
    written and as JSON escapes it."""
    if secret is None:
        return text
    for spelling in {secret, _encode(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}:
        if spelling in text:
            text = text.replace(spelling, REDACTED)
    return text


def _scrub_value(value: Any, secret: str) -> Any:
    """A decoded frame with the key replaced in every string value, at any depth (object
    member names are left as they are)."""
    if isinstance(value, str):
        return value.replace(secret, REDACTED) if secret in value else value
    if isinstance(value, dict):
        items = cast("dict[str, Any]", value).items()
        return {name: _scrub_value(item, secret) for name, item in items}
    if isinstance(value, (list, tuple)):
        return [_scrub_value(item, secret) for item in cast("Sequence[Any]", value)]
    return value


def _without_secret(exc: BaseException, trace: str, secret: str | None) -> BaseException:
    """``exc``, or, when its text (or that of an exception it chains to) holds the key, a
    ``RuntimeError`` saying the same without it: a recorder's error may end up in a report."""
    if secret is None or _scrub_text(trace, secret) == trace:
        return exc
    try:
        text = str(exc)
    except Exception:
        text = "(its text could not be read)"
    return RuntimeError(f"{type(exc).__name__}: {_scrub_text(text, secret)}")


# --- recorders ----------------------------------------------------------------------------------


class Recorder:
    """Where sessions record their frames, and how: a cassette file and a redaction hook.

    ``target`` is a path (``str`` or ``os.PathLike``; the file is created if needed and
    appended to, opened when a session connects and closed when it disconnects) or a text
    file object opened for writing (written as given, never closed here; lines are ASCII, so
    any ASCII-compatible encoding will do). One recorder may serve any number of sessions, at
    once or one after another: each connection of a session is one recording, with its own
    header.

    ``redact(frame, direction)``, when given, is applied to every frame before it is written
    (``direction`` is ``"sent"`` or ``"received"``) and returns the frame to write: use it to
    take personal data out of recorded turns. Whatever it returns, the API key is never
    written. If it raises or returns something else than a dict (or the file cannot be
    written), that session's recording stops, the session itself goes on: the error is logged
    (``vectorshift_sessions.cassette``, at ERROR) and the first one is kept as
    `error`.

    Args:
        target: The cassette: a path, or a text file object opened for writing.
        redact: ``redact(frame, direction) -> frame``, applied to every frame before it is
            written.

    Attributes:
        redact: The redaction hook, or ``None``.

    Raises:
        TypeError: The target is of another type (or a binary file), or ``redact`` is not
            callable.
        FileNotFoundError: The path's directory does not exist.
        IsADirectoryError: The path is a directory.
        ValueError: The file object is closed or not writable.

    All of these are raised here, before any session sends anything.
    """

    __slots__ = ("_error", "_key", "_lock", "_path", "_stream", "redact")

    def __init__(self, target: str | os.PathLike[str] | IO[str], *, redact: Redactor | None = None):
        if redact is not None and not callable(redact):
            raise TypeError(
                f"redact must be a function (frame, direction) -> frame, got {redact!r:.100}"
            )
        self.redact = redact
        self._error: BaseException | None = None
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

    @property
    def error(self) -> BaseException | None:
        """The first error that stopped one of this recorder's recordings (``redact`` raising
        or returning something else than a dict, the file failing), or ``None``: a recording
        that stopped is incomplete, and a test that records should fail with it (the pytest
        plugin does). Should its text hold the API key, it is a ``RuntimeError`` saying the
        same without it. Read-only; it stays set for the recorder's life."""
        return self._error

    def _keep(self, error: BaseException) -> None:
        with _ERROR_GUARD:
            if self._error is None:
                self._error = error

    def __repr__(self) -> str:
        where = str(self._path) if self._path is not None else self._key
        return f"Recorder({where!r}, redact={self.redact!r})"

    def start(
        self,
        *,
        owner_type: str | None = None,
        owner_id: str | None = None,
        owner_name: str | None = None,
        session_id: str | None = None,
        secret: str | None = None,
    ) -> Recording:
        """Begin one recording: open the file (a path target) and write the header.

        ``owner_type`` / ``owner_id`` name the agent or chatbot (both, or the owner is
        written as ``null``), ``owner_name`` its name when known (left out otherwise),
        ``session_id`` the session when it is known (resuming), and ``secret`` (the API key)
        is never written. Sessions call this when they connect.

        Args:
            owner_type: ``"agent"`` or ``"chatbot"``.
            owner_id: The agent's or chatbot's id.
            owner_name: Its name, when known.
            session_id: The session's id, when known (resuming).
            secret: The API key, which is kept out of everything written.

        Returns:
            The recording, which the session writes its frames to and closes when it
            disconnects.

        Raises:
            OSError: The file cannot be opened or written.
        """
        owner: dict[str, str] | None = None
        if owner_type and owner_id:
            owner = {"object_type": owner_type, "object_id": owner_id}
            if owner_name:
                owner["name"] = owner_name
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
        usable = _usable_secret(secret)
        line = _encode(header if usable is None else _scrub_value(header, usable)) + "\n"
        if self._path is not None:
            stream: IO[str] = open(self._path, "a", encoding="utf-8", newline="\n")  # noqa: SIM115
            owned = True
        else:
            assert self._stream is not None
            stream, owned = self._stream, False
        try:
            recording = Recording(self, stream, owned, rec, secret)
            recording._sink.write(line)
        except BaseException:
            if owned:
                stream.close()
            raise
        return recording


def _version() -> str:
    from . import __version__

    return __version__


# --- recordings ---------------------------------------------------------------------------------


class _Sink:
    """Where a recording's lines go: its file, the file's lock (shared by every recording into
    that file) and whether the recording has ended. All that its finalizer needs, without the
    recording itself."""

    __slots__ = ("closed", "lock", "owned", "stream")

    def __init__(self, stream: IO[str], lock: threading.RLock, owned: bool):
        self.stream = stream
        self.lock = lock
        self.owned = owned
        self.closed = False

    def write(self, text: str) -> None:
        """Write whole lines; nothing once closed."""
        with self.lock:
            if not self.closed:
                self.stream.write(text)
                self.stream.flush()

    def close(self) -> bool:
        """End the recording (closing a path target's file) under the file's lock: never in
        the middle of a line, not even when the interpreter exits while a blocking session's
        reader thread still records (the finalizer runs this). Whether this call ended it."""
        with self.lock:
            if self.closed:
                return False
            self.closed = True
            if self.owned:
                with contextlib.suppress(Exception):
                    self.stream.close()
            return True


class Recording:
    """One session connection's recording: its header is written; ``sent`` / ``received``
    write frames; ``close`` ends it (closing the file of a path target), and frames recorded
    after that are dropped silently. Thread-safe. Made by `Recorder.start`."""

    __slots__ = (
        "__weakref__",
        "_finalizer",
        "_needle",
        "_plain",
        "_prefix",
        "_recorder",
        "_secret",
        "_sink",
        "_start",
        "rec",
    )

    def __init__(
        self, recorder: Recorder, stream: IO[str], owned: bool, rec: str, secret: str | None
    ):
        self._recorder = recorder
        self._sink = _Sink(stream, recorder._lock, owned)
        secret = self._secret = _usable_secret(secret)
        # The key as a line this module encodes spells it (ASCII-only JSON).
        self._needle = None if secret is None else _encode(secret)[1:-1]
        # Whether a raw JSON text can hold the key (in a string value) only as typed or with
        # \u escapes: true of a key of printable ASCII without '"', '\' or '/' (which JSON
        # may also spell \", \\, \/).
        self._plain = secret is None or (
            secret.isascii() and secret.isprintable() and not any(c in secret for c in '"\\/')
        )
        self._start = time.monotonic()
        self.rec = rec
        """This recording's id (the ``rec`` of its lines)."""
        self._prefix = '{"rec":' + _encode(rec) + ',"t":'
        # A path target's file is closed with the recording, even one never closed (the
        # finalizer also runs at interpreter exit).
        self._finalizer = weakref.finalize(self, self._sink.close) if owned else None

    @property
    def closed(self) -> bool:
        """Whether the recording has ended (closed, or stopped by an error)."""
        return self._sink.closed

    def clock(self) -> float:
        """Seconds since the recording began (what a line's ``t`` says)."""
        return time.monotonic() - self._start

    def _body(self, text: str, direction: str) -> str:
        """The end of one line, after its time: direction and frame (redacted, key scrubbed)."""
        secret = self._secret
        redact = self._recorder.redact
        if (
            redact is None
            and text.isascii()
            and "\n" not in text
            and "\r" not in text
            and (secret is None or (self._plain and secret not in text and "\\u" not in text))
            and _is_object(text)  # decoded to be sure: a malformed one would spoil the line
        ):
            # Nothing to change: written as it came (no parsing into a dict, no encoding).
            return ',"dir":"' + direction + '","frame":' + text + "}\n"
        frame: Any
        try:
            frame = _decode(text)
        except (ValueError, RecursionError):
            frame = None
        if type(frame) is not dict:
            return ',"dir":"' + direction + '","text":' + _encode(_scrub_text(text, secret)) + "}\n"
        frame = cast("dict[str, Any]", frame)
        if redact is not None:
            frame = redact(frame, direction)
            if not isinstance(frame, dict):
                raise TypeError(
                    f"redact() must return the frame (a dict), got {type(frame).__name__}"
                )
        encoded = _encode(frame)
        needle = self._needle
        if secret is not None and needle is not None and needle in encoded:
            encoded = _encode(_scrub_value(frame, secret))
        return ',"dir":"' + direction + '","frame":' + encoded + "}\n"

    def _write(self, bodies: Sequence[str], t: float | None = None) -> None:
        sink = self._sink
        with sink.lock:
            if sink.closed:
                return
            if t is None:
                t = time.monotonic() - self._start
            head = self._prefix + repr(round(t, 6))
            sink.stream.write(head + head.join(bodies))
            sink.stream.flush()

    def _failed(self, exc: Exception) -> None:
        """Stop on an error: close, keep it on the recorder (the first one) and log it (without
        the key). An error of a recording that had ended already (closed meanwhile, or stopped
        by another thread's error) is dropped."""
        if not self._sink.close():
            return
        secret = self._secret
        try:
            trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        except Exception:
            trace = f"{type(exc).__name__} (its text could not be read)\n"
        self._recorder._keep(_without_secret(exc, trace, secret))
        logger.error(
            "stopped recording %s into %s: %s",
            self.rec,
            self._recorder,
            _scrub_text(trace, secret).rstrip(),
        )

    def sent(self, text: str, t: float | None = None) -> None:
        """Record one frame the session sent (its JSON text); ``t`` is when its sending
        began (`clock`; default now), so that it comes before its answer once the
        lines are ordered by time. Never raises."""
        if self._sink.closed:
            return
        try:
            self._write([self._body(text, SENT)], t)
        except Exception as exc:
            self._failed(exc)

    def received(self, texts: Sequence[str]) -> None:
        """Record frames the session received, in order (one batch, one time). Never raises."""
        if self._sink.closed or not texts:
            return
        try:
            body = self._body
            self._write([body(text, RECEIVED) for text in texts])
        except Exception as exc:
            self._failed(exc)

    def close(self) -> None:
        """End the recording (a path target's file is closed). Idempotent."""
        if self._finalizer is not None:
            self._finalizer()  # the sink's close, once
        else:
            self._sink.close()

    def __repr__(self) -> str:
        state = "closed" if self._sink.closed else "open"
        return f"<Recording {self.rec} into {self._recorder!r} ({state})>"


def as_recorder(target: RecordTarget) -> Recorder:
    """``record_to``'s value as a `Recorder` (a recorder is returned as is). Raises
    what `Recorder` raises for a bad target."""
    if isinstance(target, Recorder):
        return target
    if isinstance(target, bool):  # record_to=True is not a file descriptor
        raise TypeError(
            "record_to must be a path, a text file opened for writing or a Recorder "
            "(or False: never record), got True"
        )
    return Recorder(target)


# --- the process-wide default: sessions made without record_to record here -----------------

_DEFAULTS_GUARD = threading.Lock()
_defaults: list[Recorder] = []


def default_recorder() -> Recorder | None:
    """The recorder of the innermost active `recording`, if any (any thread)."""
    with _DEFAULTS_GUARD:
        return _defaults[-1] if _defaults else None


@contextlib.contextmanager
def recording(
    target: RecordTarget, *, redact: Redactor | None = None
) -> Generator[Recorder, None, None]:
    """While active, every session created without ``record_to``, in any thread, records
    into ``target`` (a path, a text file or a `Recorder`; ``redact`` as there). A
    session created with ``record_to=False`` does not record.

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
