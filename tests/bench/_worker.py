"""One measurement in a fresh client process: ``python -m tests.bench._worker '<json task>'``.

The task names what to measure (``throughput``, ``listeners``, ``latency``, ``scale``,
``threads``, ``default_listen``, ``resume``, ``soak``), the client and the engine's WebSocket base; the result is printed as one
line ``BENCH-RESULT <json>`` on stdout. A fresh process per measurement keeps clients from
sharing imports, allocator state or a GIL with each other (or with the engine).
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from time import perf_counter
from typing import Any

import psutil

from . import _clients
from ._limits import raise_nofile
from ._resume import resume
from ._soak import soak
from ._telemetry import worker as telemetry

MARKER = "BENCH-RESULT "


def _rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


def _run(flavour: str, fn: Callable[[], Any]) -> Any:
    return asyncio.run(fn()) if flavour == "async" else fn()


# --- stream throughput -----------------------------------------------------------------------


def throughput(client: str, ws_base: str, deltas: int, rounds: int, warmup: int) -> dict[str, Any]:
    """One session; a warm-up turn, then ``rounds`` turns of ``deltas`` deltas, each timed from
    just before sending the post to the turn's Idle."""
    adapter = _clients.make(client)
    seconds: list[float] = []
    received: list[int] = []

    async def run_async() -> None:
        await adapter.open(ws_base)
        await adapter.turn(str(warmup))
        for _ in range(rounds):
            start = perf_counter()
            count, _first = await adapter.turn(str(deltas))
            seconds.append(perf_counter() - start)
            received.append(count)
        await adapter.close()

    def run_sync() -> None:
        adapter.open(ws_base)
        adapter.turn(str(warmup))
        for _ in range(rounds):
            start = perf_counter()
            count, _first = adapter.turn(str(deltas))
            seconds.append(perf_counter() - start)
            received.append(count)
        adapter.close()

    flavour = _clients.flavour(client)
    _run(flavour, run_async if flavour == "async" else run_sync)
    errors = [f"round {i}: {n} of {deltas} deltas" for i, n in enumerate(received) if n != deltas]
    return {
        "rates": [n / s for n, s in zip(received, seconds, strict=True)],
        "seconds": seconds,
        "received": received,
        "errors": errors,
    }


# --- several listeners on one session --------------------------------------------------------


def listeners(
    client: str, ws_base: str, count: int, deltas: int, rounds: int, warmup: int, timeout: float
) -> dict[str, Any]:
    """One session; ``count`` listeners (``listen(maxsize=0)``, each iterated by its own task or
    thread, all subscribed before the send) read a warm-up turn, then ``rounds`` turns of
    ``deltas`` deltas. A round's rate: the events all listeners received, summed, over the time
    from just before the send to the last listener seeing the turn's end."""
    adapter = _clients.make(client)
    runs: list[Any] = []

    async def run_async() -> None:
        await adapter.open(ws_base)
        await asyncio.wait_for(adapter.fan_out(str(warmup), count), timeout)
        for _ in range(rounds):
            runs.append(await asyncio.wait_for(adapter.fan_out(str(deltas), count), timeout))
        await adapter.close()

    def run_sync() -> None:
        adapter.open(ws_base)
        adapter.fan_out(str(warmup), count, timeout)
        for _ in range(rounds):
            runs.append(adapter.fan_out(str(deltas), count, timeout))
        adapter.close()

    flavour = _clients.flavour(client)
    _run(flavour, run_async if flavour == "async" else run_sync)
    errors = [
        f"round {r}, listener {i}: {n} of {deltas} deltas"
        for r, run in enumerate(runs)
        for i, n in enumerate(run.deltas)
        if n != deltas
    ]
    return {
        "rates": [sum(run.events) / run.wall for run in runs],
        "seconds": [run.wall for run in runs],
        "events": [sum(run.events) for run in runs],
        # each listener's own end, seconds after the send: how evenly they were served
        "listener_ends": [[end - run.start for end in run.ends] for run in runs],
        "errors": errors,
    }


# --- latency ---------------------------------------------------------------------------------


#: Latency samples per session: the engine reads a session's history at every post, so a
#: long-lived session would slowly add its own time to every sample.
SAMPLES_PER_SESSION = 50


