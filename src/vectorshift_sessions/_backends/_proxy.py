"""Proxies, without I/O: which proxy a connection goes through (the ``proxy=`` argument, else the
environment's), what a proxy URL says (never showing its password), and the tunnels through
one, as byte exchanges: HTTP ``CONNECT``, SOCKS5 and SOCKS4(a). Both backend twins and the REST
client use these; the twins only move the bytes.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Literal, Protocol, Union
from urllib.parse import unquote, urlsplit

from websockets.exceptions import InvalidURI
from websockets.uri import WebSocketURI, parse_uri

from .._config import is_loopback
from ._base import ProxyRefused, TransportError

__all__ = [
    "MAX_PROXY_ANSWER",
    "PROXY_SCHEMES",
    "SOCKS_SCHEMES",
    "Proxy",
    "ProxyAnswer",
    "ProxySetting",
    "Tunnel",
    "check_proxy_setting",
    "choose_proxy",
    "connect_request",
    "open_tunnel",
    "parse_connect_answer",
    "parse_proxy",
    "proxy_for",
    "route",
]

#: What ``proxy=`` takes: a proxy URL, ``True`` (the environment's: the default) or ``None``.
ProxySetting = Union[str, Literal[True], None]
#: The most bytes of a proxy's answer to ``CONNECT`` (status line and headers) we read.
MAX_PROXY_ANSWER = 16 * 1024
SOCKS_SCHEMES = ("socks4", "socks4a", "socks5", "socks5h")
PROXY_SCHEMES = ("http", "https", *SOCKS_SCHEMES)
_END_OF_HEADERS = re.compile(rb"\r?\n\r?\n")
_STATUS_LINE = re.compile(r"HTTP/1\.[01] ([0-9]{3})(?: (.*))?")


@dataclass(frozen=True)
class Proxy:
    """A proxy: where it is, how it shows in messages (never with its password), and its
    credentials (never in its repr)."""

    scheme: str
    host: str
    port: int
    shown: str
    credentials: tuple[str, str] | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return self.shown

    @property
    def authorization(self) -> str | None:
        """The ``Proxy-Authorization`` of an HTTP proxy with credentials."""
        if self.credentials is None:
            return None
        token = base64.b64encode(":".join(self.credentials).encode()).decode("ascii")
        return f"Basic {token}"

    @property
    def address(self) -> str:
        """``scheme://host:port``, without credentials (what an HTTP client is given)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_proxy(url: str) -> Proxy:
    """A proxy URL (``http://user:password@host:port``; no scheme means ``http://``); the user
    and password are percent-decoded. ``ValueError`` naming what is wrong (never the
    password): no host, a bad port, a scheme that is not a proxy's.

    How it shows hides the password (``user:***@``), and a user without a password (often a
    token) entirely (``***@``)."""
    try:
        parts = urlsplit(url if "://" in url else "http://" + url)
        port = parts.port
    except ValueError:  # its message would quote the URL, password and all
        raise ValueError("the proxy URL is malformed (or its port is not a number)") from None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in PROXY_SCHEMES:
        raise ValueError(
            f"{scheme}:// is not a proxy scheme; use one of "
            + ", ".join(f"{s}://" for s in PROXY_SCHEMES)
        )
    if not host:
        raise ValueError("the proxy URL has no host")
    port = port or {"http": 80, "https": 443}.get(scheme, 1080)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    user, password = parts.username, parts.password
    if user is None:
        return Proxy(scheme, host, port, f"{scheme}://{address}")
    hidden = f"{user}:***@" if password is not None else "***@"
    credentials = (unquote(user), unquote(password or ""))
    return Proxy(scheme, host, port, f"{scheme}://{hidden}{address}", credentials)


def check_proxy_setting(proxy: object) -> None:
    """Refuse a ``proxy=`` argument that is not a usable proxy URL, ``True`` or ``None``."""
    if proxy is True or proxy is None:
        return
    if not isinstance(proxy, str):
        raise TypeError(
            "proxy must be a proxy URL such as 'http://user:password@proxy.corp:3128', True "
            "(the environment's HTTPS_PROXY / HTTP_PROXY / ALL_PROXY, the default) or None "
            f"(no proxy), got {type(proxy).__name__}"
        )
    try:
        parse_proxy(proxy)
    except ValueError as exc:
        raise ValueError(f"proxy is not a usable proxy URL: {exc}") from None


def choose_proxy(setting: ProxySetting, host: str, port: int, secure: bool) -> Proxy | None:
    """The proxy a connection to ``host:port`` goes through: the ``proxy=`` URL (for every
    host), none for ``None``, else (``True``) the environment's (see ``proxy_for``)."""
    if setting is None:
        return None
    if isinstance(setting, str):
        return parse_proxy(setting)  # checked when the session or client was made
    return proxy_for(host, port, secure)


