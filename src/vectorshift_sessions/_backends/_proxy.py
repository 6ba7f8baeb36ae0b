"""Proxies, without I/O: which proxy the environment names for a URL, what a proxy URL says
(never showing its password), the ``CONNECT`` request, and the proxy's answer to it. A backend
twin opens the tunnel with these."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from websockets.uri import WebSocketURI

from .._config import is_loopback
from ._base import TransportError

__all__ = [
    "MAX_PROXY_ANSWER",
    "SOCKS_SCHEMES",
    "Proxy",
    "ProxyAnswer",
    "connect_request",
    "parse_connect_answer",
    "parse_proxy",
    "proxy_for",
]

#: The most bytes of a proxy's answer to ``CONNECT`` (status line and headers) we read.
MAX_PROXY_ANSWER = 16 * 1024
SOCKS_SCHEMES = ("socks4", "socks4a", "socks5", "socks5h")
_END_OF_HEADERS = re.compile(rb"\r?\n\r?\n")
_STATUS_LINE = re.compile(r"HTTP/1\.[01] ([0-9]{3})(?: (.*))?")


@dataclass(frozen=True)
class Proxy:
    """A proxy: where it is, how it shows in messages (never with its password), and the
    ``Proxy-Authorization`` its credentials make (never in its repr)."""

    scheme: str
    host: str
    port: int
    shown: str
    authorization: str | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return self.shown


def parse_proxy(url: str) -> Proxy:
    """A proxy URL (``http://user:password@host:port``; no scheme means ``http://``); the user
    and password are percent-decoded. ``ValueError`` if it has no host or a bad port."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    scheme = parts.scheme.lower()
    host = parts.hostname
    if not host:
        raise ValueError("the proxy URL has no host")
    port = parts.port or {"http": 80, "https": 443}.get(scheme, 1080)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    user, password = parts.username, parts.password
    if user is None:
        return Proxy(scheme, host, port, f"{scheme}://{address}")
    hidden = f"{user}:***@" if password is not None else f"{user}@"
    credentials = f"{unquote(user)}:{unquote(password or '')}".encode()
    authorization = "Basic " + base64.b64encode(credentials).decode("ascii")
    return Proxy(scheme, host, port, f"{scheme}://{hidden}{address}", authorization)


def proxy_for(uri: WebSocketURI) -> Proxy | None:
    """The proxy the environment names for this URI, as urllib finds it (``https`` for
    ``wss://``, ``http`` for ``ws://``, else ``all``; ``no_proxy`` bypasses it); never for this
    machine. ``TransportError`` for a proxy URL that is not valid."""
    if is_loopback(uri.host):
        return None
    import urllib.request  # here, not at import: it costs ~30 ms, for a lookup once a connect

    proxies = urllib.request.getproxies()
    url = proxies.get("https" if uri.secure else "http") or proxies.get("all")
    if not url or urllib.request.proxy_bypass(f"{uri.host}:{uri.port}"):
        return None
    try:
        proxy = parse_proxy(url)
    except ValueError as exc:
        raise TransportError(f"the proxy URL in the environment is not valid: {exc}") from None
    return proxy


def connect_request(host: str, port: int, authorization: str | None = None) -> bytes:
    """The request asking a proxy for a tunnel to ``host:port``."""
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    if authorization is not None:
        lines.append(f"Proxy-Authorization: {authorization}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass(frozen=True)
class ProxyAnswer:
    """A proxy's answer to ``CONNECT``: its status, reason, headers, and its length in bytes
    (what follows is the tunnel's)."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    size: int


def parse_connect_answer(data: bytes | bytearray) -> ProxyAnswer | None:
    """The proxy's answer, once ``data`` holds all of its status line and headers; ``None``
    before. ``ValueError`` for a malformed one, or one past ``MAX_PROXY_ANSWER`` bytes."""
    end = _END_OF_HEADERS.search(data, 0, MAX_PROXY_ANSWER)
    if end is None:
        if len(data) >= MAX_PROXY_ANSWER:
            raise ValueError(f"an answer over {MAX_PROXY_ANSWER} bytes")
        return None
    status_line, *lines = data[: end.start()].decode("latin-1").splitlines()
    match = _STATUS_LINE.fullmatch(status_line)
    if match is None:
        raise ValueError(f"not an HTTP status line: {status_line[:80]!r}")
    headers = []
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise ValueError(f"not an HTTP header: {line[:80]!r}")
        headers.append((name, value.strip()))
    return ProxyAnswer(int(match[1]), (match[2] or "").strip(), headers, end.end())
