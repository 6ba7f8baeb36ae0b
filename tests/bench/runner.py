"""Runs every scenario (each measurement in a fresh client process) against one engine process,
then writes ``results.json``, ``results.md`` and ``results.png``."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import _clients, _limits, _machine, _report, _resume, _telemetry
from ._engine import ROOT, EngineProcess
from ._worker import MARKER

FULL: dict[str, Any] = {
    "deltas": 100_000,  # one turn, per round
    "rounds": 7,
    "warmup": 2_000,
    "listener_counts": [1, 10],  # listeners on one session (same deltas, rounds and warm-up)
    "listener_timeout": 300.0,  # per turn
    "latency_samples": 500,
    "latency_passes": 5,
    "latency_warmup": 20,
    "scale_sessions": [10, 100, 500, 1000],
    "scale_deltas": 100,
    "scale_concurrency": 50,  # handshakes in flight at once
    "thread_counts": [1, 10, 100],
    "thread_total_deltas": 100_000,  # split over the threads
    "cold_runs": 7,
    "default_listen_deltas": 100_000,
    "resume_requests": 300,  # per client and pass
    "resume_passes": 3,
    "telemetry_rounds": 7,  # processes per flavour and mode
    "telemetry_turns": 3,  # turns of `deltas` deltas per process
    "telemetry_short_turns": 100,  # one-delta turns per process
    "scale10k_sessions": 10_000,  # in one client process, against one engine process
    "scale10k_deltas": 10,  # a short turn each
    "scale10k_concurrency": 100,  # handshakes in flight at once (the engine's backlog: 1,024)
    "scale10k_time_limit": 300.0,  # per phase: a client slower than this reports what it reached
    "soak_async": 500,
    "soak_sync": 50,  # threads, a blocking Session each
    "soak_turns": 200,  # per session
    "soak_cut_every": 5.0,  # seconds between cuts of every connection
    "soak_sample_every": 0.5,  # seconds between RSS samples
    "soak_time_limit": 1500.0,  # seconds of turns: then no new turn starts (what was done counts)
}
QUICK: dict[str, Any] = {
    **FULL,
    "deltas": 10_000,
    "rounds": 2,
    "warmup": 1_000,
    "latency_samples": 60,
    "latency_passes": 2,
    "latency_warmup": 10,
    "scale_sessions": [10, 100],
    "thread_total_deltas": 10_000,
    "cold_runs": 3,
    "default_listen_deltas": 10_000,
    "resume_requests": 60,
    "resume_passes": 2,
    "telemetry_rounds": 3,
    "telemetry_short_turns": 50,
    "scale10k_sessions": 1_000,
    "scale10k_time_limit": 120.0,
    "soak_async": 50,
    "soak_sync": 5,
    "soak_turns": 20,
    "soak_cut_every": 0.1,  # the quick soak lasts about a second: cut often enough to matter
    "soak_sample_every": 0.02,
}

THROUGHPUT_CLIENTS = [
    "ours-async",
    "official",
    "raw-websockets",
    "raw-aiohttp",
    "ours-sync",
    "raw-websockets-sync",
    "raw-websocket-client",
    "raw-websocket-client-skip",
    "raw-websocket-client-thread",
]
LATENCY_CLIENTS = [
    "ours-async",
    "official",
    "raw-websockets",
    "ours-sync",
    "raw-websocket-client-skip",
    "raw-websocket-client-thread",
]
SCALE_CLIENTS = ["ours-async", "official", "raw-websockets"]
THREAD_CLIENTS = ["ours-sync", "raw-websocket-client-skip"]
LISTENER_CLIENTS = ["ours-async", "ours-sync"]
DEFAULT_LISTEN_CLIENTS = ["ours-async", "official", "ours-sync"]
SCENARIOS = [
    "cold",
    "throughput",
    "listeners",
    "latency",
    "scale",
    "threads",
    "default_listen",
    "resume",
    "telemetry",
    "scale10k",
    "soak",
]
#: Scenarios that read the engine process itself (its pid, open-file limit, cuts).
ENGINE_SCENARIOS = ("scale10k", "soak")

COLD_SNIPPETS = {
    "python (nothing imported)": "pass",
    "import vectorshift_sessions": "import vectorshift_sessions",
    "from vectorshift_sessions import AsyncSession, Session": (
        "from vectorshift_sessions import AsyncSession, Session"
    ),
    "import vectorshift.session (official)": "import vectorshift.session",
}
_COLD_PROGRAM = """
import resource, time, json
start = time.perf_counter()
{snippet}
seconds = time.perf_counter() - start
rss = 0
with open("/proc/self/status") as status:
    for line in status:
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
if not rss:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({{"seconds": seconds, "rss": rss}}))
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_worker(task: dict[str, Any], timeout: float = 600) -> dict[str, Any]:
    """One measurement in a fresh process; its result, or ``{"failed": ...}``."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "tests.bench._worker", json.dumps(task)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:  # one stuck measurement must not end the whole run
        message = f"the worker did not finish within {timeout:.0f} s"
        return {"failed": message, "errors": [message]}
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            result: dict[str, Any] = json.loads(line[len(MARKER) :])
            return result
    tail = (proc.stderr or proc.stdout)[-2000:]
    return {"failed": f"exit {proc.returncode}: {tail}", "errors": [f"worker failed: {tail}"]}


# --- scenarios -------------------------------------------------------------------------------


def cold_start(cfg: dict[str, Any]) -> dict[str, Any]:
    """Import time and RSS after import, each in a fresh interpreter, interleaved, medians.

    Bytecode caching is on (as after ``pip install``, which compiles every module): the first
    pass writes the ``.pyc`` files an editable checkout may lack, and is not counted.
    """
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in COLD_SNIPPETS}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for run in range(cfg["cold_runs"] + 1):
        for name, snippet in COLD_SNIPPETS.items():
            out = subprocess.run(
                [sys.executable, "-c", _COLD_PROGRAM.format(snippet=snippet)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
                env=env,
            )
            if run:  # the first pass only warms the file cache and writes .pyc files
                samples[name].append(json.loads(out.stdout))
    result = {}
    for name, runs in samples.items():
        result[name] = {
            "ms": statistics.median(r["seconds"] for r in runs) * 1e3,
            "ms_all": [r["seconds"] * 1e3 for r in runs],
            "rss_mb": statistics.median(r["rss"] for r in runs) / 2**20,
        }
        log(f"  cold {name}: {result[name]['ms']:.0f} ms, {result[name]['rss_mb']:.1f} MB")
    return result


def throughput(cfg: dict[str, Any], ws_base: str) -> dict[str, Any]:
    """Rounds interleaved across clients (a fresh process per client and round), so a slow
    moment of the machine does not land on one client only."""
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in THROUGHPUT_CLIENTS}
    for round_no in range(cfg["rounds"]):
        for client in THROUGHPUT_CLIENTS:
            task = {
                "task": "throughput",
                "client": client,
                "ws_base": ws_base,
                "deltas": cfg["deltas"],
                "rounds": 1,
                "warmup": cfg["warmup"],
            }
            runs[client].append(run_worker(task))
            rate = runs[client][-1].get("rates", [0])[0]
            log(f"  throughput round {round_no + 1} {client}: {rate:,.0f} events/s")
    result = {}
    for client, worker_runs in runs.items():
        rates = [r for run in worker_runs for r in run.get("rates", [])]
        errors = [e for run in worker_runs for e in run.get("errors", [])]
        result[client] = {
            "label": _clients.label(client),
            "rates": rates,
            "median": statistics.median(rates) if rates else 0.0,
            "errors": errors,
        }
    return result


def listeners(cfg: dict[str, Any], ws_base: str) -> dict[str, Any]:
    """K listeners on one session read one turn (tasks for ``AsyncSession``, threads for
    ``Session``); events per second summed over the listeners. Rounds interleaved across
    flavours and K, a fresh process each, as in ``throughput``."""
    counts = cfg["listener_counts"]
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {
        (c, k): [] for c in LISTENER_CLIENTS for k in counts
    }
    for round_no in range(cfg["rounds"]):
        for client in LISTENER_CLIENTS:
            for count in counts:
                task = {
                    "task": "listeners",
                    "client": client,
                    "ws_base": ws_base,
                    "count": count,
                    "deltas": cfg["deltas"],
                    "rounds": 1,
                    "warmup": cfg["warmup"],
                    "timeout": cfg["listener_timeout"],
                }
                run = run_worker(task)
                runs[client, count].append(run)
                if "failed" in run:
                    log(f"  listeners round {round_no + 1} {client} x{count}: FAILED")
                    continue
                log(
                    f"  listeners round {round_no + 1} {client} x{count}: "
                    f"{run['rates'][0]:,.0f} events/s summed, {len(run['errors'])} errors"
                )
    result: dict[str, Any] = {}
    for client in LISTENER_CLIENTS:
        entry: dict[str, Any] = {"label": _clients.label(client), "counts": {}}
        for count in counts:
            worker_runs = runs[client, count]
            rates = [r for run in worker_runs for r in run.get("rates", [])]
            median = statistics.median(rates) if rates else 0.0
            entry["counts"][str(count)] = {
                "rates": rates,
                "median": median,
                "per_listener": median / count,
                "seconds": [s for run in worker_runs for s in run.get("seconds", [])],
                "listener_ends": [e for run in worker_runs for e in run.get("listener_ends", [])],
                "errors": [e for run in worker_runs for e in run.get("errors", [])],
            }
        result[client] = entry
    return result


def latency(cfg: dict[str, Any], ws_base: str) -> dict[str, Any]:
    """Samples taken in ``latency_passes`` passes, interleaved across clients (a fresh process
    each), then pooled: the engine's own timing drifts, and must not land on one client."""
    samples: dict[tuple[str, str], list[float]] = {}
    errors: dict[tuple[str, str], list[str]] = {}
    per_pass = cfg["latency_samples"] // cfg["latency_passes"]
    for _ in range(cfg["latency_passes"]):
        for client in LATENCY_CLIENTS:
            for kind in ("first_delta", "ping"):
                task = {
                    "task": "latency",
                    "client": client,
                    "ws_base": ws_base,
                    "kind": kind,
                    "samples": per_pass,
                    "warmup": cfg["latency_warmup"],
                }
                run = run_worker(task)
                samples.setdefault((client, kind), []).extend(run.get("us", []))
                errors.setdefault((client, kind), []).extend(run.get("errors", []))
    result: dict[str, Any] = {}
    for client in LATENCY_CLIENTS:
        result[client] = {"label": _clients.label(client)}
        for kind in ("first_delta", "ping"):
            us = sorted(samples[client, kind]) or [float("nan")]
            result[client][kind] = {
                "p50": _percentile(us, 50),
                "p99": _percentile(us, 99),
                "samples": len(samples[client, kind]),
                "errors": errors[client, kind],
            }
            log(
                f"  latency {client} {kind}: p50 {result[client][kind]['p50']:.0f} us, "
                f"p99 {result[client][kind]['p99']:.0f} us"
            )
    return result


