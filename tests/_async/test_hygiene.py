"""Security and hygiene: the key never shows, TLS is verified, nothing is left behind.

Written once; tests/_sync/ is generated from it.
"""

from __future__ import annotations

import logging
import shutil
import socket
import ssl
import subprocess
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from vectorshift_sessions import (
    AsyncSession,
    HandshakeError,
    SessionAuthenticationError,
    TurnStatus,
)
from vectorshift_sessions.engine import LocalEngine

KEY = "sk-hygiene-secret-7f3a9c"
WRONG_KEY = "sk-wrong-secret-0b1d2e"


@pytest.fixture(scope="module")
def keyed_engine() -> Iterator[LocalEngine]:
    with LocalEngine(db=":memory:", api_keys=[KEY]) as running:
        yield running


def keyed_session(engine: LocalEngine, key: str) -> AsyncSession:
    return AsyncSession(
        owner_type="agent", owner_id="agent-echo", ws_url=engine.ws_url, api_key=key
    )


async def test_the_key_never_shows_in_logs_reprs_errors_or_tracebacks(
    keyed_engine: LocalEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, websockets' own included
    shown: list[str] = []
    async with keyed_session(keyed_engine, KEY) as session:
        shown.append(repr(session))
        assert (await session.ask("hello")).status == TurnStatus.COMPLETE
    with pytest.raises(SessionAuthenticationError) as info:
        await keyed_session(keyed_engine, WRONG_KEY).connect()
    shown += [str(info.value), repr(info.value), "".join(traceback.format_exception(info.value))]
    everything = "\n".join([*shown, caplog.text])
    assert "401" in str(info.value)
    assert KEY not in everything and WRONG_KEY not in everything


@pytest.fixture(scope="module")
def untrusted_tls_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A TLS server whose self-signed certificate no default trust store accepts."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    folder: Path = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(folder / "key.pem"),
            "-out",
            str(folder / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass  # the client refused our certificate, as it should

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    thread.join(timeout=10)


async def test_tls_certificates_are_verified_by_default(untrusted_tls_port: int) -> None:
    session = AsyncSession(
        owner_type="agent", owner_id="agent-echo", ws_url=f"wss://localhost:{untrusted_tls_port}"
    )
    with pytest.raises(HandshakeError, match=r"(?i)certificate"):
        await session.connect()


async def test_no_socket_is_left_after_disconnect(engine: LocalEngine) -> None:
    def client_sockets() -> int:
        return sum(
            1
            for c in psutil.Process().net_connections(kind="tcp")
            if c.raddr and c.raddr.port == engine.port and c.status == psutil.CONN_ESTABLISHED
        )

    before = client_sockets()
    sessions = [
        AsyncSession(owner_type="agent", owner_id="agent-echo", ws_url=engine.ws_url)
        for _ in range(5)
    ]
    for session in sessions:
        await session.connect()
    assert client_sockets() == before + 5
    for session in sessions:
        await session.ask("bye")
        await session.disconnect()
    assert client_sockets() == before
