"""What both backend twins share: their errors, the close codes they report, and the rare
frames (control frames, binary or fragmented messages) that their fast path hands over."""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Sequence
from typing import TYPE_CHECKING

from websockets.frames import Close, Frame, Opcode
from websockets.protocol import Protocol

__all__ = [
    "CHUNK",
    "MAX_BATCH",
    "TEXT",
    "HandshakeRejected",
    "NoDebugLogger",
    "ProxyRefused",
    "TransportClosed",
    "TransportError",
    "close_frames",
    "closed_by",
    "sort_frames",
]

# The opcodes, by their enum's public names (websockets renamed its module-level aliases).
TEXT, BINARY, CONT, PING = Opcode.TEXT, Opcode.BINARY, Opcode.CONT, Opcode.PING
#: Bytes asked of the socket at a time (the event loop reads up to 256 KiB on its own).
CHUNK = 64 * 1024
#: The most texts one ``recv_batch`` returns. A chunk holds hundreds of small frames (one read
#: of the event loop, ~2,000 deltas), and the reader publishes a whole batch to the listeners
#: before it lets them run (it yields between batches): were a batch a whole chunk, a listener
#: with the default bound (1,024 events) would overflow during a burst it could keep up with.
MAX_BATCH = 256


if TYPE_CHECKING:
    _LoggerAdapter = logging.LoggerAdapter[logging.Logger]
else:  # not subscriptable at run time before Python 3.11
    _LoggerAdapter = logging.LoggerAdapter


class NoDebugLogger(_LoggerAdapter):
    """A websockets logger without DEBUG: at that level websockets logs every handshake header,
    ``Authorization`` (the API key) included, and this package never logs a key."""

    def __init__(self, name: str):
        super().__init__(logging.getLogger(name), {})

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)


class TransportError(Exception):
    """The connection could not be opened (refused, unreachable, timed out, bad URL, TLS).

    ``kind`` says what failed, for the hint the session gives: ``"tls"``, ``"timeout"``,
    ``"unreachable"`` (refused, reset, no route, unknown host), or ``None``.
    """

    def __init__(self, message: str, *, kind: str | None = None):
        super().__init__(message)
        self.kind = kind

    @classmethod
    def from_os_error(cls, message: str, exc: BaseException) -> TransportError:
        """``message: exc``, its kind told by the exception's type."""
        return cls(f"{message}: {exc or type(exc).__name__}", kind=failure_kind(exc))


def failure_kind(exc: BaseException) -> str | None:
    """What an exception raised while connecting says failed (see ``TransportError.kind``)."""
    if isinstance(exc, (ssl.SSLError, ssl.CertificateError)):
        return "tls"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timeout"
    if isinstance(exc, OSError):
        return "unreachable"
    return None


class ProxyRefused(TransportError):
    """The proxy could not be reached, or would not open a tunnel: ``proxy`` is how it shows
    (never with its password), ``status`` its HTTP status when it answered with one."""

    def __init__(self, message: str, *, proxy: str, status: int | None = None):
        super().__init__(message, kind="proxy")
        self.proxy = proxy
        self.status = status


class HandshakeRejected(TransportError):
    """The server answered the WebSocket handshake with an HTTP error status, or a redirect
    (to ``location``: never followed)."""

    def __init__(self, status_code: int, body: str, location: str | None = None):
        super().__init__(f"HTTP {status_code}: {body}" if body else f"HTTP {status_code}")
        self.status_code = status_code
        self.body = body
        self.location = location


class TransportClosed(Exception):
    """The connection is closed: by us, by the peer (``code``, ``reason``), or by a failure."""

    def __init__(self, code: int | None = None, reason: str = ""):
        super().__init__(f"connection closed (code {code}){': ' + reason if reason else ''}")
        self.code = code
        self.reason = reason


def close_frames(protocol: Protocol) -> tuple[Close | None, Close | None, BaseException | None]:
    """The close frames received and sent by a protocol that left the OPEN state, and the
    parser's failure, if any: from its public ``close_exc``, once it is told that no more data
    comes (we read no further; ``receive_eof`` is idempotent)."""
    protocol.receive_eof()
    exc = protocol.close_exc
    return exc.rcvd, exc.sent, exc.__cause__


def closed_by(protocol: Protocol) -> TransportClosed:
    """Why a connection whose protocol left the OPEN state is closed: the peer's close frame
    (its code and reason), else ours (1009 for a frame over ``max_size``, 1000 for ``close()``),
    else no code (the stream ended or broke without a close frame)."""
    received, sent, failure = close_frames(protocol)
    close = received or sent
    if close is not None:
        return TransportClosed(close.code, close.reason)
    return TransportClosed(None, str(failure) if failure is not None else "connection lost")


def sort_frames(
    frames: Sequence[Frame], partial: bytearray | None
) -> tuple[list[str], list[bytes], bytearray | None]:
    """The slow path, for a batch that is not all whole text frames: the messages it completes
    (binary ones decoded like text, fragmented ones joined first), the payloads of the pings in
    it, and the start of a message still missing fragments (``partial``, before and after).
    Pongs are ignored; a close frame shows in the protocol's state (see ``closed_by``)."""
    texts: list[str] = []
    pings: list[bytes] = []
    for frame in frames:
        opcode = frame.opcode
        if opcode is TEXT or opcode is BINARY:
            if frame.fin:
                texts.append(bytes(frame.data).decode("utf-8", "replace"))
            else:
                partial = bytearray(frame.data)
        elif opcode is CONT:
            if partial is None:  # the protocol refuses this before it gets here
                continue
            partial += frame.data
            if frame.fin:
                texts.append(partial.decode("utf-8", "replace"))
                partial = None
        elif opcode is PING:
            pings.append(bytes(frame.data))
    return texts, pings, partial
