"""Both backend twins through proxies: TLS to the server inside a tunnel, TLS to the proxy
itself, the proxy the environment names, and the pure parts (proxy URLs, the CONNECT and SOCKS
exchanges, fed any way the bytes may come). The sessions and REST calls through proxies are
tested in tests/_async/test_proxy.py (both flavours).

Real sockets only: ``tests/_connect_proxy.py`` is the proxy. The target is ``engine.test``, a
name only the proxy knows (it leads to the local engine): a loopback URL is never proxied.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import re
import socket
import ssl
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.sync.server import Server, ServerConnection, serve
from websockets.uri import parse_uri

from tests._certs import make_certificates, server_context
from tests._connect_proxy import (
    HIDDEN,
    HOSTS,
    PASSWORD,
    TARGET,
    USER,
    USERINFO,
    ConnectProxy,
    assert_password_hidden,
)
from vectorshift_sessions._backends import _asyncio_backend as backend
from vectorshift_sessions._backends import _thread_backend as thread_backend
from vectorshift_sessions._backends._base import ProxyRefused, TransportError
from vectorshift_sessions._backends._proxy import (
    MAX_PROXY_ANSWER,
    choose_proxy,
    connect_request,
    open_tunnel,
    parse_connect_answer,
    parse_proxy,
    proxy_for,
)
from vectorshift_sessions.engine import LocalEngine


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's own proxy settings."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name == "REQUEST_METHOD":
            monkeypatch.delenv(name)


def target_url(engine: LocalEngine) -> str:
    return f"ws://{TARGET}:{engine.port}/v1"


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


@pytest.fixture(params=["asyncio", "threads"])
def twin(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def connect(twin: str, url: str, context: ssl.SSLContext | None = None) -> object:
    """A transport of this twin (the threads' opened in a thread), closed at once."""
    if twin == "asyncio":
        transport = await backend.connect(
            url, headers={}, open_timeout=10, max_size=None, ssl_context=context
        )
        await transport.close()
    else:
        blocking = await asyncio.to_thread(
            thread_backend.connect,
            url,
            headers={},
            open_timeout=10,
            max_size=None,
            ssl_context=context,
        )
        await asyncio.to_thread(blocking.close)
    return None


async def _echo_through(twin: str, url: str, context: ssl.SSLContext | None) -> str:
    if twin == "threads":
        return await asyncio.to_thread(_echo_through_threads, url, context)
    transport = await backend.connect(
        url, headers={}, open_timeout=10, max_size=None, ssl_context=context
    )
    try:
        await transport.send("through the tunnel")
        (text,) = await transport.recv_batch(10)
        return text
    finally:
        await transport.close()


def _echo_through_threads(url: str, context: ssl.SSLContext | None) -> str:
    transport = thread_backend.connect(
        url, headers={}, open_timeout=10, max_size=None, ssl_context=context
    )
    try:
        transport.send("through the tunnel")
        (text,) = transport.recv_batch(10)
        return text
    finally:
        transport.close()


async def test_wss_starts_tls_with_the_server_inside_the_tunnel(
    twin: str,
    tls_echo: TlsEcho,
    certificates: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ca, _ = certificates
    trusting = ssl.create_default_context(cafile=str(ca))
    with ConnectProxy(HOSTS) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url())
        url = f"wss://{TARGET}:{tls_echo.port}/"
        assert await _echo_through(twin, url, trusting) == "through the tunnel"
    assert proxy.requests[0].line == f"CONNECT {TARGET}:{tls_echo.port} HTTP/1.1"
    assert TARGET in tls_echo.names  # SNI: the server's name, not the proxy's


async def test_wss_through_the_tunnel_verifies_the_server(
    twin: str, tls_echo: TlsEcho, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ConnectProxy(HOSTS) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url(USERINFO))
        with pytest.raises(TransportError, match=r"(?i)certificate") as caught:
            await _echo_through(twin, f"wss://{TARGET}:{tls_echo.port}/", None)  # system CAs
    assert caught.value.kind == "tls"
    assert f"through the proxy http://{HIDDEN}127.0.0.1:{proxy.port}" in str(caught.value)
    assert_password_hidden(str(caught.value))


async def test_tls_to_an_https_proxy(
    twin: str,
    engine: LocalEngine,
    certificates: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ca, folder = certificates
    trusting = ssl.create_default_context(cafile=str(ca))
    with ConnectProxy(HOSTS, tls=server_context(folder)) as proxy:
        assert proxy.url().startswith("https://")
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        url = f"{target_url(engine)}/ws/session"
        await connect(twin, url, trusting)
        with pytest.raises(ProxyRefused, match=r"(?i)certificate"):  # verified
            await connect(twin, url)
    assert proxy.requests[0].line == f"CONNECT {TARGET}:{engine.port} HTTP/1.1"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="TLS in TLS needs Python 3.11")
async def test_wss_through_an_https_proxy(
    tls_echo: TlsEcho, certificates: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, folder = certificates
    trusting = ssl.create_default_context(cafile=str(ca))
    with ConnectProxy(HOSTS, tls=server_context(folder)) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url())
        assert await _echo_through("asyncio", f"wss://{TARGET}:{tls_echo.port}/", trusting) == (
            "through the tunnel"
        )
        with pytest.raises(TransportError, match="not supported by the blocking flavour"):
            await _echo_through("threads", f"wss://{TARGET}:{tls_echo.port}/", trusting)
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
    uri = parse_uri(url)
    proxy = proxy_for(uri.host, uri.port, uri.secure)
    assert (str(proxy) if proxy is not None else None) == expected


@pytest.mark.parametrize("value", ["ftp://h:1", "http://h:port", "http://:8", "http://h:99999"])
def test_an_unusable_proxy_in_the_environment_is_a_transport_error(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("HTTP_PROXY", value)
    with pytest.raises(ProxyRefused, match="the HTTP_PROXY of the environment is not a valid"):
        proxy_for("example.org", 80, False)


def test_an_explicit_proxy_is_for_every_host_and_none_for_no_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://env:1")
    assert str(choose_proxy("socks5h://given:2", "127.0.0.1", 80, False)) == "socks5h://given:2"
    assert choose_proxy(None, "example.org", 80, False) is None
    assert str(choose_proxy(True, "example.org", 80, False)) == "http://env:1"


# --- the pure parts: the proxy URL, the CONNECT request, the proxy's answer ----------------------


def test_parse_proxy_hides_the_password_and_decodes_the_credentials() -> None:
    proxy = parse_proxy(f"http://{USERINFO}@proxy.corp:3128")
    assert (proxy.scheme, proxy.host, proxy.port) == ("http", "proxy.corp", 3128)
    assert str(proxy) == f"http://{HIDDEN}proxy.corp:3128"
    expected = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert proxy.authorization == f"Basic {expected}"
    assert_password_hidden(repr(proxy) + str(proxy))
    assert "Basic" not in repr(proxy)


def test_parse_proxy_without_credentials_or_password() -> None:
    assert parse_proxy("http://proxy.corp:3128").authorization is None
    only_user = parse_proxy("http://bob@proxy.corp:3128")
    assert str(only_user) == "http://***@proxy.corp:3128"  # a user alone may be a token
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
    twin: str, monkeypatch: pytest.MonkeyPatch
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
        with pytest.raises(ProxyRefused) as caught:
            await connect(twin, "ws://engine.test/")
        thread.join(timeout=10)
    message = str(caught.value)
    assert f"the proxy http://{HIDDEN}127.0.0.1:{port} answered CONNECT with" in message
    assert "not an HTTP status line" in message
    assert_password_hidden(message)


# --- the tunnels' exchanges, fed the proxy's answer in any pieces ---------------------------------


def run_exchange(proxy_url: str, host: str, answers: list[bytes], cuts: list[int]) -> bytes:
    """Drive a tunnel's exchange with the proxy's ``answers`` (each sent once the client has
    spoken), every one cut at ``cuts``; what the client sent. Raises what the tunnel raises."""
    tunnel = open_tunnel(parse_proxy(proxy_url), host, 443)
    sent = tunnel.data_to_send()
    opened = False
    for answer in answers:
        assert not opened
        points = sorted({c % (len(answer) + 1) for c in cuts} | {0, len(answer)})
        for start, end in itertools.pairwise(points):
            opened = tunnel.receive_data(answer[start:end])
            sent += tunnel.data_to_send()
    assert opened
    return sent


SOCKS5_OK = bytes([5, 0, 0, 1, 127, 0, 0, 1, 0x1F, 0x90])
SOCKS5_NAME_REPLY = bytes([5, 0, 0, 3, 4]) + b"host" + b"\x01\xbb"


@given(cuts=st.lists(st.integers(0, 64), max_size=6))
def test_socks5_without_credentials_in_any_pieces(cuts: list[int]) -> None:
    sent = run_exchange("socks5h://p:1080", "engine.test", [b"\x05\x00" + SOCKS5_OK], cuts)
    assert sent == b"\x05\x01\x00" + b"\x05\x01\x00\x03\x0bengine.test\x01\xbb"


@given(cuts=st.lists(st.integers(0, 64), max_size=6))
def test_socks5_with_credentials_in_any_pieces(cuts: list[int]) -> None:
    answers = [b"\x05\x02", b"\x01\x00", SOCKS5_NAME_REPLY]
    sent = run_exchange(f"socks5://{USERINFO}@p:1080", "2001:db8::1", answers, cuts)
    password = PASSWORD.encode()
    assert sent == (
        b"\x05\x02\x00\x02"
        + b"\x01\x05alice"
        + bytes([len(password)])
        + password
        + b"\x05\x01\x00\x04"
        + bytes.fromhex("20010db8000000000000000000000001")
        + b"\x01\xbb"
    )


@given(cuts=st.lists(st.integers(0, 64), max_size=6))
def test_socks4_and_4a_in_any_pieces(cuts: list[int]) -> None:
    granted = bytes([0, 0x5A]) + bytes(6)
    assert run_exchange("socks4://bob@p:1080", "10.1.2.3", [granted], cuts) == (
        b"\x04\x01\x01\xbb\x0a\x01\x02\x03bob\x00"
    )
    assert run_exchange("socks4a://p:1080", "engine.test", [granted], cuts) == (
        b"\x04\x01\x01\xbb\x00\x00\x00\x01\x00engine.test\x00"
    )


@given(cuts=st.lists(st.integers(0, 64), max_size=6))
def test_connect_in_any_pieces(cuts: list[int]) -> None:
    answer = b"HTTP/1.1 200 Connection established\r\nVia: p\r\n\r\n"
    sent = run_exchange("http://p:3128", "engine.test", [answer], cuts)
    assert sent == connect_request("engine.test", 443)


@pytest.mark.parametrize(
    ("proxy_url", "answers", "message"),
    [
        ("socks5h://p:1", [b"\x05\xff"], "none of our SOCKS5 methods (credentials may be needed)"),
        ("socks5h://a:b@p:1", [b"\x05\x02", b"\x01\x01"], "refused the credentials"),
        ("socks5h://p:1", [b"\x05\x00\x05\x05\x00\x01\x00"], "connection refused"),
        ("socks5h://p:1", [b"\x05\x00\x05\x63\x00\x01\x00"], "SOCKS5 error 99"),
        ("socks5h://p:1", [b"\x04\x00"], "not SOCKS5"),
        ("socks5h://p:1", [b"\x05\x00" + SOCKS5_OK + b"x"], "more than its answer"),
        ("socks5h://p:1", [b"\x05\x00\x05\x00\x00\x09\x00"], "unknown address type 9"),
        ("socks4a://p:1", [b"\x00\x5b" + bytes(6)], "SOCKS4 code 0x5b"),
        ("http://p:1", [b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"], "are needed"),
        ("http://a:b@p:1", [b"HTTP/1.1 407 No\r\n\r\n"], "were refused"),
        ("http://p:1", [b"HTTP/1.1 200 OK\r\n\r\nearly"], "more than its answer"),
    ],
)
def test_what_a_refusing_or_garbling_proxy_raises(
    proxy_url: str, answers: list[bytes], message: str
) -> None:
    with pytest.raises(ProxyRefused, match=re.escape(message)) as caught:
        run_exchange(proxy_url, "engine.test", answers, [])
    assert caught.value.proxy == str(parse_proxy(proxy_url))
    assert ":b@" not in str(caught.value)


def test_socks4_cannot_carry_a_name() -> None:
    with pytest.raises(TransportError, match="use a socks4a:// or socks5h:// proxy URL"):
        open_tunnel(parse_proxy("socks4://p:1"), "engine.test", 443)
