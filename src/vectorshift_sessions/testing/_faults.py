"""Network faults on demand: a TCP proxy that cuts, stalls, slows and refuses, and a rogue engine.

Both run in threads on loopback, so they serve tests of either flavour alike.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from websockets.sync.server import ServerConnection

__all__ = ["GARBAGE", "FaultyProxy", "RogueEngine"]


class _OnLoopback:
    """Something clients reach at ``127.0.0.1:port``: its URLs, as the client takes them."""

    port: int

    @property
    def ws_url(self) -> str:
        """The WebSocket base (what ``VECTORSHIFT_WS_URL`` takes)."""
        return f"ws://127.0.0.1:{self.port}/v1"

    @property
    def base_url(self) -> str:
        """The REST base (what ``VECTORSHIFT_BASE_URL`` takes)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def env(self) -> dict[str, str]:
        """``VECTORSHIFT_BASE_URL`` and ``VECTORSHIFT_WS_URL`` pointing here.

        Returns:
            The environment variables, for ``os.environ.update()`` or ``monkeypatch.setenv``.
        """
        return {"VECTORSHIFT_BASE_URL": self.base_url, "VECTORSHIFT_WS_URL": self.ws_url}


class FaultyProxy(_OnLoopback):
    """Forwards connections to ``127.0.0.1:port`` on to the engine, with faults on demand.

    Point a client at `ws_url` / `base_url` (or set `env`): the WebSocket and
    the REST calls go through the proxy, which is a plain TCP relay until told otherwise::

        with LocalEngine(db=":memory:") as engine, FaultyProxy(engine.port) as proxy:
            session = Session(owner_id="agent-echo", owner_type="agent", ws_url=proxy.ws_url)
            proxy.cut()          # every connection reset, as a network failure would

    Args:
        target_port: The port to forward to (the engine's).
        target_host: The host to forward to.

    Attributes:
        port: The port the proxy listens on.
        target: Where it forwards new connections, as ``(host, port)``.
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._flowing = threading.Event()
        self._flowing.set()
        self._refusing = False
        self._delay = 0.0
        self._closed = False
        #: How many connections were accepted and forwarded so far.
        self.accepted = 0
        self._threads: list[threading.Thread] = []
        self._spawn(self._accept_loop)

    # --- faults -------------------------------------------------------------------------------

    def cut(self) -> int:
        """Reset every open connection at once (as a network failure would).

        Returns:
            How many connections were reset.
        """
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                _reset(sock)
        return len(pairs)

    def stall(self) -> None:
        """Keep connections open but forward nothing (a silent, dead peer) until `resume`."""
        self._flowing.clear()

    def resume(self) -> None:
        """Forward again after `stall`; what was held back goes through."""
        self._flowing.set()

    def slow(self, delay: float) -> None:
        """Hold every chunk for ``delay`` seconds before forwarding it (``0`` for full speed).

        Args:
            delay: Seconds to hold each chunk.
        """
        if delay < 0:
            raise ValueError(f"delay must be >= 0 seconds, got {delay}")
        self._delay = delay

    def refuse(self, refusing: bool = True) -> None:
        """Reset new connections at once (the engine is gone); ``refuse(False)`` to stop.

        Args:
            refusing: Whether to refuse new connections.
        """
        self._refusing = refusing

    def retarget(self, target_port: int) -> None:
        """Send new connections to another port (an engine that came back elsewhere).

        Args:
            target_port: The port to forward new connections to.
        """
        self.target = (self.target[0], target_port)

    def close(self) -> None:
        """Stop accepting, reset every connection and join the proxy's threads. Idempotent."""
        self._closed = True
        self._flowing.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept(); close() alone does not
        except OSError:
            pass
        self._listener.close()
        self.cut()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=10)

    def __enter__(self) -> FaultyProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- plumbing -----------------------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(
            target=target, args=args, name="vectorshift-faulty-proxy", daemon=True
        )
        thread.start()
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._refusing or self._closed:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._pairs.append((client, upstream))
                self.accepted += 1
            self._spawn(self._pump, client, upstream)
            self._spawn(self._pump, upstream, client)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                chunk = source.recv(65536)
                if not chunk:
                    break
                self._flowing.wait()
                if self._delay:
                    time.sleep(self._delay)  # the fault being simulated, not synchronisation
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            with self._lock:  # a closed connection is no longer there to cut
                self._pairs = [p for p in self._pairs if source not in p]
            _reset(source)
            _reset(sink)


