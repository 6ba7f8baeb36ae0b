"""The asyncio flavour goes through the proxy the environment names, as websockets' own client
did: an HTTP ``CONNECT`` tunnel (TLS to the server inside it for ``wss://``), never for
``NO_PROXY`` hosts nor this machine, with errors that name the proxy but never its password.

Real sockets only: ``tests/_connect_proxy.py`` is the proxy. The target is ``engine.test``, a
name only the proxy knows (it leads to the local engine): a loopback URL is never proxied.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import socket
import ssl
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.server import Server, ServerConnection, serve
from websockets.uri import parse_uri

from tests._certs import make_certificates, server_context
from tests._connect_proxy import ConnectProxy
from vectorshift_sessions import AsyncSession, HandshakeError
from vectorshift_sessions._backends import _asyncio_backend as backend
from vectorshift_sessions._backends._base import TransportError
from vectorshift_sessions._backends._proxy import (
    MAX_PROXY_ANSWER,
    connect_request,
    parse_connect_answer,
    parse_proxy,
    proxy_for,
)
from vectorshift_sessions.engine import LocalEngine

TARGET = "engine.test"  # resolves nowhere; the test proxy maps it to 127.0.0.1
HOSTS = {TARGET: "127.0.0.1"}
USER, PASSWORD = "alice", "p@ss:w0rd/é"  # percent-encoded in the proxy URL
USERINFO = "alice:p%40ss%3Aw0rd%2F%C3%A9"
HIDDEN = "alice:***@"


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's own proxy settings."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name == "REQUEST_METHOD":
            monkeypatch.delenv(name)


def session_to(url: str, **options: object) -> AsyncSession:
    return AsyncSession(owner_type="agent", owner_id="agent-echo", ws_url=url, **options)  # type: ignore[arg-type]


def target_url(engine: LocalEngine) -> str:
    return f"ws://{TARGET}:{engine.port}/v1"


def assert_secret_hidden(text: str) -> None:
    for secret in (PASSWORD, USERINFO, "p%40ss", base64.b64encode(PASSWORD.encode()).decode()):
        assert secret not in text


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- through the proxy --------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
async def test_a_session_goes_through_the_proxy(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    with ConnectProxy(HOSTS) as proxy:
        monkeypatch.setenv(variable, proxy.url())
        async with session_to(target_url(engine)) as session:
            assert (await session.ask("hi")).text == "hi"
            assert (await session.ask("and again")).text == "and again"
    (request,) = proxy.requests
    assert request.line == f"CONNECT {TARGET}:{engine.port} HTTP/1.1"
    assert request.headers["host"] == f"{TARGET}:{engine.port}"
    assert "proxy-authorization" not in request.headers


async def test_credentials_reach_the_proxy_and_nothing_else(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, websockets' own included
    with ConnectProxy(HOSTS, credentials=(USER, PASSWORD)) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url(USERINFO))
        async with session_to(target_url(engine)) as session:
            assert (await session.ask("hi")).text == "hi"
    expected = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert proxy.requests[0].headers["proxy-authorization"] == f"Basic {expected}"
    assert_secret_hidden(caplog.text)


@pytest.mark.parametrize(
    ("options", "userinfo", "status"),
    [
        ({"credentials": (USER, PASSWORD)}, "", "407"),  # none given
        ({"credentials": (USER, "another")}, USERINFO, "407"),  # wrong ones
        ({"refuse": True}, USERINFO, "403"),
    ],
)
async def test_a_refusing_proxy_is_a_handshake_error_naming_it_without_password(
    engine: LocalEngine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    options: dict[str, object],
    userinfo: str,
    status: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    with ConnectProxy(HOSTS, **options) as proxy:  # type: ignore[arg-type]
        monkeypatch.setenv("HTTP_PROXY", proxy.url(userinfo))
        with pytest.raises(HandshakeError) as caught:
            await session_to(target_url(engine), reconnect=False).connect()
    message = str(caught.value)
    shown = f"http://{HIDDEN if userinfo else ''}127.0.0.1:{proxy.port}"
    assert shown in message and f"HTTP {status}" in message, message
    assert_secret_hidden(message + repr(caught.value) + caplog.text)
    assert len(proxy.requests) == 1


async def test_a_proxy_nothing_listens_on_is_a_handshake_error_naming_it(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    port = free_port()
    monkeypatch.setenv("HTTP_PROXY", f"http://{USERINFO}@127.0.0.1:{port}")
    with pytest.raises(HandshakeError) as caught:
        await session_to(target_url(engine)).connect()
    message = str(caught.value)
    assert f"cannot reach the proxy http://{HIDDEN}127.0.0.1:{port}" in message, message
    assert_secret_hidden(message + caplog.text)


async def test_open_timeout_covers_a_proxy_that_never_answers(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (backlog), never answers
        port = silent.getsockname()[1]
        monkeypatch.setenv("HTTP_PROXY", f"http://{USERINFO}@127.0.0.1:{port}")
        started = asyncio.get_running_loop().time()
        with pytest.raises(HandshakeError) as caught:
            await session_to(target_url(engine), connect_timeout=0.5).connect()
        assert asyncio.get_running_loop().time() - started < 5
    message = str(caught.value)
    assert f"through the proxy http://{HIDDEN}127.0.0.1:{port}" in message, message
    assert_secret_hidden(message)


# --- not through the proxy ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "no_proxy", [TARGET, f".{TARGET}", f"{TARGET}:*", "*", f"example.org, {TARGET}"]
)
async def test_no_proxy_bypasses_the_proxy(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch, no_proxy: str
) -> None:
    with ConnectProxy(HOSTS) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        monkeypatch.setenv("NO_PROXY", no_proxy.replace(":*", f":{engine.port}"))
        with pytest.raises(HandshakeError) as caught:  # engine.test resolves nowhere
            await session_to(target_url(engine), connect_timeout=10).connect()
    assert proxy.requests == []
    message = str(caught.value)
    assert "proxy" not in message and f"ws://{TARGET}:{engine.port}" in message, message


async def test_https_proxy_is_for_wss_urls_only(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ConnectProxy(HOSTS) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url())
        with pytest.raises(HandshakeError) as caught:
            await session_to(target_url(engine), connect_timeout=10).connect()
    assert proxy.requests == []
    assert "proxy" not in str(caught.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_this_machine_is_never_proxied(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    with ConnectProxy(HOSTS) as proxy:
        for variable in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            monkeypatch.setenv(variable, proxy.url())
        async with session_to(f"ws://{host}:{engine.port}/v1") as session:
            assert (await session.ask("hi")).text == "hi"
    assert proxy.requests == []


# --- SOCKS ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["socks5", "socks5h", "socks4"])
async def test_socks_proxies_are_refused_by_name(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    monkeypatch.setenv("ALL_PROXY", f"{scheme}://{USERINFO}@127.0.0.1:1080")
    with pytest.raises(HandshakeError) as caught:
        await session_to(target_url(engine)).connect()
    message = str(caught.value)
    assert "SOCKS proxies are not supported yet by the asyncio flavour" in message
    assert f"{scheme}://{HIDDEN}127.0.0.1:1080" in message, message
    assert_secret_hidden(message)


# --- TLS: to the server through the tunnel, and to the proxy itself ------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A private CA, and the folder of a certificate it signed for ``engine.test`` and
    ``127.0.0.1`` (``cert.pem``, ``key.pem``)."""
    folder = tmp_path_factory.mktemp("proxy-tls")
    return make_certificates(folder, [TARGET], ip="127.0.0.1"), folder


