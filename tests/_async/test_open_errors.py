"""The errors a newcomer meets first, each saying what was tried and what to check: no key for
an engine on another machine (before any traffic), nothing listening, a TLS failure, an engine
answering the handshake with a 5xx. Written once; tests/_sync/ is generated from it.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator

import pytest

from tests._certs import make_certificates, server_context
from tests._connect_proxy import ConnectProxy, free_port
from vectorshift_sessions import (
    AsyncAgent,
    AsyncClient,
    AsyncSession,
    HandshakeError,
    MissingAPIKeyError,
)

ECHO = "agent-echo"


def new_session(url: str, **options: object) -> AsyncSession:
    return AsyncSession(owner_type="agent", owner_id=ECHO, ws_url=url, **options)  # type: ignore[arg-type]


# --- no key, for an engine on another machine -------------------------------------------------


def assert_says_where_keys_come_from(error: MissingAPIKeyError, url: str) -> None:
    message = str(error)
    assert error.url == url and url in message
    for hint in ("api_key=", "VECTORSHIFT_API_KEY", "local engine", "vectorshift-sessions engine"):
        assert hint in message, message


async def test_no_key_for_the_hosted_engine_fails_before_any_traffic(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with ConnectProxy() as witness:  # any connection attempt would go through it
        monkeypatch.setenv("HTTPS_PROXY", witness.url())
        monkeypatch.setenv("ALL_PROXY", witness.url())
        with pytest.raises(MissingAPIKeyError) as session_error:
            AsyncSession(owner_type="agent", owner_id=ECHO)
        with pytest.raises(MissingAPIKeyError) as client_error:
            AsyncClient()
        with pytest.raises(MissingAPIKeyError):
            await AsyncAgent(ECHO, agent_type="conversational").create_session()
        with pytest.raises(MissingAPIKeyError):
            AsyncSession(owner_type="agent", owner_id=ECHO, ws_url="wss://engine.example.org")
    assert witness.requests == []
    assert_says_where_keys_come_from(session_error.value, "wss://api.vectorshift.ai/v1/ws/session")
    assert_says_where_keys_come_from(client_error.value, "https://api.vectorshift.ai/v1")
    assert isinstance(session_error.value, ValueError)


async def test_the_local_engine_on_this_machine_needs_no_key() -> None:
    for host in ("127.0.0.1", "localhost", "[::1]"):
        new_session(f"ws://{host}:9")
        AsyncClient(base_url=f"http://{host}:9/v1")


async def test_a_key_from_the_environment_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VECTORSHIFT_API_KEY", "sk-from-env")
    AsyncSession(owner_type="agent", owner_id=ECHO)
    AsyncClient()


# --- the WebSocket cannot be opened ------------------------------------------------------------


async def test_nothing_listening_says_what_was_tried_and_what_to_check() -> None:
    url = f"ws://127.0.0.1:{free_port()}"
    with pytest.raises(HandshakeError) as caught:
        await new_session(url, reconnect=False).connect()
    message = str(caught.value)
    assert f"cannot open {url}/ws/session (no proxy)" in message, message
    assert "check the address" in message and "that the engine runs there" in message
    assert caught.value.status_code is None


@pytest.fixture(scope="module")
def untrusted_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A TLS server on 127.0.0.1 whose CA nobody trusts; its port. It only shakes hands."""
    folder = tmp_path_factory.mktemp("untrusted")
    make_certificates(folder, ["localhost"], ip="127.0.0.1")
    context = server_context(folder)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with client:
                try:
                    with context.wrap_socket(client, server_side=True):
                        pass
                except (OSError, ssl.SSLError):
                    pass  # the client refused our certificate: the point

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (closing alone does not)
    listener.close()
    thread.join(timeout=10)


async def test_a_tls_failure_says_so_and_what_to_check(untrusted_tls: int) -> None:
    url = f"wss://127.0.0.1:{untrusted_tls}"
    with pytest.raises(HandshakeError) as caught:
        await new_session(url, reconnect=False).connect()
    message = str(caught.value)
    assert f"cannot open {url}/ws/session (no proxy)" in message, message
    assert "the TLS handshake failed" in message and "ssl_context=" in message, message
    assert "certificate" in message.lower()


class Answering:
    """A server on 127.0.0.1 answering every request with one HTTP/1.1 status and body (and
    headers); it keeps the requests it was sent."""

    def __init__(self, status: int, body: str, headers: str = ""):
        reason = {302: "Found", 404: "Not Found", 500: "Internal Server Error"}
        data = body.encode()
        self._answer = (
            f"HTTP/1.1 {status} {reason.get(status, 'Whatever')}\r\n{headers}"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
        ).encode() + data
        self.requests: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self._listener.getsockname()[1]}/v1"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with client:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = client.recv(4096)
                    if not chunk:
                        break
                    request += chunk
                self.requests.append(request)
                client.sendall(self._answer)

    def close(self) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(timeout=10)


@pytest.mark.parametrize("status", [500, 503])
async def test_a_5xx_handshake_says_the_engine_failed(status: int) -> None:
    server = Answering(status, "engine restarting")
    try:
        with pytest.raises(HandshakeError) as caught:
            await new_session(server.url, reconnect=False).connect()
    finally:
        server.close()
    message = str(caught.value)
    assert caught.value.status_code == status
    assert f"the engine at {server.url}/ws/session refused the WebSocket handshake" in message
    assert f"HTTP {status}" in message and "engine restarting" in message, message
    assert "retry later" in message


async def test_a_4xx_handshake_says_the_url_may_be_wrong() -> None:
    server = Answering(404, "no such path")
    try:
        with pytest.raises(HandshakeError, match="it may not be a session endpoint") as caught:
            await new_session(server.url, reconnect=False).connect()
    finally:
        server.close()
    assert caught.value.status_code == 404


async def test_a_redirect_is_not_followed_and_the_key_goes_nowhere_else() -> None:
    elsewhere = Answering(404, "should never be asked")
    server = Answering(302, "", headers=f"Location: {elsewhere.url}/ws/session\r\n")
    try:
        with pytest.raises(HandshakeError) as caught:
            await new_session(server.url, api_key="sk-redirected", reconnect=False).connect()
    finally:
        server.close()
        elsewhere.close()
    message = str(caught.value)
    assert caught.value.status_code == 302
    assert f"redirected the WebSocket handshake (HTTP 302) to {elsewhere.url}" in message
    assert "redirects are not followed" in message and "sk-redirected" not in message
    assert len(server.requests) == 1 and elsewhere.requests == []


@pytest.mark.parametrize("proxy", [None, "socks5h://127.0.0.1:9"])
async def test_a_host_name_no_dns_could_take_is_a_handshake_error(proxy: str | None) -> None:
    url = f"ws://{'a' * 64}.example.org"  # a label over 63 characters
    with pytest.raises(HandshakeError, match="label") as caught:
        await new_session(url, api_key="k", allow_insecure_key=True, proxy=proxy).connect()
    assert "cannot open" in str(caught.value)