def latency(client: str, ws_base: str, kind: str, samples: int, warmup: int) -> dict[str, Any]:
    """``first_delta``: from just before sending a one-delta post to its delta arriving.
    ``ping``: from sending ``ping_session`` to its ``pong`` arriving. Heartbeats are off, so
    no stray pong lands in a sample. A fresh session every ``SAMPLES_PER_SESSION`` samples,
    its first sample discarded."""
    adapter = _clients.make(client, quiet=True)
    times: list[float] = []

    async def one_async() -> float:
        if kind == "ping":
            return float(await adapter.ping())
        start = perf_counter()
        _count, first = await adapter.turn("1")
        return float(first - start)

    def one_sync() -> float:
        if kind == "ping":
            return float(adapter.ping())
        start = perf_counter()
        _count, first = adapter.turn("1")
        return float(first - start)

    async def run_async() -> None:
        nonlocal adapter
        await adapter.open(ws_base)
        for i in range(warmup + samples):
            if i > warmup and (i - warmup) % SAMPLES_PER_SESSION == 0:
                await adapter.close()
                adapter = _clients.make(client, quiet=True)
                await adapter.open(ws_base)
                await one_async()
            value = await one_async()
            if i >= warmup:
                times.append(value)
        await adapter.close()

    def run_sync() -> None:
        nonlocal adapter
        adapter.open(ws_base)
        for i in range(warmup + samples):
            if i > warmup and (i - warmup) % SAMPLES_PER_SESSION == 0:
                adapter.close()
                adapter = _clients.make(client, quiet=True)
                adapter.open(ws_base)
                one_sync()
            value = one_sync()
            if i >= warmup:
                times.append(value)
        adapter.close()

    flavour = _clients.flavour(client)
    _run(flavour, run_async if flavour == "async" else run_sync)
    return {"us": [t * 1e6 for t in times], "errors": []}


# --- many concurrent async sessions ----------------------------------------------------------


def scale(
    client: str,
    ws_base: str,
    sessions: int,
    deltas: int,
    concurrency: int,
    time_limit: float | None = None,
    engine_pid: int | None = None,
) -> dict[str, Any]:
    """Connect ``sessions`` sessions (``concurrency`` handshakes at a time), measure the RSS they
    add, then stream one turn of ``deltas`` deltas in every one of them at once.

    ``time_limit`` (seconds, per phase: connect, stream, close) stops a client too slow for the
    count: what it reached is reported, the rest counted as errors. ``engine_pid``: the engine
    process's RSS and open descriptors are read once all are connected (did it hold them?)."""
    errors: list[str] = []
    engine = psutil.Process(engine_pid) if engine_pid else None

    def engine_now() -> dict[str, int]:
        return {"rss": engine.memory_info().rss, "fds": engine.num_fds()} if engine else {}

    async def phase(what: str, coros: list[Any]) -> tuple[list[Any], float]:
        """Run them all, up to ``time_limit``; each one's outcome (an exception, or None for
        one stopped at the limit) and the phase's wall time."""
        start = perf_counter()
        tasks = [asyncio.ensure_future(c) for c in coros]
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=time_limit)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        seconds = perf_counter() - start
        outcomes: list[Any] = []
        for task in tasks:
            if task.cancelled():
                errors.append(f"{what}: not done within the {time_limit} s limit")
                outcomes.append(None)
            elif task.exception() is not None:
                errors.append(f"{what}: {task.exception()!r}")
                outcomes.append(task.exception())
            else:
                outcomes.append(task.result())
        return outcomes, seconds

    async def run() -> dict[str, Any]:
        warm = _clients.make(client)  # imports and one-time allocations are not per session
        await warm.open(ws_base)
        await warm.turn("10")
        await warm.close()
        del warm
        rss_before = _rss()
        adapters = [_clients.make(client) for _ in range(sessions)]
        gate = asyncio.Semaphore(concurrency)

        async def open_one(adapter: Any) -> Any:
            async with gate:
                await adapter.open(ws_base)
            return adapter

        opened, connect_seconds = await phase("connect", [open_one(a) for a in adapters])
        live = [a for a, outcome in zip(adapters, opened, strict=True) if outcome is a]
        rss_connected = _rss()
        engine_connected = engine_now()

        turns, stream_seconds = await phase("turn", [a.turn(str(deltas)) for a in live])
        received = streamed = 0
        for outcome in turns:
            if isinstance(outcome, tuple):
                if outcome[0] == deltas:
                    streamed += 1
                else:
                    errors.append(f"turn: {outcome[0]} of {deltas} deltas")
                received += outcome[0]
        rss_streamed = _rss()
        _closed, close_seconds = await phase("close", [a.close() for a in live])
        return {
            "sessions": sessions,
            "connected": len(live),
            "streamed": streamed,
            "connect_seconds": connect_seconds,
            "stream_seconds": stream_seconds,
            "close_seconds": close_seconds,
            "received": received,
            "rss_before": rss_before,
            "rss_connected": rss_connected,
            "rss_streamed": rss_streamed,
            "bytes_per_session": (rss_connected - rss_before) / max(1, len(live)),
            "bytes_per_session_streamed": (rss_streamed - rss_before) / max(1, len(live)),
            "engine_connected": engine_connected,
        }

    result = asyncio.run(run())
    result["errors"] = errors[:20]
    result["error_count"] = len(errors)
    # what went wrong, by kind (the first 20 errors alone may not show the pattern at 10,000)
    result["error_kinds"] = dict(Counter(e.split("(", 1)[0][:80] for e in errors).most_common(10))
    return result