class TlsEcho:
    """A ``wss://`` echo server on 127.0.0.1 whose certificate names engine.test; it records
    the server names (SNI) its clients asked for."""

    def __init__(self, folder: Path):
        context = server_context(folder)
        self.names: list[str | None] = []
        context.sni_callback = self._sni
        self._server: Server = serve(self._echo, "127.0.0.1", 0, ssl=context, ping_interval=None)
        self.port: int = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _sni(self, _sock: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        self.names.append(name)

    @staticmethod
    def _echo(ws: ServerConnection) -> None:
        for message in ws:
            ws.send(message)

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


@pytest.fixture(scope="module")
def tls_echo(certificates: tuple[Path, Path]) -> Iterator[TlsEcho]:
    running = TlsEcho(certificates[1])
    yield running
    running.stop()


async def _echo_through(url: str, context: ssl.SSLContext | None) -> str:
    transport = await backend.connect(
        url, headers={}, open_timeout=10, max_size=None, ssl_context=context
    )
    try:
        await transport.send("through the tunnel")
        (text,) = await transport.recv_batch(10)
        return text
    finally:
        await transport.close()


async def test_wss_starts_tls_with_the_server_inside_the_tunnel(
    tls_echo: TlsEcho, certificates: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, _ = certificates
    trusting = ssl.create_default_context(cafile=str(ca))
    with ConnectProxy(HOSTS) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url())
        url = f"wss://{TARGET}:{tls_echo.port}/"
        assert await _echo_through(url, trusting) == "through the tunnel"
    assert proxy.requests[0].line == f"CONNECT {TARGET}:{tls_echo.port} HTTP/1.1"
    assert TARGET in tls_echo.names  # SNI: the server's name, not the proxy's


async def test_wss_through_the_tunnel_verifies_the_server(
    tls_echo: TlsEcho, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ConnectProxy(HOSTS) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url(USERINFO))
        with pytest.raises(TransportError, match=r"(?i)certificate") as caught:
            await _echo_through(f"wss://{TARGET}:{tls_echo.port}/", None)  # the system's CAs
    assert f"through the proxy http://{HIDDEN}127.0.0.1:{proxy.port}" in str(caught.value)
    assert_secret_hidden(str(caught.value))


async def test_tls_to_an_https_proxy(
    engine: LocalEngine, certificates: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, folder = certificates
    trusting = ssl.create_default_context(cafile=str(ca))
    with ConnectProxy(HOSTS, tls=server_context(folder)) as proxy:
        assert proxy.url().startswith("https://")
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        url = f"{target_url(engine)}/ws/session"
        transport = await backend.connect(
            url, headers={}, open_timeout=10, max_size=None, ssl_context=trusting
        )
        await transport.close()
        with pytest.raises(TransportError, match=r"(?i)certificate"):  # verified
            await backend.connect(url, headers={}, open_timeout=10, max_size=None)
    assert proxy.requests[0].line == f"CONNECT {TARGET}:{engine.port} HTTP/1.1"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="TLS in TLS needs Python 3.11")
async def test_wss_through_an_https_proxy(
    tls_echo: TlsEcho, certificates: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, folder = certificates
    trusting = ssl.create_default_context(cafile=str(ca))
    with ConnectProxy(HOSTS, tls=server_context(folder)) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url())
        assert await _echo_through(f"wss://{TARGET}:{tls_echo.port}/", trusting) == (
            "through the tunnel"
        )
    assert len(proxy.requests) == 1


# --- which proxy, from the environment ----------------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "url", "expected"),
    [
        ({"HTTP_PROXY": "http://h:1"}, "ws://example.org/", "http://h:1"),
        ({"HTTP_PROXY": "http://h:1"}, "wss://example.org/", None),
        ({"HTTPS_PROXY": "http://s:2"}, "wss://example.org/", "http://s:2"),
        ({"HTTPS_PROXY": "http://s:2"}, "ws://example.org/", None),
        ({"ALL_PROXY": "http://a:3"}, "wss://example.org/", "http://a:3"),
        (
            {"ALL_PROXY": "http://a:3", "HTTP_PROXY": "http://h:1"},
            "ws://example.org/",
            "http://h:1",
        ),
        ({"https_proxy": "s:2"}, "wss://example.org/", "http://s:2"),  # no scheme: http://
        ({"HTTP_PROXY": "http://h"}, "ws://example.org/", "http://h:80"),
        ({"HTTP_PROXY": "https://h"}, "ws://example.org/", "https://h:443"),
        ({"HTTP_PROXY": "http://[2001:db8::1]:8"}, "ws://example.org/", "http://[2001:db8::1]:8"),
        ({"HTTP_PROXY": "http://h:1", "NO_PROXY": "example.org"}, "ws://example.org/", None),
        ({"HTTP_PROXY": "http://h:1", "NO_PROXY": "org"}, "ws://api.example.org/", None),
        ({"HTTP_PROXY": "http://h:1", "no_proxy": "other.org"}, "ws://example.org/", "http://h:1"),
        ({"HTTP_PROXY": "http://h:1"}, "ws://localhost:8/", None),
        ({"HTTP_PROXY": "http://h:1"}, "ws://127.1.2.3/", None),
        ({"HTTP_PROXY": "http://h:1"}, "ws://[::1]:8/", None),
        ({}, "ws://example.org/", None),
    ],
)
def test_proxy_for(
    monkeypatch: pytest.MonkeyPatch,
    environment: dict[str, str],
    url: str,
    expected: str | None,
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    proxy = proxy_for(parse_uri(url))
    assert (str(proxy) if proxy is not None else None) == expected


@pytest.mark.parametrize("value", ["ftp://h:1", "http://h:port", "http://:8", "http://h:99999"])
def test_an_unusable_proxy_is_a_transport_error(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("HTTP_PROXY", value)
    uri = parse_uri("ws://example.org/")
    with pytest.raises(TransportError, match="proxy"):
        backend._usable(proxy_for(uri), uri)  # the URL is not valid, or the twin cannot use it


# --- the pure parts: the proxy URL, the CONNECT request, the proxy's answer ----------------------


def test_parse_proxy_hides_the_password_and_decodes_the_credentials() -> None:
    proxy = parse_proxy(f"http://{USERINFO}@proxy.corp:3128")
    assert (proxy.scheme, proxy.host, proxy.port) == ("http", "proxy.corp", 3128)
    assert str(proxy) == f"http://{HIDDEN}proxy.corp:3128"
    expected = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert proxy.authorization == f"Basic {expected}"
    assert_secret_hidden(repr(proxy) + str(proxy))
    assert "Basic" not in repr(proxy)


def test_parse_proxy_without_credentials_or_password() -> None:
    assert parse_proxy("http://proxy.corp:3128").authorization is None
    only_user = parse_proxy("http://bob@proxy.corp:3128")
    assert str(only_user) == "http://bob@proxy.corp:3128"
    assert only_user.authorization == "Basic " + base64.b64encode(b"bob:").decode()


def test_connect_request() -> None:
    assert connect_request("engine.test", 443) == (
        b"CONNECT engine.test:443 HTTP/1.1\r\nHost: engine.test:443\r\n\r\n"
    )
    assert connect_request("2001:db8::1", 8, "Basic eDp5") == (
        b"CONNECT [2001:db8::1]:8 HTTP/1.1\r\nHost: [2001:db8::1]:8\r\n"
        b"Proxy-Authorization: Basic eDp5\r\n\r\n"
    )


def test_parse_connect_answer() -> None:
    data = b"HTTP/1.1 200 Connection established\r\nVia: test\r\nX-Empty:\r\n\r\n"
    answer = parse_connect_answer(data + b"tunnel bytes")
    assert answer is not None
    assert (answer.status, answer.reason, answer.size) == (200, "Connection established", len(data))
    assert answer.headers == [("Via", "test"), ("X-Empty", "")]


def test_parse_connect_answer_without_reason_or_headers_or_carriage_returns() -> None:
    answer = parse_connect_answer(b"HTTP/1.0 407\n\n")
    assert answer is not None
    assert (answer.status, answer.reason, answer.headers, answer.size) == (407, "", [], 14)


def test_parse_connect_answer_split_across_reads() -> None:
    data = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\n"
    for end in range(len(data)):
        assert parse_connect_answer(data[:end]) is None, data[:end]
    answer = parse_connect_answer(data)
    assert answer is not None and answer.status == 403 and answer.size == len(data)


@pytest.mark.parametrize(
    "data",
    [
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/2 200\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n folded: header\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n: no name\r\n\r\n",
    ],
)
def test_parse_connect_answer_refuses_a_malformed_answer(data: bytes) -> None:
    with pytest.raises(ValueError):
        parse_connect_answer(data)


def test_parse_connect_answer_refuses_an_oversized_answer() -> None:
    head = b"HTTP/1.1 200 OK\r\n" + b"X-Padding: " + b"x" * MAX_PROXY_ANSWER
    assert parse_connect_answer(head[: MAX_PROXY_ANSWER - 1]) is None
    with pytest.raises(ValueError, match="over"):
        parse_connect_answer(head)
    with pytest.raises(ValueError, match="over"):
        parse_connect_answer(head + b"\r\n\r\n")  # ends, but too late


async def test_a_malformed_answer_from_the_proxy_is_a_transport_error_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as fake:
        port = fake.getsockname()[1]

        def answer_garbage() -> None:
            client, _ = fake.accept()
            with client:
                client.recv(4096)
                client.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
                client.recv(4096)  # until the client hangs up

        thread = threading.Thread(target=answer_garbage, daemon=True)
        thread.start()
        monkeypatch.setenv("HTTP_PROXY", f"http://{USERINFO}@127.0.0.1:{port}")
        with pytest.raises(TransportError) as caught:
            await backend.connect("ws://engine.test/", headers={}, open_timeout=10, max_size=None)
        thread.join(timeout=10)
    message = str(caught.value)
    assert f"the proxy http://{HIDDEN}127.0.0.1:{port} answered CONNECT with" in message
    assert "not an HTTP status line" in message
    assert_secret_hidden(message)