def scale(cfg: dict[str, Any], ws_base: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for sessions in cfg["scale_sessions"]:
        for client in SCALE_CLIENTS:
            task = {
                "task": "scale",
                "client": client,
                "ws_base": ws_base,
                "sessions": sessions,
                "deltas": cfg["scale_deltas"],
                "concurrency": cfg["scale_concurrency"],
            }
            run = run_worker(task)
            run["label"] = _clients.label(client)
            result.setdefault(str(sessions), {})[client] = run
            if "failed" in run:
                log(f"  scale {sessions} {client}: FAILED {run['failed'][-300:]}")
                continue
            log(
                f"  scale {sessions} {client}: connect {run['connect_seconds']:.2f} s, stream "
                f"{run['stream_seconds']:.2f} s, {run['bytes_per_session'] / 1024:.1f} KB/session, "
                f"{run['error_count']} errors"
            )
    return result


def scale10k(cfg: dict[str, Any], engine: EngineProcess) -> dict[str, Any]:
    """``scale`` at 10,000 sessions, with what the count needs of both processes: open files
    (one per connection) and the engine's accept backlog."""
    sessions = cfg["scale10k_sessions"]
    result: dict[str, Any] = {
        "sessions": sessions,
        "engine_nofile": engine.nofile,
        "engine_backlog": engine.listen_backlog(),
        "somaxconn": _limits.somaxconn(),
        "concurrency": cfg["scale10k_concurrency"],
        "clients": {},
    }
    if engine.nofile is not None and _limits.too_low(engine.nofile, sessions):
        log(f"  scale10k: the engine's open-file limit ({engine.nofile}) is too low for {sessions}")
    for client in SCALE_CLIENTS:
        task = {
            "task": "scale",
            "client": client,
            "ws_base": engine.ws_base,
            "sessions": sessions,
            "deltas": cfg["scale10k_deltas"],
            "concurrency": cfg["scale10k_concurrency"],
            "time_limit": cfg["scale10k_time_limit"],
            "engine_pid": engine.pid,
        }
        run = run_worker(task, timeout=4 * cfg["scale10k_time_limit"] + 120)
        run["label"] = _clients.label(client)
        result["clients"][client] = run
        if "failed" in run:
            log(f"  scale10k {client}: FAILED {run['failed'][-300:]}")
            continue
        log(
            f"  scale10k {sessions} {client}: {run['connected']:,} connected in "
            f"{run['connect_seconds']:.1f} s, {run['streamed']:,} streamed in "
            f"{run['stream_seconds']:.1f} s, {run['bytes_per_session'] / 1024:.1f} KB/session, "
            f"{run['error_count']} errors, fd limit {run['nofile']}"
        )
    return result


def soak(cfg: dict[str, Any], engine: EngineProcess) -> dict[str, Any]:
    cuts_before = len(engine.cuts())
    task = {
        "task": "soak",
        "ws_base": engine.ws_base,
        "engine_pid": engine.pid,
        "async_sessions": cfg["soak_async"],
        "sync_sessions": cfg["soak_sync"],
        "turns": cfg["soak_turns"],
        "cut_every": cfg["soak_cut_every"],
        "sample_every": cfg["soak_sample_every"],
        "turn_timeout": 120.0,
        "time_limit": cfg["soak_time_limit"],
    }
    run = run_worker(task, timeout=cfg["soak_time_limit"] + 1800)
    run["connections_cut"] = engine.cuts()[cuts_before:]  # per cut, as the engine counted
    if "failed" in run:
        log(f"  soak: FAILED {run['failed'][-300:]}")
        return run
    totals = run["totals"]
    log(
        f"  soak: {run['turns']:,} of {run['turns_expected']:,} turns in "
        f"{run['turns_seconds']:.0f} s, {len(run['cut_times'])} cuts, RSS slope "
        f"{run['fit']['slope'] * 60 / 1024:,.0f} KB/min ({run['bytes_per_turn']:,.0f} B/turn), "
        f"lost {totals.get('lost')}, duplicated {totals.get('duplicated')}, "
        f"delivery unknown {totals.get('delivery_unknown')}, leftovers "
        f"{len(run['leftover_threads'])} threads / {len(run['leftover_tasks'])} tasks / "
        f"{len(run['leftover_sockets'])} sockets, {run['error_count']} errors"
    )
    return run


def threads(cfg: dict[str, Any], ws_base: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for count in cfg["thread_counts"]:
        for client in THREAD_CLIENTS:
            task = {
                "task": "threads",
                "client": client,
                "ws_base": ws_base,
                "count": count,
                "deltas": cfg["thread_total_deltas"] // count,
            }
            run = run_worker(task)
            run["label"] = _clients.label(client)
            run["deltas_per_thread"] = cfg["thread_total_deltas"] // count
            result.setdefault(str(count), {})[client] = run
            if "failed" in run:
                log(f"  threads {count} {client}: FAILED {run['failed'][-300:]}")
                continue
            log(
                f"  threads {count} {client}: {run['rate']:,.0f} events/s, wall "
                f"{run['wall_seconds']:.2f} s, {run['error_count']} errors"
            )
    return result


def default_listen(cfg: dict[str, Any], ws_base: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for client in DEFAULT_LISTEN_CLIENTS:
        task = {
            "task": "default_listen",
            "client": client,
            "ws_base": ws_base,
            "deltas": cfg["default_listen_deltas"],
            "timeout": 20.0,
        }
        run = run_worker(task)
        run["label"] = _clients.label(client)
        result[client] = run
        log(f"  default listen() {client}: {run}")
    return result


def resume(cfg: dict[str, Any], ws_base: str) -> dict[str, Any]:
    """A web request's pattern (resume by id, one turn, disconnect) against a turn on a kept
    connection; passes interleaved across clients, then pooled."""
    pooled: dict[str, dict[str, list[float]]] = {c: {} for c in _resume.CLIENTS}
    for _ in range(cfg["resume_passes"]):
        for client in _resume.CLIENTS:
            task = {
                "task": "resume",
                "client": client,
                "ws_base": ws_base,
                "requests": cfg["resume_requests"],
            }
            run = run_worker(task)
            for name in ("kept", "request"):
                pooled[client].setdefault(name, []).extend(run.get(name, []))
    result: dict[str, Any] = {}
    for client, times in pooled.items():
        kept = _percentile(sorted(times["kept"]), 50)
        request = _percentile(sorted(times["request"]), 50)
        result[client] = {
            "label": _clients.label(client),
            "kept_p50_us": kept,
            "request_p50_us": request,
            "resume_us": request - kept,
            "samples": len(times["request"]),
        }
        log(
            f"  resume {client}: turn on a kept connection {kept:.0f} us, "
            f"resume + turn + disconnect {request:.0f} us (+{request - kept:.0f} us)"
        )
    return result


def telemetry(cfg: dict[str, Any], ws_base: str) -> dict[str, Any]:
    """OpenTelemetry's cost: tracing off vs not installed (and recording), see _telemetry.py."""
    return _telemetry.scenario(cfg, ws_base, run_worker, log)


def _percentile(sorted_values: list[float], pct: float) -> float:
    if len(sorted_values) == 1:
        return sorted_values[0]
    rank = (len(sorted_values) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench",
        description=(
            "Benchmark vectorshift-sessions against the official client and the raw WebSocket "
            "floors; writes results.md, results.json and results.png."
        ),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=(
            "a short run: 10,000 deltas, 2 rounds, up to 100 concurrent sessions (1,000 for "
            "scale10k), a small soak"
        ),
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SCENARIOS,
        metavar="SCENARIO",
        help=f"run only these scenarios ({', '.join(SCENARIOS)})",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results", help="output directory")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = dict(QUICK if args.quick else FULL)
    chosen = args.only or SCENARIOS
    started = time.monotonic()
    results: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "config": cfg,
        "command": "python -m tests.bench" + (" --quick" if args.quick else ""),
        "machine": _machine.describe(),
        "load_before": list(os.getloadavg()),
    }
    log(f"benchmark ({results['mode']}): {', '.join(chosen)}")
    if "cold" in chosen:
        log("cold start")
        results["cold"] = cold_start(cfg)
    network = [s for s in chosen if s != "cold"]
    if network:
        with EngineProcess() as engine:
            log(f"engine: pid {engine.pid} at {engine.ws_base}")
            for name in network:
                log(name)
                target = engine if name in ENGINE_SCENARIOS else engine.ws_base
                results[name] = globals()[name](cfg, target)
    results["load_after"] = list(os.getloadavg())
    results["seconds"] = time.monotonic() - started
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    summary = _report.analyse(results)
    results["summary"] = summary
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "results.md").write_text(_report.markdown(results))
    _report.chart(results, args.out / "results.png")
    log(f"done in {results['seconds']:.0f} s: {args.out}/results.md, results.json, results.png")
    failures = summary["load_check_errors"]
    if failures:
        log(f"ERRORS: {failures}")
        return 1
    return 0
