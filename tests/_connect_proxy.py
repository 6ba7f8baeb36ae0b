"""Small proxies on 127.0.0.1, in threads, for the proxy tests: ``ConnectProxy`` (HTTP: CONNECT
tunnels, and plain ``http://`` requests forwarded) and ``SocksProxy`` (SOCKS5, SOCKS4 and 4a).

Each records every request it is sent, can demand credentials or refuse every tunnel, tunnels
bytes both ways until either side closes, and can ``cut()`` every tunnel at once (as a network
failure would). Targets are reached through ``hosts``, a map of made-up names to addresses: a
client never resolves the target of a tunnel itself, so a name like ``engine.test`` can lead to
the local engine while the client sees a host that is not this machine (and so is proxied).
"""

from __future__ import annotations

import base64
import ipaddress
import select
import socket
import ssl
import threading
from dataclasses import dataclass

_MAX_REQUEST = 16 * 1024

#: A target only these proxies know (it resolves nowhere else): ``hosts=HOSTS`` leads it here.
TARGET = "engine.test"
HOSTS = {TARGET: "127.0.0.1"}
#: Proxy credentials with characters a URL must percent-encode, and how they show when hidden.
USER, PASSWORD = "alice", "p@ss:w0rd/é"
USERINFO = "alice:p%40ss%3Aw0rd%2F%C3%A9"
HIDDEN = "alice:***@"


def assert_password_hidden(text: str) -> None:
    """``text`` holds the proxy password in no form (plain, percent-encoded, in Basic)."""
    for secret in (PASSWORD, USERINFO, "p%40ss", base64.b64encode(PASSWORD.encode()).decode()):
        assert secret not in text


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass(frozen=True)
class ConnectRequest:
    """What the HTTP proxy was sent: the request line and the headers (names in lower case)."""

    line: str
    headers: dict[str, str]


@dataclass(frozen=True)
class SocksRequest:
    """What the SOCKS proxy was asked: the version (4 or 5), the target, and the user and
    password it was given (SOCKS4: the user id only)."""

    version: int
    host: str
    port: int
    user: str | None = None
    password: str | None = None


