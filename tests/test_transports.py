"""Both backend twins' transports against a real WebSocket server: frames of every size arrive
whole and in order (however they fall across the chunks the socket is read in), in batches;
control frames, closes, limits, timeouts and the handshake behave alike in both.

Each test is written once, synchronously: a ``Twin`` runs the asyncio twin's calls on an event
loop in its own thread, and the threads twin's directly.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from websockets.frames import CloseCode
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from tests._certs import make_certificates, server_context
from vectorshift_sessions._backends import _asyncio_backend, _thread_backend
from vectorshift_sessions._backends._base import (
    CHUNK,
    MAX_BATCH,
    HandshakeRejected,
    TransportClosed,
    TransportError,
)

TIMEOUT = 10.0


class Twin:
    """Runs one backend twin's calls from the test's thread, blocking until they return."""

    def __init__(self, backend: ModuleType):
        self.backend = backend
        self.name = "asyncio" if backend is _asyncio_backend else "threads"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(4)
        if self.name == "asyncio":
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
            self._thread.start()

    def start(
        self, fn: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[Any]:
        """Call ``fn`` in the background (on the loop, for the asyncio twin)."""
        if self._loop is None:
            return self._pool.submit(fn, *args, **kwargs)

        async def call() -> Any:
            result = fn(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result

        return asyncio.run_coroutine_threadsafe(call(), self._loop)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self.start(fn, *args, **kwargs).result(TIMEOUT)

    def connect(self, url: str, **options: Any) -> Any:
        options = {"headers": {}, "open_timeout": TIMEOUT, "max_size": None, **options}
        return self.call(self.backend.connect, url, **options)

    def receive(self, transport: Any, count: int) -> list[list[str]]:
        """Batches, until ``count`` texts came."""
        batches: list[list[str]] = []
        while sum(map(len, batches)) < count:
            batch = self.call(transport.recv_batch, TIMEOUT)
            assert batch, "recv_batch returned no text"
            batches.append(batch)
        return batches

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(TIMEOUT)
            self._loop.close()


@pytest.fixture(params=[_asyncio_backend, _thread_backend], ids=["asyncio", "threads"])
def twin(request: pytest.FixtureRequest) -> Iterator[Twin]:
    running = Twin(request.param)
    yield running
    running.close()


class Peer:
    """A websockets server whose behaviour each path chooses (``/frames?size=7&count=9`` ...);
    it records the close code each connection got from the client."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.close_codes: list[int | None] = []
        self.pongs: list[bool] = []
        self.closed = threading.Event()
        self.sent = threading.Event()  # a connection's scenario has sent all it sends
        self.server: Server = serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._refuse,
            max_size=None,
            ping_interval=None,
            ssl=tls,
        )
        port = self.server.socket.getsockname()[1]
        self.url = f"wss://localhost:{port}" if tls else f"ws://127.0.0.1:{port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def _refuse(connection: ServerConnection, request: Request) -> Response | None:
        if request.path.startswith("/refuse"):
            return connection.respond(401, "no such key\n")
        return None

    def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        parts = urlsplit(ws.request.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        try:
            getattr(self, "_" + parts.path.strip("/"))(ws, **query)
            self.sent.set()
            ws.recv()  # until the client closes
        except Exception:  # the client's side is what is tested
            pass
        finally:
            self.close_codes.append(ws.close_code)
            self.closed.set()

    def _frames(self, ws: ServerConnection, size: str, count: str, text: str = "x") -> None:
        for i in range(int(count)):
            ws.send(f"{i:06d}" + text * (int(size) - 6))

    def _mixed(self, ws: ServerConnection) -> None:
        ws.send("first")
        ws.send("é€" * 30_000)  # multi-byte characters, across chunk boundaries
        ws.send(b"binary \xc3\xa9")  # decoded like text
        ws.send(["frag", "ment", "é", "ed"])  # one message in four frames
        ws.send(iter([b"bin", b"ary"]))  # a fragmented binary message
        ws.send("last")

    def _close(self, ws: ServerConnection, code: str) -> None:
        ws.send("before the close")
        ws.close(int(code), "going away now")

    def _ping(self, ws: ServerConnection) -> None:
        ws.recv()  # the client reads from now on
        self.pongs.append(ws.ping(b"are you there").wait(TIMEOUT))
        ws.send("pinged")

    def _echo(self, ws: ServerConnection) -> None:
        for message in ws:
            ws.send(message)

    def _silent(self, ws: ServerConnection) -> None:
        ws.send(f"after {ws.recv(decode=True)}")

    def _drop(self, ws: ServerConnection) -> None:
        ws.send("bye")
        ws.socket.shutdown(socket.SHUT_RDWR)  # no close frame: the TCP connection just ends

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def peer() -> Iterator[Peer]:
    running = Peer()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def tls_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Peer, Path]]:
    """A TLS peer for ``localhost`` whose certificate a private CA signed; and that CA."""
    folder = tmp_path_factory.mktemp("tls")
    ca = make_certificates(folder, ["localhost"])
    running = Peer(server_context(folder))
    yield running, ca
    running.stop()


