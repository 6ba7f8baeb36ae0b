"""A small HTTP ``CONNECT`` proxy on 127.0.0.1, in threads, for the proxy tests.

It records every request it is sent, can demand Basic credentials (407 without them) or refuse
every tunnel (403), can speak TLS itself (an ``https://`` proxy), and tunnels bytes both ways
until either side closes. Targets are reached through ``hosts``, a map of made-up names to
addresses: a client never resolves the target of a tunnel itself, so a name like
``engine.test`` can lead to the local engine while the client sees a host that is not this
machine (and so is proxied).
"""

from __future__ import annotations

import base64
import select
import socket
import ssl
import threading
from dataclasses import dataclass

_MAX_REQUEST = 16 * 1024


@dataclass(frozen=True)
class ConnectRequest:
    """What the proxy was sent: the request line and the headers (names in lower case)."""

    line: str
    headers: dict[str, str]


class ConnectProxy:
    """``with ConnectProxy(hosts={"engine.test": "127.0.0.1"}) as proxy: ... proxy.url()``."""

    def __init__(
        self,
        hosts: dict[str, str] | None = None,
        *,
        credentials: tuple[str, str] | None = None,
        refuse: bool = False,
        tls: ssl.SSLContext | None = None,
    ):
        self.hosts = dict(hosts or {})
        self.requests: list[ConnectRequest] = []
        self._expected = (
            "Basic " + base64.b64encode(":".join(credentials).encode()).decode()
            if credentials is not None
            else None
        )
        self._refuse = refuse
        self._tls = tls
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()  # shut at close, to wake their threads
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._spawn(self._accept_loop)

    def url(self, userinfo: str = "") -> str:
        """The proxy's URL, with ``userinfo`` (``user:password``) if given."""
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{userinfo + '@' if userinfo else ''}127.0.0.1:{self.port}"

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

    def __enter__(self) -> ConnectProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- plumbing -----------------------------------------------------------------------------

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

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._track(client):
                client.close()
                return
            self._spawn(self._serve, client)

    def _serve(self, client: socket.socket) -> None:
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
            request = _read_request(client)
            if request is None:
                return
            with self._lock:
                self.requests.append(request)
            refusal, upstream = self._open_tunnel(request)
            if upstream is None:
                _refuse(client, refusal)
            elif self._track(upstream):
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                _pump(client, upstream)
        except OSError:
            pass  # the client went away (or refused our certificate)
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    _wake(sock)
                    sock.close()

    def _open_tunnel(self, request: ConnectRequest) -> tuple[str, socket.socket | None]:
        """The connection to the target, or the status refusing it."""
        method, _, rest = request.line.partition(" ")
        host, _, port = rest.rpartition(" ")[0].rpartition(":")
        if method != "CONNECT" or not port.isdigit():
            return "400 Bad Request", None
        if self._refuse:
            return "403 Forbidden", None
        if self._expected is not None and (
            request.headers.get("proxy-authorization") != self._expected
        ):
            return "407 Proxy Authentication Required", None
        address = self.hosts.get(host.strip("[]"))
        if address is None:
            return "502 Bad Gateway", None
        try:
            upstream = socket.create_connection((address, int(port)), timeout=5)
        except OSError:
            return "502 Bad Gateway", None
        upstream.settimeout(None)
        return "", upstream


def _read_request(client: socket.socket) -> ConnectRequest | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(4096)
        if not chunk or len(data) > _MAX_REQUEST:
            return None
        data += chunk
    line, *lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {}
    for header in lines:
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    return ConnectRequest(line, headers)


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