class _TunnelServer:
    """The plumbing: accept in a thread, serve each client in a thread, shut everything at
    ``close()`` or ``cut()``."""

    def __init__(self, hosts: dict[str, str] | None, tls: ssl.SSLContext | None = None):
        self.hosts = dict(hosts or {})
        self._tls = tls
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()  # shut at close, to wake their threads
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._spawn(self._accept_loop)

    def close(self) -> None:
        """Stop: wake every thread (shutting its socket), wait for them, close every socket."""
        with self._lock:
            self._closed = True
            sockets = [self._listener, *self._sockets]
            threads = list(self._threads)
        for sock in sockets:
            _wake(sock)
        for thread in threads:
            thread.join(timeout=10)
        for sock in sockets:
            sock.close()

    def cut(self) -> int:
        """Drop every connection through the proxy at once; how many sockets were shut."""
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _wake(sock)
        return len(sockets)

    def __enter__(self) -> _TunnelServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _serve(self, client: socket.socket) -> socket.socket | None:
        """Talk the proxy's protocol with ``client``; the upstream socket to pump, if any."""
        raise NotImplementedError

    def _reach(self, host: str, port: int) -> socket.socket | None:
        address = self.hosts.get(host.strip("[]"))
        if address is None:
            return None
        try:
            upstream = socket.create_connection((address, port), timeout=5)
        except OSError:
            return None
        upstream.settimeout(None)
        if not self._track(upstream):
            upstream.close()
            return None
        return upstream

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket, instead_of: socket.socket | None = None) -> bool:
        """Shut ``sock`` at close (instead of the socket it wraps); False if closing already."""
        with self._lock:
            if instead_of is not None:
                self._sockets.discard(instead_of)
            if not self._closed:
                self._sockets.add(sock)
                return True
        return False

    def _forget(self, *socks: socket.socket | None) -> None:
        with self._lock:
            for sock in socks:
                self._sockets.discard(sock)  # type: ignore[arg-type]

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._track(client):
                client.close()
                return
            self._spawn(self._handle, client)

    def _handle(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            if self._tls is not None:
                plain = client
                client = self._tls.wrap_socket(
                    plain, server_side=True, do_handshake_on_connect=False
                )
                if not self._track(client, instead_of=plain):
                    return
                client.do_handshake()
            upstream = self._serve(client)
            if upstream is not None:
                _pump(client, upstream)
        except OSError:
            pass  # the client went away (or refused our certificate)
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    _wake(sock)
                    sock.close()
            self._forget(client, upstream)


class ConnectProxy(_TunnelServer):
    """``with ConnectProxy(hosts={"engine.test": "127.0.0.1"}) as proxy: ... proxy.url()``.

    It opens ``CONNECT`` tunnels, and forwards plain ``http://`` requests (absolute-form, as a
    client sends them to a proxy) in origin-form, without their ``Proxy-Authorization``.
    """

    def __init__(
        self,
        hosts: dict[str, str] | None = None,
        *,
        credentials: tuple[str, str] | None = None,
        refuse: bool = False,
        tls: ssl.SSLContext | None = None,
    ):
        self.requests: list[ConnectRequest] = []
        self._expected = (
            "Basic " + base64.b64encode(":".join(credentials).encode()).decode()
            if credentials is not None
            else None
        )
        self._refuse = refuse
        super().__init__(hosts, tls)

    def url(self, userinfo: str = "") -> str:
        """The proxy's URL, with ``userinfo`` (``user:password``) if given."""
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{userinfo + '@' if userinfo else ''}127.0.0.1:{self.port}"

    def _serve(self, client: socket.socket) -> socket.socket | None:
        read = _read_request(client)
        if read is None:
            return None
        request, head, rest = read
        with self._lock:
            self.requests.append(request)
        method, _, target = request.line.partition(" ")
        target = target.rpartition(" ")[0]
        refusal = self._refusal(request)
        if refusal:
            _refuse(client, refusal)
            return None
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = self._reach(host, int(port)) if port.isdigit() else None
            if upstream is None:
                _refuse(client, "502 Bad Gateway")
                return None
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            return upstream
        return self._forward(client, method, target, head, rest)

    def _refusal(self, request: ConnectRequest) -> str:
        if self._refuse:
            return "403 Forbidden"
        if self._expected is not None and (
            request.headers.get("proxy-authorization") != self._expected
        ):
            return "407 Proxy Authentication Required"
        return ""

    def _forward(
        self, client: socket.socket, method: str, target: str, head: str, rest: bytes
    ) -> socket.socket | None:
        scheme, _, after = target.partition("://")
        authority, slash, path = after.partition("/")
        host, _, port = authority.rpartition(":") if ":" in authority else (authority, "", "80")
        upstream = self._reach(host, int(port)) if scheme == "http" and port.isdigit() else None
        if upstream is None:
            _refuse(client, "502 Bad Gateway")
            return None
        version = head.split("\r\n", 1)[0].rpartition(" ")[2]
        lines = [f"{method} {slash}{path or ''} {version}"]
        lines += [
            line
            for line in head.split("\r\n")[1:]
            if not line.lower().startswith("proxy-authorization:")
        ]
        upstream.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + rest)
        return upstream