def route(
    url: str, setting: ProxySetting, tls_in_tls: str | None = None
) -> tuple[WebSocketURI, Proxy | None, str]:
    """Where a backend twin connects for ``url``: the parsed URI, the proxy (see
    ``choose_proxy``), and how its messages say so (``" through the proxy ..."``, never with
    the password, or ``" (no proxy)"``). ``tls_in_tls``, when set, is why this twin cannot
    start TLS to a ``wss://`` server inside TLS to an ``https://`` proxy. ``TransportError``
    for a URL or an environment's proxy that is not valid, or that combination."""
    try:
        uri = parse_uri(url)
        uri.host.encode("idna")  # a name DNS or a proxy could never take (a label too long)
    except (InvalidURI, UnicodeError) as exc:
        raise TransportError(f"cannot open {url}: {exc}") from None
    proxy = choose_proxy(setting, uri.host, uri.port, uri.secure)
    if proxy is not None and proxy.scheme == "https" and uri.secure and tls_in_tls:
        raise ProxyRefused(
            f"a wss:// URL through the https:// proxy {proxy} {tls_in_tls}; use an http:// "
            "proxy (the WebSocket's own TLS runs through its tunnel)",
            proxy=str(proxy),
        )
    return uri, proxy, (f" through the proxy {proxy}" if proxy is not None else " (no proxy)")


def proxy_for(host: str, port: int, secure: bool) -> Proxy | None:
    """The proxy the environment names for ``host:port``, as urllib finds it (``https`` for
    secure connections, ``http`` for the others, else ``all``; ``no_proxy`` bypasses it);
    never for this machine. ``ProxyRefused`` for a proxy URL that is not valid."""
    if is_loopback(host):
        return None
    import urllib.request  # here, not at import: it costs ~30 ms, for a lookup once a connect

    proxies = urllib.request.getproxies()
    kind = "https" if secure else "http"
    if kind not in proxies:
        kind = "all"
    url = proxies.get(kind)
    if not url or urllib.request.proxy_bypass(f"{host}:{port}"):
        return None
    try:
        return parse_proxy(url)
    except ValueError as exc:
        where = f"the {kind.upper()}_PROXY of the environment"
        raise ProxyRefused(f"{where} is not a valid proxy URL: {exc}", proxy=where) from None


# --- tunnels: the bytes that open one -----------------------------------------------------------


class Tunnel(Protocol):
    """The exchange that asks a proxy for a connection to the server: send what
    ``data_to_send`` returns, feed what the proxy answers to ``receive_data`` until it says
    the tunnel is open (``ProxyRefused`` / ``TransportError`` when it will not be)."""

    def data_to_send(self) -> bytes: ...

    def receive_data(self, data: bytes) -> bool: ...


def open_tunnel(proxy: Proxy, host: str, port: int) -> Tunnel:
    """The tunnel exchange for this proxy's scheme, to ``host:port``."""
    if proxy.scheme in ("http", "https"):
        return _ConnectTunnel(proxy, host, port)
    if proxy.scheme in ("socks5", "socks5h"):
        return _Socks5Tunnel(proxy, host, port)
    return _Socks4Tunnel(proxy, host, port)


class _Exchange:
    """What every tunnel does with bytes: queue what to send, gather what came."""

    def __init__(self, proxy: Proxy, host: str, port: int):
        self.proxy = proxy
        self.target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._out = b""
        self._read = bytearray()

    def data_to_send(self) -> bytes:
        out, self._out = self._out, b""
        return out

    def refused(self, reason: str, status: int | None = None) -> ProxyRefused:
        return ProxyRefused(
            f"the proxy {self.proxy} refused a tunnel to {self.target}: {reason}",
            proxy=str(self.proxy),
            status=status,
        )

    def garbled(self, what: str) -> ProxyRefused:
        return ProxyRefused(f"the proxy {self.proxy} answered {what}", proxy=str(self.proxy))

    def _all_of(self, size: int) -> bool:
        """Whether the answer is complete at ``size`` bytes (more is the proxy's mistake: the
        server never speaks first)."""
        if len(self._read) > size:
            raise self.garbled("more than its answer")
        return len(self._read) == size


class _ConnectTunnel(_Exchange):
    def __init__(self, proxy: Proxy, host: str, port: int):
        super().__init__(proxy, host, port)
        self._out = connect_request(host, port, proxy.authorization)

    def receive_data(self, data: bytes) -> bool:
        self._read += data
        try:
            answer = parse_connect_answer(self._read)
        except ValueError as exc:
            raise self.garbled(f"CONNECT with {exc}") from None
        if answer is None:
            return False
        if not 200 <= answer.status < 300:
            reason = f"HTTP {answer.status} {answer.reason[:100]}".rstrip()
            if answer.status == 407:
                given = "were refused" if self.proxy.credentials else "are needed"
                reason += f" (credentials {given}: put them in the proxy URL, user:password@)"
            raise self.refused(reason, answer.status)
        return self._all_of(answer.size)


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
    headers: list[tuple[str, str]] = []
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise ValueError(f"not an HTTP header: {line[:80]!r}")
        headers.append((name, value.strip()))
    return ProxyAnswer(int(match[1]), (match[2] or "").strip(), headers, end.end())