@pytest.mark.parametrize(
    ("count", "size"),
    [
        (3, CHUNK + 10),  # each frame larger than a chunk
        (2, CHUNK - 3),  # a frame that ends just past a chunk's end (header included)
        (5_000, 7),  # many small frames, some split across chunks
        (40, 4_099),  # frames of an odd size, straddling every boundary
        (5, 3 * CHUNK + 1),  # frames spanning several chunks
    ],
)
def test_frames_arrive_whole_across_read_chunks(
    twin: Twin, peer: Peer, count: int, size: int
) -> None:
    transport = twin.connect(f"{peer.url}/frames?size={size}&count={count}")
    try:
        texts = [text for batch in twin.receive(transport, count) for text in batch]
    finally:
        twin.call(transport.close)
    assert len(texts) == count
    for i, text in enumerate(texts):
        assert text == f"{i:06d}" + "x" * (size - 6)


def test_frames_waiting_come_in_bounded_batches(twin: Twin, peer: Peer) -> None:
    count = 2_000  # 84 KB: all of it fits in the socket buffers before anything is read
    peer.sent.clear()
    transport = twin.connect(f"{peer.url}/frames?size=40&count={count}")
    try:
        assert peer.sent.wait(TIMEOUT)
        time.sleep(0.1)  # on its way through the loopback
        batches = twin.receive(transport, count)
    finally:
        twin.call(transport.close)
    assert [int(t[:6]) for batch in batches for t in batch] == list(range(count))
    assert len(batches) < 50  # many frames to a batch...
    assert max(map(len, batches)) <= MAX_BATCH  # ...but never so many that listeners starve


def test_binary_fragmented_and_multibyte_messages_arrive_whole(twin: Twin, peer: Peer) -> None:
    transport = twin.connect(f"{peer.url}/mixed")
    try:
        texts = [text for batch in twin.receive(transport, 6) for text in batch]
    finally:
        twin.call(transport.close)
    assert texts == ["first", "é€" * 30_000, "binary é", "fragmentéed", "binary", "last"]


def test_the_peers_close_frame_gives_its_code_after_what_came_before(
    twin: Twin, peer: Peer
) -> None:
    transport = twin.connect(f"{peer.url}/close?code=4001")
    assert twin.receive(transport, 1) == [["before the close"]]
    with pytest.raises(TransportClosed) as closed:
        twin.call(transport.recv_batch, TIMEOUT)
    assert (closed.value.code, closed.value.reason) == (4001, "going away now")
    with pytest.raises(TransportClosed) as again:  # it stays closed, and says why
        twin.call(transport.recv_batch, TIMEOUT)
    assert again.value.code == 4001
    with pytest.raises(TransportClosed):
        twin.call(transport.send, "too late")
    twin.call(transport.close)


def test_a_dropped_connection_closes_without_a_code(twin: Twin, peer: Peer) -> None:
    transport = twin.connect(f"{peer.url}/drop")
    assert twin.receive(transport, 1) == [["bye"]]
    with pytest.raises(TransportClosed) as closed:
        twin.call(transport.recv_batch, TIMEOUT)
    assert closed.value.code is None
    twin.call(transport.abort)


def test_a_frame_over_max_size_closes_with_1009(twin: Twin, peer: Peer) -> None:
    peer.closed.clear()
    transport = twin.connect(f"{peer.url}/frames?size=5000&count=3", max_size=4096)
    with pytest.raises(TransportClosed) as closed:
        twin.call(transport.recv_batch, TIMEOUT)
    assert closed.value.code == CloseCode.MESSAGE_TOO_BIG
    assert peer.closed.wait(TIMEOUT)
    assert peer.close_codes[-1] == CloseCode.MESSAGE_TOO_BIG  # the server was told why
    twin.call(transport.close)


def test_a_ping_from_the_server_is_answered(twin: Twin, peer: Peer) -> None:
    transport = twin.connect(f"{peer.url}/ping")
    try:
        twin.call(transport.send, "go")
        assert twin.receive(transport, 1) == [["pinged"]]
    finally:
        twin.call(transport.close)
    assert peer.pongs[-1] is True


def test_send_and_ping_reach_the_server(twin: Twin, peer: Peer) -> None:
    transport = twin.connect(f"{peer.url}/echo")
    try:
        twin.call(transport.ping)
        for text in ("hello", "é" * 100_000, ""):
            twin.call(transport.send, text)
            assert twin.receive(transport, 1) == [[text]]
    finally:
        twin.call(transport.close)


