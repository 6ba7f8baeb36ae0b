"""What OpenTelemetry costs the hot path (frames in -> events out through ``listen()``).

Each measurement is one client process, in one of three modes:

- ``absent``: opentelemetry cannot be imported (``sys.modules["opentelemetry"] = None`` before
  anything imports it), as without the ``otel`` extra;
- ``off``: opentelemetry-api imported, no provider configured (the globals are the API's
  placeholders): tracing off, what most installations with the extra run;
- ``sdk``: an SDK ``TracerProvider`` (a batch processor to an exporter that drops the spans)
  and ``MeterProvider`` (an in-memory reader) given to the session: recording, for
  information.

Per process: a warm-up turn, ``turns`` timed turns of ``deltas`` deltas (events per second),
then ``short`` one-delta turns timed one by one (what a turn's start and end cost: the
per-turn decision and, recording, the span); and, in the same process, the hot path alone
(``core``: a turn's frames fed to the session's core in 64-frame batches, read by one
listener's cursor, no socket), which the machine's other load disturbs far less. Modes and flavours interleave, a fresh process
each, so a slow moment of the machine lands on no one mode; the ratio ``off / absent`` is the
number that must stay at 1.0.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
from collections.abc import Callable
from time import perf_counter
from typing import Any

MODES = ["absent", "off", "sdk"]
CLIENTS = ["ours-async", "ours-sync"]


def _providers(mode: str) -> dict[str, Any]:
    """The session's options for ``mode`` (called before anything imports the package)."""
    if mode == "absent":
        sys.modules["opentelemetry"] = None  # type: ignore[assignment]  # blocks every import
        return {}
    import opentelemetry.metrics
    import opentelemetry.trace  # noqa: F401  # imported: the api is there, and costs nothing

    if mode == "off":
        return {}
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Dropped(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Dropped()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return {"tracer_provider": tracer_provider, "meter_provider": meter_provider}


def worker(
    client: str, ws_base: str, mode: str, deltas: int, turns: int, warmup: int, short: int
) -> dict[str, Any]:
    options = _providers(mode)
    from . import _clients

    adapter: Any = (_clients.OursAsync if client == "ours-async" else _clients.OursSync)(**options)
    seconds: list[float] = []
    received: list[int] = []
    short_us: list[float] = []

    def timed(count: int, elapsed: float) -> None:
        seconds.append(elapsed)
        received.append(count)

    async def run_async() -> None:
        await adapter.open(ws_base)
        await adapter.turn(str(warmup))
        for _ in range(turns):
            start = perf_counter()
            count, _first = await adapter.turn(str(deltas))
            timed(count, perf_counter() - start)
        for _ in range(short):
            start = perf_counter()
            await adapter.turn("1")
            short_us.append((perf_counter() - start) * 1e6)
        await adapter.close()

    def run_sync() -> None:
        adapter.open(ws_base)
        adapter.turn(str(warmup))
        for _ in range(turns):
            start = perf_counter()
            count, _first = adapter.turn(str(deltas))
            timed(count, perf_counter() - start)
        for _ in range(short):
            start = perf_counter()
            adapter.turn("1")
            short_us.append((perf_counter() - start) * 1e6)
        adapter.close()

    if client == "ours-async":
        asyncio.run(run_async())
    else:
        run_sync()
    core_rates = _core_rates(options, deltas, turns + 2)
    errors = [f"turn {i}: {n} of {deltas} deltas" for i, n in enumerate(received) if n != deltas]
    loaded = "opentelemetry.trace" in sys.modules
    if loaded != (mode != "absent"):
        errors.append(f"mode {mode}: opentelemetry {'loaded' if loaded else 'not loaded'}")
    for provider in options.values():
        provider.shutdown()
    return {
        "rates": [n / s for n, s in zip(received, seconds, strict=True)],
        "core_rates": core_rates,
        "short_us": short_us,
        "errors": errors,
    }


def _core_rates(options: dict[str, Any], deltas: int, turns: int) -> list[float]:
    """Frames in -> events out, in process: each turn posted through the session's hooks (so
    a recording mode records it), then its frames fed to the core, drained by a cursor."""
    from vectorshift_sessions import _codec as codec
    from vectorshift_sessions._core import SessionCore
    from vectorshift_sessions._eventlog import Cursor
    from vectorshift_sessions._telemetry import SessionTelemetry
    from vectorshift_sessions.engine import _frames

    from . import _clients

    sid = "bench-session"
    dumps = _clients._dumps
    status = [dumps(_frames.participant_status(sid, s)) for s in ("Processing", "Idle")]
    frames = [dumps(_frames.message_delta(sid, "m1", "x", i)) for i in range(deltas)]
    batches = [frames[i : i + 64] for i in range(0, deltas, 64)]
    rates = []
    for _ in range(turns):
        core = SessionCore(sid, 10_000)
        core.telemetry = SessionTelemetry(
            core,
            "agent",
            "agent-bench",
            options.get("tracer_provider"),
            options.get("meter_provider"),
        )
        cursor = Cursor()
        core.log.subscribe(cursor)
        start = perf_counter()
        core.telemetry.begin(codec.PostMessage(sid, "go"))
        core.receive(status[:1])
        got = 0
        for batch in batches:
            core.receive(batch)
            core.log.refill(cursor)
            got += len(cursor.batch)
        core.receive(status[1:])
        rates.append(deltas / (perf_counter() - start))
    return rates


def scenario(
    cfg: dict[str, Any],
    ws_base: str,
    run_worker: Callable[[dict[str, Any]], dict[str, Any]],
    log: Callable[[str], None],
) -> dict[str, Any]:
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {(c, m): [] for c in CLIENTS for m in MODES}
    for round_no in range(cfg["telemetry_rounds"]):
        for client in CLIENTS:
            for mode in MODES:
                task = {
                    "task": "telemetry",
                    "client": client,
                    "ws_base": ws_base,
                    "mode": mode,
                    "deltas": cfg["deltas"],
                    "turns": cfg["telemetry_turns"],
                    "warmup": cfg["warmup"],
                    "short": cfg["telemetry_short_turns"],
                }
                run = run_worker(task)
                runs[client, mode].append(run)
                rate = statistics.median(run.get("rates") or [0.0])
                log(f"  telemetry round {round_no + 1} {client} {mode}: {rate:,.0f} events/s")
    result: dict[str, Any] = {}
    for client in CLIENTS:
        entry: dict[str, Any] = {}
        for mode in MODES:
            rates = [r for run in runs[client, mode] for r in run.get("rates", [])]
            core = [r for run in runs[client, mode] for r in run.get("core_rates", [])]
            short = [u for run in runs[client, mode] for u in run.get("short_us", [])]
            entry[mode] = {
                "rates": rates,
                "median": statistics.median(rates) if rates else 0.0,
                "best": max(rates, default=0.0),
                "core_median": statistics.median(core) if core else 0.0,
                "short_p50_us": statistics.median(short) if short else 0.0,
                "errors": [e for run in runs[client, mode] for e in run.get("errors", [])],
            }
        absent, absent_best = entry["absent"]["median"], entry["absent"]["best"]
        absent_core = entry["absent"]["core_median"]
        for mode in MODES:
            run = entry[mode]
            run["vs_absent"] = run["median"] / absent if absent else None
            run["best_vs_absent"] = run["best"] / absent_best if absent_best else None
            run["core_vs_absent"] = run["core_median"] / absent_core if absent_core else None
        result[client] = entry
        log(
            f"  telemetry {client}: off / absent {_x(entry['off']['vs_absent'])} (medians), "
            f"{_x(entry['off']['best_vs_absent'])} (bests); sdk / absent "
            f"{_x(entry['sdk']['vs_absent'])} (medians), {_x(entry['sdk']['best_vs_absent'])} "
            f"(bests); core alone: off / absent {_x(entry['off']['core_vs_absent'])}, "
            f"sdk / absent {_x(entry['sdk']['core_vs_absent'])}"
        )
    return result


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}x"


