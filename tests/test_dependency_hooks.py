"""What the blocking transport relies on in websocket-client beyond its documented API, pinned
in pyproject.toml (``websocket-client>=1.8,<1.10``): these fail loudly, saying what to do, when
a new release changes it.

``_backends/_thread_backend.py`` opens the socket itself (directly or through a proxy's
tunnel, then TLS) and gives it to websocket-client's ``connect(socket=...)`` for the handshake
alone, then reads ``ws.sock`` itself, in chunks. That is only right because websocket-client
uses the socket it is given as it is (no proxy, no TLS of its own), and reads the handshake
response one byte at a time, up to its blank line, never past it: whatever the server sent
after the response (frames in the same packet) is still in the socket. (unasync, used through a private hook by codegen, is checked in tests/test_codegen.py.)
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import websocket
from websockets.server import ServerProtocol

from tests._connect_proxy import ConnectProxy
from vectorshift_sessions._backends import _thread_backend
from vectorshift_sessions.engine import LocalEngine

PIN = "websocket-client>=1.8,<1.10 (pyproject.toml)"
GREETINGS = ["sent with the handshake", "and this", "x" * 70_000]


@pytest.fixture
def eager_server() -> Iterator[int]:
    """A server that writes its handshake response and three frames in one ``sendall``: a
    client that reads past the response would swallow the frames. Yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            protocol = ServerProtocol()
            events: list[Any] = []
            while not events:
                protocol.receive_data(conn.recv(4096))
                events = protocol.events_received()
            protocol.send_response(protocol.accept(events[0]))
            for text in GREETINGS:
                protocol.send_text(text.encode())
            conn.sendall(b"".join(protocol.data_to_send()))
            while conn.recv(4096):  # until the client hangs up
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        listener.close()
        thread.join(timeout=10)


def test_the_handshake_leaves_what_follows_it_in_the_socket(eager_server: int) -> None:
    transport = _thread_backend.connect(
        f"ws://127.0.0.1:{eager_server}/", headers={}, open_timeout=10, max_size=None
    )
    try:
        received: list[str] = []
        while len(received) < len(GREETINGS):
            try:
                received += transport.recv_batch(timeout=5)
            except _thread_backend.TransportClosed:
                break
    finally:
        transport.close()
    assert received == GREETINGS, (
        f"websocket-client {websocket.__version__} read past the handshake response: the frames "
        f"the server sent right after it were lost. _thread_backend reads ws.sock itself after "
        f"websocket-client's handshake and relies on it reading no further: keep {PIN}, or "
        f"adapt _thread_backend.connect()"
    )


def test_the_socket_given_is_used_as_it_is(
    eager_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ConnectProxy() as proxy:
        for variable in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
            monkeypatch.setenv(variable, proxy.url())
        sock = socket.create_connection(("127.0.0.1", eager_server))
        ws = websocket.WebSocket()
        try:
            # a name that is not this machine: a proxy from the environment would be used
            ws.connect(f"ws://engine.test:{eager_server}/", socket=sock, timeout=10)  # type: ignore[no-untyped-call]
            assert ws.sock is sock, (
                f"websocket-client {websocket.__version__} replaced the socket it was given: "
                f"_thread_backend.connect() gives it one it opened itself; keep {PIN}"
            )
        finally:
            ws.close()  # type: ignore[no-untyped-call]
    assert proxy.requests == [], (
        f"websocket-client {websocket.__version__} went through the environment's proxy with "
        f"the socket it was given; keep {PIN}"
    )


def test_the_websocket_client_api_the_transport_uses_is_there() -> None:
    for name in ("connect", "send", "send_close", "ping", "pong", "settimeout"):
        assert callable(getattr(websocket.WebSocket, name, None)), (
            f"websocket-client {websocket.__version__} has no WebSocket.{name}; "
            f"_thread_backend uses it: keep {PIN}"
        )
    ws = websocket.WebSocket()
    assert hasattr(ws, "sock"), f"websocket-client {websocket.__version__}: no WebSocket.sock"


def test_the_websockets_sans_io_api_the_transports_use_is_there() -> None:
    """Both transports parse frames with websockets' documented Sans-I/O layer."""
    import websockets
    from websockets.frames import Close, Opcode
    from websockets.protocol import Protocol, Side, State

    protocol = Protocol(Side.CLIENT, state=State.OPEN, max_size=None)
    for name in ("receive_data", "receive_eof", "events_received", "data_to_send", "send_text"):
        assert callable(getattr(protocol, name, None)), (
            f"websockets {websockets.__version__}: no Protocol.{name}"
        )
    server = Protocol(Side.SERVER, state=State.OPEN)
    server.send_close(1001, "going away")
    protocol.receive_data(b"".join(server.data_to_send()))
    assert [f.opcode for f in protocol.events_received()] == [Opcode.CLOSE]
    protocol.receive_eof()
    closed = protocol.close_exc  # what _base.close_frames reads
    assert closed.rcvd == Close(1001, "going away") and closed.sent is not None


def _frames(transport: _thread_backend.Transport, until: str) -> list[dict[str, Any]]:
    out = []
    while True:
        for text in transport.recv_batch(timeout=10):
            frame = json.loads(text)
            out.append(frame)
            if frame["type"] == until:
                return out


@pytest.mark.parametrize(("count", "size"), [(5_000, 7), (30, 65_536)])
def test_frames_read_in_chunks_arrive_whole_and_in_order(
    engine: LocalEngine, count: int, size: int
) -> None:
    """Many small frames in each read, and frames larger than a read, through the real engine."""
    transport = _thread_backend.connect(
        engine.session_url, headers={}, open_timeout=10, max_size=None
    )
    try:
        create = {"type": "create_session", "object_type": "agent", "object_id": "agent-bench"}
        transport.send(json.dumps(create))
        (created,) = _frames(transport, "session_created")
        sid = created["session_id"]
        transport.send(json.dumps({"type": "connect_session", "session_id": sid}))
        _frames(transport, "connect_session")
        post = {"type": "post_message", "session_id": sid, "content": f"{count} {size}"}
        transport.send(json.dumps(post))
        frames = _frames(transport, "message_notification")
    finally:
        transport.close()
    deltas = [f for f in frames if f["type"] == "message_delta"]
    assert [f["index"] for f in deltas] == list(range(count))
    assert all(f["value"] == "x" * size for f in deltas)
    assert frames[-1]["message"]["content"]["value"] == "x" * size * count