class SocksProxy(_TunnelServer):
    """``with SocksProxy(hosts=...) as proxy: ... proxy.url("socks5h")``: SOCKS5 (no
    authentication, or RFC 1929's user and password when ``credentials`` are set), and
    SOCKS4 / 4a."""

    def __init__(
        self,
        hosts: dict[str, str] | None = None,
        *,
        credentials: tuple[str, str] | None = None,
        refuse: bool = False,
    ):
        self.requests: list[SocksRequest] = []
        self._credentials = credentials
        self._refuse = refuse
        super().__init__(hosts)

    def url(self, scheme: str = "socks5h", userinfo: str = "") -> str:
        return f"{scheme}://{userinfo + '@' if userinfo else ''}127.0.0.1:{self.port}"

    def _serve(self, client: socket.socket) -> socket.socket | None:
        version = _exactly(client, 1)[0]
        if version == 5:
            return self._socks5(client)
        if version == 4:
            return self._socks4(client)
        return None

    def _socks5(self, client: socket.socket) -> socket.socket | None:
        methods = _exactly(client, _exactly(client, 1)[0])
        user = password = None
        if self._credentials is not None:
            if 2 not in methods:
                client.sendall(b"\x05\xff")
                return None
            client.sendall(b"\x05\x02")
            _exactly(client, 1)  # the sub-negotiation's version
            user = _exactly(client, _exactly(client, 1)[0]).decode()
            password = _exactly(client, _exactly(client, 1)[0]).decode()
            if (user, password) != self._credentials:
                client.sendall(b"\x01\x01")
                self._record(SocksRequest(5, "", 0, user, password))
                return None
            client.sendall(b"\x01\x00")
        else:
            client.sendall(b"\x05\x00")
        _, command, _, kind = _exactly(client, 4)
        if kind == 1:
            host = str(ipaddress.IPv4Address(_exactly(client, 4)))
        elif kind == 4:
            host = str(ipaddress.IPv6Address(_exactly(client, 16)))
        else:
            host = _exactly(client, _exactly(client, 1)[0]).decode("idna")
        port = int.from_bytes(_exactly(client, 2), "big")
        self._record(SocksRequest(5, host, port, user, password))
        upstream = None if self._refuse or command != 1 else self._reach(host, port)
        code = 2 if self._refuse else (4 if upstream is None else 0)
        client.sendall(bytes([5, code, 0, 1, 127, 0, 0, 1, 0, 0]))
        return upstream

    def _socks4(self, client: socket.socket) -> socket.socket | None:
        command, port, address = _exactly(client, 1)[0], _exactly(client, 2), _exactly(client, 4)
        user = _until_nul(client)
        host = str(ipaddress.IPv4Address(address))
        if address[:3] == b"\0\0\0" and address[3]:  # 4a: the name follows
            host = _until_nul(client)
        self._record(SocksRequest(4, host, int.from_bytes(port, "big"), user or None))
        upstream = (
            None if self._refuse or command != 1 else self._reach(host, int.from_bytes(port, "big"))
        )
        client.sendall(bytes([0, 0x5A if upstream is not None else 0x5B]) + b"\0" * 6)
        return upstream

    def _record(self, request: SocksRequest) -> None:
        with self._lock:
            self.requests.append(request)


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the client hung up")
        data += chunk
    return data


def _until_nul(sock: socket.socket) -> str:
    data = b""
    while (byte := _exactly(sock, 1)) != b"\0":
        data += byte
    return data.decode("latin-1")


def _read_request(client: socket.socket) -> tuple[ConnectRequest, str, bytes] | None:
    """The request, its head as text, and what came after the head."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(4096)
        if not chunk or len(data) > _MAX_REQUEST:
            return None
        data += chunk
    raw, rest = data.split(b"\r\n\r\n", 1)
    head = raw.decode("latin-1")
    line, *lines = head.split("\r\n")
    headers = {}
    for header in lines:
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    return ConnectRequest(line, headers), head, rest


def _refuse(client: socket.socket, status: str) -> None:
    """Answer with an error status and a short body (the caller closes)."""
    body = f"{status}\n".encode()
    head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
    if status.startswith("407"):
        head += 'Proxy-Authenticate: Basic realm="test"\r\n'
    client.sendall(head.encode() + b"\r\n" + body)


def _pump(client: socket.socket, upstream: socket.socket) -> None:
    """Forward both ways, in this one thread (a TLS socket is not for two threads at once),
    until either side closes."""
    while True:
        readable, _, _ = select.select([client, upstream], [], [])
        for source in readable:
            sink = upstream if source is client else client
            chunk = source.recv(65536)
            if not chunk:
                return
            sink.sendall(chunk)
            while isinstance(source, ssl.SSLSocket) and source.pending():  # decrypted, unread
                sink.sendall(source.recv(65536))


def _wake(sock: socket.socket) -> None:
    """Shut both ways: a thread blocked on the socket wakes (closing alone does not)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