def test_silence_past_the_timeout_leaves_the_connection_usable(twin: Twin, peer: Peer) -> None:
    transport = twin.connect(f"{peer.url}/silent")
    try:
        started = time.monotonic()
        with pytest.raises(TransportClosed, match=r"no frame within 0\.2 s") as closed:
            twin.call(transport.recv_batch, 0.2)
        assert closed.value.code is None
        assert 0.15 < time.monotonic() - started < 5
        twin.call(transport.send, "waiting")
        assert twin.receive(transport, 1) == [["after waiting"]]
    finally:
        twin.call(transport.close)


@pytest.mark.parametrize("how", ["close", "abort"])
def test_close_and_abort_wake_a_blocked_reader(twin: Twin, peer: Peer, how: str) -> None:
    peer.closed.clear()
    transport = twin.connect(f"{peer.url}/echo")
    reading = twin.start(transport.recv_batch)
    time.sleep(0.2)
    assert not reading.done()
    twin.call(getattr(transport, how))
    with pytest.raises(TransportClosed):
        reading.result(TIMEOUT)
    assert peer.closed.wait(TIMEOUT)
    if how == "close":
        assert peer.close_codes[-1] == CloseCode.NORMAL_CLOSURE  # the closing handshake
    with pytest.raises(TransportClosed):
        twin.call(transport.send, "too late")


def test_tls_is_verified_by_default(twin: Twin, tls_peer: tuple[Peer, Path]) -> None:
    peer, _ = tls_peer
    with pytest.raises(TransportError, match=r"(?i)certificate"):
        twin.connect(f"{peer.url}/echo")


def test_tls_trusts_the_ca_of_the_context_given(twin: Twin, tls_peer: tuple[Peer, Path]) -> None:
    peer, ca = tls_peer
    trusting = ssl.create_default_context(cafile=str(ca))
    size, count = 3 * CHUNK + 1, 4  # across TLS records (16 KiB) and read chunks
    transport = twin.connect(f"{peer.url}/frames?size={size}&count={count}", ssl_context=trusting)
    try:
        texts = [text for batch in twin.receive(transport, count) for text in batch]
    finally:
        twin.call(transport.close)
    assert texts == [f"{i:06d}" + "x" * (size - 6) for i in range(count)]


def test_a_refused_handshake_gives_the_status_and_body(twin: Twin, peer: Peer) -> None:
    with pytest.raises(HandshakeRejected) as refused:
        twin.connect(f"{peer.url}/refuse", headers={"Authorization": "Bearer sk-nope"})
    assert (refused.value.status_code, refused.value.body) == (401, "no such key\n")


def test_an_unreachable_server_or_a_bad_url_is_a_transport_error(twin: Twin) -> None:
    with pytest.raises(TransportError):
        twin.connect("ws://127.0.0.1:1/")
    with pytest.raises(TransportError):
        twin.connect("http://example.invalid/")


def test_a_silent_server_times_the_handshake_out(twin: Twin) -> None:
    listener = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    try:
        started = time.monotonic()
        with pytest.raises(TransportError):
            twin.connect(f"ws://127.0.0.1:{listener.getsockname()[1]}/", open_timeout=0.3)
        assert time.monotonic() - started < 5
    finally:
        listener.close()


# --- the asyncio twin's own promises ---------------------------------------------------------


async def test_asyncio_recv_batch_lets_other_tasks_run_before_it_returns(peer: Peer) -> None:
    transport = await _asyncio_backend.connect(
        f"{peer.url}/frames?size=10&count=100", headers={}, open_timeout=TIMEOUT, max_size=None
    )
    try:
        await asyncio.sleep(0.3)  # the frames are parsed and waiting: no need to suspend
        ran: list[bool] = []
        asyncio.get_running_loop().call_soon(ran.append, True)
        batch = await transport.recv_batch(TIMEOUT)
        assert ran and len(batch) == 100
    finally:
        await transport.close()


async def test_asyncio_reading_pauses_while_too_many_texts_wait(peer: Peer) -> None:
    transport = await _asyncio_backend.connect(
        f"{peer.url}/frames?size=10&count=50000", headers={}, open_timeout=TIMEOUT, max_size=None
    )
    try:
        await asyncio.sleep(0.5)
        assert transport._paused
        waiting = len(transport._texts)
        assert _asyncio_backend._HIGH_WATER < waiting < 50_000
        texts: list[str] = []
        while len(texts) < 50_000:
            texts += await transport.recv_batch(TIMEOUT)
        assert [int(t[:6]) for t in texts] == list(range(50_000))
        assert not transport._paused
    finally:
        await transport.close()