def _reset(sock: socket.socket) -> None:
    """Close with RST, not FIN: the peer sees an abrupt failure. SHUT_RD first wakes a thread
    blocked in recv() on it (closing alone does not)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


GARBAGE = (
    "not json at all",
    "[1, 2, 3]",
    '{"type": 5}',
    '{"no_type": true}',
    '{"type": "message_delta", "value": 3}',
    '{"type": "message_notification", "message": "not an object"}',
    '{"type": "a_frame_from_the_future", "session_id": "s"}',
)
"""What `RogueEngine` sends by default after acknowledging a post, in this order: none
of it is a frame a client can use (the last, a frame type from the future, is well formed).
"""


class RogueEngine(_OnLoopback):
    """An engine that speaks just enough of the protocol, then sends garbage among good frames.

    Creating, connecting, pings, history (always empty), disconnecting and terminating work;
    every post (``post_message`` or ``post_messages``) is acknowledged, then the engine sends
    ``garbage`` (raw texts), then a good one-delta answer ``"fine"`` and ``Idle``. For testing
    that code survives a misbehaving peer. It serves no REST: `base_url` answers every
    request with an error, so nothing reaches the hosted API by mistake.

    Args:
        garbage: The raw texts to send after each acknowledgement; ``GARBAGE`` by default.

    Attributes:
        port: The port it listens on.
        garbage: The raw texts it sends.
    """

    def __init__(self, garbage: Sequence[str] = GARBAGE):
        from websockets.sync.server import serve

        self.garbage = tuple(garbage)
        self._server = serve(self._handle, "127.0.0.1", 0)
        self.port: int = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="vectorshift-rogue-engine", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving and join the server's thread."""
        self._server.shutdown()
        self._thread.join(timeout=10)

    def __enter__(self) -> RogueEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _handle(self, ws: ServerConnection) -> None:
        from .. import _codec as codec
        from ..engine import _frames

        def send(frame: dict[str, Any]) -> None:
            ws.send(codec.dumps(frame))

        for text in ws:
            try:
                frame = json.loads(text)
                kind, sid = frame["type"], frame.get("session_id", "rogue-session")
            except (ValueError, TypeError, KeyError):
                send(_frames.error_frame("not a frame"))
                continue
            if kind == "create_session":
                send(_frames.session_created("rogue-session"))
            elif kind == "connect_session":
                send(_frames.connect_ack(sid))
            elif kind in ("post_message", "post_messages"):
                send(_frames.post_ack(kind, sid))
                send(_frames.participant_status(sid, "Processing"))
                for bad in self.garbage:
                    ws.send(bad)
                message = _frames.stored_message(
                    "m1",
                    sid,
                    _frames.object_sender("agent-x", "agent"),
                    _frames.text_content("fine"),
                )
                send(_frames.message_delta(sid, "m1", "fine", 0))
                send(_frames.message_notification(message))
                send(_frames.participant_status(sid, "Idle"))
            elif kind == "get_messages":
                send(_frames.history(sid, []))
            elif kind == "ping_session":
                send(_frames.pong(sid))
            elif kind == "disconnect_session":
                send(_frames.disconnect_ack(sid))
            elif kind == "terminate_session":
                send(_frames.terminate_ack(sid))
            else:
                send(_frames.error_frame(f"unknown frame type {kind!r}", kind, sid))
