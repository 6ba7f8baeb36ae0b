"""A real TCP proxy between client and engine that can cut, stall, slow and refuse connections.

Loopback only; threads, so it serves both flavours' tests alike.
"""

from __future__ import annotations

import socket
import struct
import threading
import time


class FaultyProxy:
    """Forwards ``127.0.0.1:port`` to the target, with faults on demand."""

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
        self.accepted = 0
        self._threads: list[threading.Thread] = []
        self._spawn(self._accept_loop)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1"

    # --- faults -------------------------------------------------------------------------------

    def cut(self) -> int:
        """Reset every open connection at once (as a network failure would); how many."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                _reset(sock)
        return len(pairs)

    def stall(self) -> None:
        """Keep connections open but forward nothing (a silent, dead peer)."""
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def slow(self, delay: float) -> None:
        """Hold every chunk for ``delay`` seconds before forwarding it."""
        self._delay = delay

    def refuse(self, refusing: bool = True) -> None:
        """Close new connections at once (the engine is gone)."""
        self._refusing = refusing

    def retarget(self, target_port: int) -> None:
        """Send new connections to another port (a restarted engine)."""
        self.target = (self.target[0], target_port)

    def close(self) -> None:
        self._closed = True
        self._flowing.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept(); close() alone does not
        except OSError:
            pass
        self._listener.close()
        self.cut()
        for thread in self._threads:
            thread.join(timeout=10)

    def __enter__(self) -> FaultyProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- plumbing -----------------------------------------------------------------------------

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._refusing:
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