# --- the blocking flavour under threads ------------------------------------------------------


def threads(client: str, ws_base: str, count: int, deltas: int) -> dict[str, Any]:
    """``count`` threads, each with its own blocking session, stream one turn of ``deltas``
    deltas at the same moment (a barrier); aggregate rate over the slowest thread's end."""
    adapters = [_clients.make(client) for _ in range(count)]
    errors: list[str] = []
    for adapter in adapters:
        try:
            adapter.open(ws_base)
        except Exception as exc:
            errors.append(f"connect: {exc!r}")
    ends: list[float] = []
    received: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(count + 1)

    def work(adapter: Any) -> None:
        barrier.wait()
        try:
            got, _first = adapter.turn(str(deltas))
        except Exception as exc:
            with lock:
                errors.append(f"turn: {exc!r}")
            return
        with lock:
            ends.append(perf_counter())
            received.append(got)
            if got != deltas:
                errors.append(f"turn: {got} of {deltas} deltas")

    workers = [threading.Thread(target=work, args=(a,), daemon=True) for a in adapters]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = perf_counter()
    for worker in workers:
        worker.join(300)
    wall = (max(ends) if ends else perf_counter()) - start
    for adapter in adapters:
        try:
            adapter.close()
        except Exception as exc:
            errors.append(f"close: {exc!r}")
    total = sum(received)
    return {
        "threads": count,
        "wall_seconds": wall,
        "received": total,
        "rate": total / wall if wall > 0 else 0.0,
        "errors": errors[:20],
        "error_count": len(errors),
    }


# --- listen() with its default queue bound ---------------------------------------------------


def default_listen(client: str, ws_base: str, deltas: int, timeout: float) -> dict[str, Any]:
    """One turn read through ``listen()`` with its default ``maxsize`` (1024), by a consumer that
    does nothing else: how many deltas arrive, and whether the turn's end does at all."""
    adapter = _clients.make(client)
    counts = {"deltas": 0, "overflow_notices": 0, "dropped": 0, "processing": 0}
    ended = {"turn_end": False}

    async def run_async() -> None:
        await adapter.open(ws_base)
        try:
            await asyncio.wait_for(adapter.drain(str(deltas), 1024, counts), timeout)
            ended["turn_end"] = True
        except asyncio.TimeoutError:
            pass
        await adapter.close()

    def run_sync() -> None:
        adapter.open(ws_base)
        # No timeout on a blocking listener: a watchdog disconnects, which ends listen().
        timer = threading.Timer(timeout, adapter.close)
        timer.start()
        try:
            adapter.drain(str(deltas), 1024, counts)
            ended["turn_end"] = timer.is_alive()
        finally:
            timer.cancel()
        adapter.close()

    flavour = _clients.flavour(client)
    _run(flavour, run_async if flavour == "async" else run_sync)
    counts.pop("processing")
    return {**counts, **ended, "expected": deltas, "errors": []}


TASKS: dict[str, Callable[..., dict[str, Any]]] = {
    "throughput": throughput,
    "listeners": listeners,
    "latency": latency,
    "scale": scale,
    "threads": threads,
    "default_listen": default_listen,
    "resume": resume,
    "telemetry": telemetry,
    "soak": soak,
}


def main(argv: list[str]) -> int:
    task = json.loads(argv[0])
    name = task.pop("task")
    nofile = raise_nofile()  # one descriptor per connection: the scale steps need thousands
    started = time.monotonic()
    result = TASKS[name](**task)
    result["worker_seconds"] = time.monotonic() - started
    result["nofile"] = nofile
    sys.stdout.write(MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
