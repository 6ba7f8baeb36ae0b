"""The engine process: ``python -m tests.bench._engine_host MAX_SESSIONS``.

What ``vectorshift-sessions engine --port 0 --db :memory:`` runs (a ``LocalEngine`` in its own
event loop, the same banner line), plus what the benchmark needs of the process: its open-file
limit raised (one descriptor per connection: 10,000 sessions), and ``SIGUSR1`` to drop every
connection at once (``LocalEngine.cut_connections()``, for the soak), answered on stdout with
``cut N``. A signal, so the client process that measures can cut on its own clock.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from ._limits import raise_nofile


async def serve(max_sessions: int) -> None:
    from vectorshift_sessions.engine import LocalEngine

    engine = LocalEngine("127.0.0.1", 0, db=":memory:", max_sessions=max_sessions)
    await engine.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(
        signal.SIGUSR1, lambda: print(f"cut {engine.cut_connections()}", flush=True)
    )
    print(f"nofile {raise_nofile()}", flush=True)
    print(f"WebSocket: {engine.session_url}", flush=True)
    try:
        await stop.wait()
    finally:
        await engine.stop()


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.ERROR)
    raise_nofile()
    asyncio.run(serve(int(argv[0])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
