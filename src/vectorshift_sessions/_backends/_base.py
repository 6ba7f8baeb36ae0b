"""What both backend twins share: their errors, and the close codes they report."""

from __future__ import annotations

import logging

__all__ = ["HandshakeRejected", "NoDebugLogger", "TransportClosed", "TransportError"]


class NoDebugLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A websockets logger without DEBUG: at that level websockets logs every handshake header,
    ``Authorization`` (the API key) included, and this package never logs a key."""

    def __init__(self, name: str):
        super().__init__(logging.getLogger(name), {})

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)


class TransportError(Exception):
    """The connection could not be opened (refused, unreachable, timed out, bad URL, TLS)."""


class HandshakeRejected(TransportError):
    """The server answered the WebSocket handshake with an HTTP error status."""

    def __init__(self, status_code: int, body: str):
        super().__init__(f"HTTP {status_code}: {body}" if body else f"HTTP {status_code}")
        self.status_code = status_code
        self.body = body


class TransportClosed(Exception):
    """The connection is closed: by us, by the peer (``code``, ``reason``), or by a failure."""

    def __init__(self, code: int | None = None, reason: str = ""):
        super().__init__(f"connection closed (code {code}){': ' + reason if reason else ''}")
        self.code = code
        self.reason = reason