# SOCKS5 (RFC 1928, with RFC 1929's user and password). Host names go to the proxy to resolve,
# for socks5:// as for socks5h://, as httpx does for the REST calls.
_NO_AUTH, _USER_PASSWORD, _NO_METHOD = 0x00, 0x02, 0xFF
_SOCKS5_REPLIES = {
    1: "general failure",
    2: "not allowed by its rules",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}


class _Socks5Tunnel(_Exchange):
    def __init__(self, proxy: Proxy, host: str, port: int):
        super().__init__(proxy, host, port)
        self._request = _socks5_connect(proxy, host, port)
        methods = bytes([_NO_AUTH, _USER_PASSWORD] if proxy.credentials else [_NO_AUTH])
        self._out = bytes([5, len(methods)]) + methods
        self._step = "method"

    def receive_data(self, data: bytes) -> bool:
        self._read += data
        while True:
            read = self._read
            if self._step == "method":
                if len(read) < 2:
                    return False
                if read[0] != 5:
                    raise self.garbled("with something that is not SOCKS5")
                method = read[1]
                del read[:2]
                if method == _USER_PASSWORD and self.proxy.credentials:
                    user, password = (s.encode() for s in self.proxy.credentials)
                    if len(user) > 255 or len(password) > 255:
                        raise self.refused("SOCKS5 credentials are at most 255 bytes each")
                    self._out += bytes([1, len(user)]) + user + bytes([len(password)]) + password
                    self._step = "auth"
                elif method == _NO_AUTH:
                    self._send_request()
                else:
                    need = "" if self.proxy.credentials else " (credentials may be needed)"
                    raise self.refused(f"it accepts none of our SOCKS5 methods{need}")
            elif self._step == "auth":
                if len(read) < 2:
                    return False
                if read[1] != 0:
                    raise self.refused("it refused the credentials")
                del read[:2]
                self._send_request()
            else:  # the reply: 5, code, 0, address type, address, port
                if len(read) < 5:
                    return False
                if read[0] != 5:
                    raise self.garbled("with something that is not SOCKS5")
                if read[1] != 0:
                    raise self.refused(_SOCKS5_REPLIES.get(read[1], f"SOCKS5 error {read[1]}"))
                size = {1: 4, 4: 16, 3: 1 + read[4]}.get(read[3])
                if size is None:
                    raise self.garbled(f"with an unknown address type {read[3]}")
                return self._all_of(4 + size + 2)

    def _send_request(self) -> None:
        self._out += self._request
        self._step = "reply"


def _socks5_connect(proxy: Proxy, host: str, port: int) -> bytes:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        name = host.encode("idna")
        if len(name) > 255:
            raise ProxyRefused(
                f"the host name {host[:60]}... is too long for the SOCKS5 proxy {proxy}",
                proxy=str(proxy),
            ) from None
        target = bytes([3, len(name)]) + name
    else:
        target = bytes([1 if address.version == 4 else 4]) + address.packed
    return bytes([5, 1, 0]) + target + port.to_bytes(2, "big")


class _Socks4Tunnel(_Exchange):
    """SOCKS4 for an IPv4 address; SOCKS4a (socks4a://) sends a name for the proxy to
    resolve."""

    def __init__(self, proxy: Proxy, host: str, port: int):
        super().__init__(proxy, host, port)
        user = proxy.credentials[0].encode() if proxy.credentials else b""
        head = bytes([4, 1]) + port.to_bytes(2, "big")
        try:
            address = ipaddress.IPv4Address(host)
        except ValueError:
            if proxy.scheme != "socks4a":
                raise ProxyRefused(
                    f"the proxy {proxy} cannot reach {host} by name (SOCKS4 takes IPv4 "
                    "addresses): use a socks4a:// or socks5h:// proxy URL",
                    proxy=str(proxy),
                ) from None
            self._out = head + bytes([0, 0, 0, 1]) + user + b"\0" + host.encode("idna") + b"\0"
        else:
            self._out = head + address.packed + user + b"\0"

    def receive_data(self, data: bytes) -> bool:
        self._read += data
        if len(self._read) < 8:
            return False
        if self._read[0] != 0:
            raise self.garbled("with something that is not SOCKS4")
        if self._read[1] != 0x5A:
            raise self.refused(f"SOCKS4 code {self._read[1]:#x}")
        return self._all_of(8)