def report(results: dict[str, Any]) -> list[str]:
    """The results.md section (nothing when the scenario did not run)."""
    if "telemetry" not in results:
        return []
    cfg = results["config"]
    out = [
        "## OpenTelemetry's cost (tracing off vs not installed)",
        "",
        f"One turn of {cfg['deltas']:,} deltas through `listen()`, {cfg['telemetry_turns']} per "
        f"process, {cfg['telemetry_rounds']} processes per mode, interleaved; then "
        f"{cfg['telemetry_short_turns']} one-delta turns timed one by one. `absent`: "
        "opentelemetry not importable; `off`: opentelemetry-api imported, no provider "
        "configured; `sdk`: an SDK tracer and meter provider given to the session "
        "(recording, for information). Target: `off` costs nothing measurable (1.0x). On a "
        "busy machine the best turn of each mode is the steadier comparison.",
        "",
        "| client | mode | events/s (median) | vs absent | best | vs absent | "
        "core alone, events/s | vs absent | one-delta turn p50 (us) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for client, entry in results["telemetry"].items():
        for mode in MODES:
            run = entry[mode]
            out.append(
                f"| {client} | {mode} | {run['median']:,.0f} | {_x(run['vs_absent'])} | "
                f"{run['best']:,.0f} | {_x(run['best_vs_absent'])} | "
                f"{run['core_median']:,.0f} | {_x(run['core_vs_absent'])} | "
                f"{run['short_p50_us']:,.0f} |"
            )
    errors = [
        f"{client} {mode}: {e}"
        for client, entry in results["telemetry"].items()
        for mode in MODES
        for e in entry[mode]["errors"]
    ]
    out += [""] + [f"- error: {e}" for e in errors] + ([""] if errors else [])
    return out
