"""Ratios and targets out of the raw results, and the results as Markdown and as a chart."""

from __future__ import annotations

import datetime
import math
from pathlib import Path
from typing import Any

from . import _telemetry
from ._limits import too_low

# design.md, "Performance targets"
TARGET_ASYNC_VS_OFFICIAL = 1.0  # "beating it is the longer goal"
TARGET_ASYNC_VS_RAW = 0.9
TARGET_SYNC_VS_RAW = 0.95  # over the best raw blocking loop
TARGET_LISTENERS = 3.0  # ten listeners on one session, summed, over a lone listener
TARGET_KB_PER_SESSION = 25.0
TARGET_IMPORT_MS = 100.0
TARGET_ADDED_LATENCY_US = 100.0
#: The soak's RSS is flat if the line fitted after the warm-up rises less than this share of
#: the RSS over the fitted window (noise and allocator pools aside, a leak rises steadily).
TARGET_SOAK_RISE = 0.02
SOAK_MIN_POINTS = 20
#: The soak's checks that must all be zero (each a count over every session).
SOAK_MUST_BE_ZERO = (
    "lost",
    "duplicated",
    "unexpected",
    "out_of_order",
    "unanswered_in_history",
    "answered_twice_in_history",
    "wrong_answer_in_history",
    "duplicate_ids",
    "not_answered",
    "answered_twice",
    "double_deliveries",
    "wrong_answers",
    "errors",
    "unchecked_sessions",
)

OURS_ASYNC, OURS_SYNC, OFFICIAL = "ours-async", "ours-sync", "official"
RAW_ASYNC, RAW_SYNC = "raw-websockets", "raw-websocket-client-skip"
#: The raw blocking loops; the ``Session`` target is over the best of them.
RAW_BLOCKING = ("raw-websocket-client-skip", "raw-websockets-sync")
IMPORT_OURS = "import vectorshift_sessions"
IMPORT_OURS_CLASSES = "from vectorshift_sessions import AsyncSession, Session"
IMPORT_OFFICIAL = "import vectorshift.session (official)"
IMPORT_NOTHING = "python (nothing imported)"


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return None
    return a / b


def _median(results: dict[str, Any], client: str) -> float | None:
    entry = results.get("throughput", {}).get(client)
    return entry["median"] if entry and entry["rates"] else None


def _best_raw_blocking(results: dict[str, Any]) -> tuple[str | None, float | None]:
    """The fastest raw blocking loop of the run (median), and its name."""
    measured = [(m, c) for c in RAW_BLOCKING if (m := _median(results, c)) is not None]
    if not measured:
        return None, None
    rate, client = max(measured)
    return client, rate


def _listeners_median(results: dict[str, Any], client: str, count: int) -> float | None:
    entry = results.get("listeners", {}).get(client, {}).get("counts", {}).get(str(count))
    return entry["median"] if entry and entry["rates"] else None


def _listeners_ratio(results: dict[str, Any], client: str) -> tuple[int, float | None]:
    """The most listeners measured, and their summed rate over a lone listener's."""
    counts = [int(k) for k in results.get("listeners", {}).get(client, {}).get("counts", {})]
    most = max(counts, default=1)
    return most, _ratio(
        _listeners_median(results, client, most), _listeners_median(results, client, 1)
    )


def _kb(run: dict[str, Any] | None) -> float | None:
    """RSS per connected session, KB (None for a run that failed or connected nothing)."""
    if not run or "failed" in run or not run.get("connected"):
        return None
    return float(run["bytes_per_session"]) / 1024


def soak_rise(run: dict[str, Any]) -> float | None:
    """The fitted line's rise over its window, as a share of the RSS at the window's start."""
    line = run.get("fit", {})
    slope, intercept = line.get("slope", math.nan), line.get("intercept", math.nan)
    if math.isnan(slope) or math.isnan(intercept) or line.get("points", 0) < SOAK_MIN_POINTS:
        return None  # too few samples to tell a slope from noise (a quick run)
    at_start = intercept + slope * line["start"]
    return float(slope * (line["end"] - line["start"]) / at_start) if at_start else None


def _growth_per_held_event(run: dict[str, Any]) -> float | None:
    """The client's RSS at the turns' end minus at their start, over the events the sessions'
    logs hold at the end."""
    marks, held = run["marks"], run["totals"].get("held_events", 0)
    before = [rss for t, rss in run["samples"] if t <= marks["turns_start"]]
    after = [rss for t, rss in run["samples"] if t <= marks["turns_end"]]
    if not before or not after or not held:
        return None
    return (after[-1] - before[-1]) / held


def soak_problems(run: dict[str, Any]) -> list[str]:
    """What the soak found wrong: nonzero checks, missing turns, leftovers."""
    if "failed" in run:
        return [f"soak failed: {run['failed'][-300:]}"]
    totals = run["totals"]
    problems = [f"{key} {totals[key]}" for key in SOAK_MUST_BE_ZERO if totals.get(key)]
    if run["turns"] != run["turns_expected"]:
        limit = " (the time limit stopped it)" if run.get("stopped_at_time_limit") else ""
        problems.append(f"{run['turns']} of {run['turns_expected']} turns done{limit}")
    for what in ("threads", "tasks", "sockets"):
        if run[f"leftover_{what}"]:
            problems.append(f"left over {what}: {run[f'leftover_{what}'][:5]}")
    return problems


def analyse(results: dict[str, Any]) -> dict[str, Any]:
    """Ratios, each design target with its measured value, and the load check's errors."""
    targets: list[dict[str, Any]] = []

    def target(
        key: str, name: str, measured: float | None, goal: str, met: bool | None, unit: str
    ) -> None:
        targets.append(
            {
                "id": key,
                "target": name,
                "measured": measured,
                "goal": goal,
                "met": met,
                "unit": unit,
            }
        )

    def at_least(value: float | None, goal: float) -> bool | None:
        return None if value is None else value >= goal

    ratios: dict[str, float | None] = {}
    if "throughput" in results:
        ours_a, ours_s = _median(results, OURS_ASYNC), _median(results, OURS_SYNC)
        ratios["async_vs_official"] = _ratio(ours_a, _median(results, OFFICIAL))
        ratios["async_vs_raw_websockets"] = _ratio(ours_a, _median(results, RAW_ASYNC))
        ratios["sync_vs_raw_websocket_client_skip"] = _ratio(ours_s, _median(results, RAW_SYNC))
        ratios["sync_vs_raw_websockets_sync"] = _ratio(
            ours_s, _median(results, "raw-websockets-sync")
        )
        best_client, best_rate = _best_raw_blocking(results)
        ratios["sync_vs_best_raw_blocking"] = _ratio(ours_s, best_rate)
        ratios["official_vs_raw_websockets"] = _ratio(
            _median(results, OFFICIAL), _median(results, RAW_ASYNC)
        )
        r = ratios["async_vs_raw_websockets"]
        target(
            "async_vs_raw",
            "AsyncSession.listen() vs raw websockets asyncio loop",
            r,
            f">= {TARGET_ASYNC_VS_RAW:.2f}x",
            at_least(r, TARGET_ASYNC_VS_RAW),
            "x",
        )
        r = ratios["sync_vs_best_raw_blocking"]
        best = results["throughput"][best_client]["label"] if best_client else "n/a"
        target(
            "sync_vs_best_raw_blocking",
            f"Session.listen() vs the best raw blocking loop (here: {best})",
            r,
            f">= {TARGET_SYNC_VS_RAW:.2f}x",
            at_least(r, TARGET_SYNC_VS_RAW),
            "x",
        )
    if "listeners" in results:
        for client, flavour in ((OURS_ASYNC, "AsyncSession"), (OURS_SYNC, "Session")):
            if client not in results["listeners"]:
                continue
            most, r = _listeners_ratio(results, client)
            key = f"listeners_{'async' if client == OURS_ASYNC else 'sync'}"
            ratios[f"{key}_{most}_vs_1"] = r
            target(
                key,
                f"{flavour}: {most} listeners on one session, summed, vs a lone listener",
                r,
                f">= {TARGET_LISTENERS:.2f}x",
                at_least(r, TARGET_LISTENERS),
                "x",
            )
    if "throughput" in results:
        r = ratios["async_vs_official"]
        target(
            "async_vs_official",
            "AsyncSession.listen() vs official listen() (the longer goal)",
            r,
            f">= {TARGET_ASYNC_VS_OFFICIAL:.2f}x",
            at_least(r, TARGET_ASYNC_VS_OFFICIAL),
            "x",
        )
    if "scale" in results:
        largest = max(results["scale"], key=int)
        ours = results["scale"][largest].get(OURS_ASYNC, {})
        kb = ours.get("bytes_per_session", math.nan) / 1024
        target(
            "kb_per_session",
            f"RSS per connected AsyncSession ({largest} sessions)",
            kb,
            f"<= {TARGET_KB_PER_SESSION:.0f} KB",
            None if math.isnan(kb) else kb <= TARGET_KB_PER_SESSION,
            "KB",
        )
    if "scale10k" in results:
        big = results["scale10k"]
        ours_kb = _kb(big["clients"].get(OURS_ASYNC))
        ratios["kb_10k_official_vs_ours"] = _ratio(_kb(big["clients"].get(OFFICIAL)), ours_kb)
        ratios["kb_10k_ours_vs_raw_websockets"] = _ratio(
            ours_kb, _kb(big["clients"].get(RAW_ASYNC))
        )
        target(
            "kb_per_session_10k",
            f"RSS per connected AsyncSession ({big['sessions']:,} sessions in one process)",
            ours_kb,
            f"<= {TARGET_KB_PER_SESSION:.0f} KB",
            None if ours_kb is None else ours_kb <= TARGET_KB_PER_SESSION,
            "KB",
        )
    if "soak" in results and "failed" not in results["soak"]:
        rise = soak_rise(results["soak"])
        target(
            "soak_rss_flat",
            "soak: client RSS rise over the fitted window (after the warm-up)",
            None if rise is None else rise * 100,
            f"< {TARGET_SOAK_RISE * 100:.0f} %",
            None if rise is None else rise < TARGET_SOAK_RISE,
            "%",
        )
    if "cold" in results:
        ms = results["cold"][IMPORT_OURS]["ms"]
        target(
            "import_ms",
            "import vectorshift_sessions",
            ms,
            f"<= {TARGET_IMPORT_MS:.0f} ms",
            ms <= TARGET_IMPORT_MS,
            "ms",
        )
        ms = results["cold"][IMPORT_OURS_CLASSES]["ms"]
        target(
            "import_classes_ms",
            "from vectorshift_sessions import AsyncSession, Session",
            ms,
            f"<= {TARGET_IMPORT_MS:.0f} ms",
            ms <= TARGET_IMPORT_MS,
            "ms",
        )
    added: dict[str, float | None] = {}
    if "latency" in results:
        lat = results["latency"]
        for ours, raw, flavour in (
            (OURS_ASYNC, RAW_ASYNC, "AsyncSession"),
            (OURS_SYNC, RAW_SYNC, "Session"),
        ):
            for kind, what in (("first_delta", "send -> first delta"), ("ping", "ping -> pong")):
                if ours in lat and raw in lat:
                    value = lat[ours][kind]["p50"] - lat[raw][kind]["p50"]
                    added[f"{ours}:{kind}"] = value
                    target(
                        f"added_latency_{ours}_{kind}",
                        f"{flavour} added median latency, {what}",
                        value,
                        f"<= {TARGET_ADDED_LATENCY_US:.0f} us",
                        value <= TARGET_ADDED_LATENCY_US,
                        "us",
                    )
        thread_floor = "raw-websocket-client-thread"
        if OURS_SYNC in lat and thread_floor in lat:
            for kind in ("first_delta", "ping"):
                added[f"{OURS_SYNC}:{kind}:over-reader-thread"] = (
                    lat[OURS_SYNC][kind]["p50"] - lat[thread_floor][kind]["p50"]
                )
    load_errors: list[str] = []
    for n, clients in results.get("scale", {}).items():
        run = clients.get(OURS_ASYNC, {})
        if run.get("failed") or run.get("error_count"):
            load_errors.append(f"{n} AsyncSessions: {run.get('failed') or run.get('errors')}")
    big = results.get("scale10k")
    if big:
        run = big["clients"].get(OURS_ASYNC, {})
        if run.get("failed") or run.get("error_count") or run.get("streamed") != big["sessions"]:
            load_errors.append(
                f"{big['sessions']:,} AsyncSessions: {run.get('failed') or run.get('error_kinds')}"
            )
    if "soak" in results:
        load_errors += soak_problems(results["soak"])
    for n, clients in results.get("threads", {}).items():
        run = clients.get(OURS_SYNC, {})
        if run.get("failed") or run.get("error_count"):
            load_errors.append(f"{n} threads of Session: {run.get('failed') or run.get('errors')}")
    for client, run in results.get("throughput", {}).items():
        if client.startswith("ours") and run["errors"]:
            load_errors.append(f"throughput {client}: {run['errors']}")
    for client, entry in results.get("listeners", {}).items():
        for count, run in entry["counts"].items():
            # a failed worker's error is a traceback: its last line says what went wrong
            last_lines = list(
                dict.fromkeys((e.strip().splitlines() or [""])[-1] for e in run["errors"])
            )
            if last_lines:
                load_errors.append(f"{count} listeners, {client}: {last_lines[:5]}")
    return {
        "ratios": ratios,
        "targets": targets,
        "added_latency_us": added,
        "load_check_errors": load_errors,
    }


# --- Markdown --------------------------------------------------------------------------------


def _num(value: float | None, fmt: str = "{:,.0f}") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return fmt.format(value)


def _x(value: float | None) -> str:
    return _num(value, "{:.2f}x")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    cfg = results["config"]
    summary = results["summary"]
    out = [
        "# vectorshift-sessions benchmark",
        "",
        f"`{results['command']}` ({results['mode']} run, {results['seconds']:.0f} s), "
        f"{datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}, commit {m['git_commit']}.",
        "",
        f"- Machine: {m['cpu']}, {m['logical_cores']} logical cores "
        f"({m['physical_cores']} physical), {m['ram_gib']} GiB RAM; {m['os']}",
        f"- Python: {m['python']}",
        "- Packages: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()),
        f"- Load average before / after: {_load(results['load_before'])} / "
        f"{_load(results['load_after'])} (a busy machine makes every number noisier)",
        "- The local engine runs in its own process (`LocalEngine` on port 0 with an in-memory "
        "database, as `vectorshift-sessions engine --port 0 --db :memory:` runs it, its "
        "open-file limit raised), and every measurement in a fresh client process, so client "
        "and engine never share a GIL. Its `agent-bench` streams N one-character deltas.",
        "",
    ]
    if summary["targets"]:
        out += [
            "## Design targets",
            "",
            "From design.md, every ratio from this one run (absolute figures drift). The first "
            "rows are the throughput targets: `AsyncSession` over the raw `websockets` asyncio "
            "loop, `Session` over the faster of the two raw blocking loops, and ten listeners on "
            "one session (summed) over a lone listener, per flavour.",
            "",
        ]
        rows = []
        for t in summary["targets"]:
            fmt = "{:.2f}x" if t["unit"] == "x" else "{:,.1f} " + t["unit"]
            met = "n/a" if t["met"] is None else ("met" if t["met"] else "**missed**")
            rows.append([t["target"], _num(t["measured"], fmt), t["goal"], met])
        out += _table(["target", "measured", "goal", ""], rows)
    if "throughput" in results:
        tp = results["throughput"]
        out += [
            "## Stream throughput",
            "",
            f"One turn of {cfg['deltas']:,} deltas read through `listen()` (unbounded queue, "
            "`maxsize=0`) or a raw receive loop, timed from just before the post to the turn's "
            f"`Idle`; {cfg['rounds']} rounds, interleaved across clients, each in a fresh "
            f"process after a {cfg['warmup']:,}-delta warm-up; medians.",
            "",
        ]
        official = _median(results, OFFICIAL)
        raw_async, raw_sync = _median(results, RAW_ASYNC), _median(results, RAW_SYNC)
        rows = []
        for client, run in tp.items():
            rates = run["rates"] or [math.nan]
            floor = (
                raw_sync
                if client in (OURS_SYNC, "raw-websockets-sync")
                or client.startswith("raw-websocket-client")
                else raw_async
            )
            rows.append(
                [
                    run["label"],
                    _num(run["median"]),
                    f"{_num(min(rates))} - {_num(max(rates))}",
                    _x(_ratio(run["median"], official)),
                    _x(_ratio(run["median"], floor)),
                    str(len(run["errors"])),
                ]
            )
        out += _table(
            ["client", "events/s (median)", "range", "/ official", "/ raw floor", "errors"], rows
        )
        out += [
            "Raw floor: the plain `websockets` asyncio loop for asyncio clients; the plain "
            "`websocket-client` loop with `skip_utf8_validation=True` (the blocking `Session`'s "
            "own transport, at its best) for blocking clients. The `Session` design target is "
            "over the faster of this and `websockets.sync`.",
            "",
        ]
    if "listeners" in results:
        counts = cfg.get("listener_counts", [])
        out += [
            "## Listeners on one session",
            "",
            f"One session streams one turn of {cfg['deltas']:,} deltas while K listeners "
            "(`listen(maxsize=0)`, all subscribed before the send) each read it to the turn's "
            "`Idle`: K asyncio tasks for `AsyncSession`, K threads for `Session`. Events/s "
            "summed: the events all listeners received over the time from just before the send "
            "to the last listener seeing the turn's end. "
            f"K = {', '.join(str(k) for k in counts)}; {cfg['rounds']} rounds, interleaved, each "
            f"in a fresh process after a {cfg['warmup']:,}-delta warm-up turn read the same way; "
            f"medians. Target: ten listeners at least {TARGET_LISTENERS:.0f}x a lone listener.",
            "",
        ]
        rows = []
        for client, entry in results["listeners"].items():
            lone = _listeners_median(results, client, 1)
            for count, run in entry["counts"].items():
                rates = run["rates"] or [math.nan]
                rows.append(
                    [
                        entry["label"],
                        count,
                        _num(run["median"] if run["rates"] else None),
                        f"{_num(min(rates))} - {_num(max(rates))}",
                        _num(run["per_listener"] if run["rates"] else None),
                        _x(_ratio(run["median"], lone) if run["rates"] else None),
                        str(len(run["errors"])),
                    ]
                )
        out += _table(
            [
                "client",
                "listeners",
                "events/s summed (median)",
                "range",
                "per listener",
                "/ lone listener",
                "errors",
            ],
            rows,
        )
    if "latency" in results:
        lat = results["latency"]
        out += [
            "## Latency",
            "",
            f"{cfg['latency_samples']} samples per client and kind, taken in "
            f"{cfg['latency_passes']} passes interleaved across clients (a fresh process each, "
            f"after {cfg['latency_warmup']} warm-ups) and pooled; a fresh session every 50 "
            "samples (the engine reads a session's history at each post); heartbeats off. *send -> first delta*: from just before sending a "
            "one-delta post to that delta arriving (through a listener subscribed before). "
            "*ping -> pong*: `ping_session` to `pong`. The sessions have no public ping: for "
            "ours the frame goes out through the session's own (private) transport and the "
            "`PONG` comes back through `listen()`; for the official client through its "
            "private `_ws_send`. *Added*: over the raw loop of the same flavour (`websockets` "
            "for asyncio, `websocket-client` for blocking clients). The blocking `Session` "
            "reads in a background thread, so that several threads can listen and send at "
            "once; the `websocket-client + reader thread` row is the floor of that design. "
            "Microseconds.",
            "",
        ]
        rows = []
        for client, run in lat.items():
            blocking = client == OURS_SYNC or client.startswith("raw-websocket-client")
            raw = RAW_SYNC if blocking else RAW_ASYNC
            cells = [run["label"]]
            for kind in ("first_delta", "ping"):
                cells += [_num(run[kind]["p50"]), _num(run[kind]["p99"])]
                cells.append(
                    "-"
                    if client == raw
                    else _num(run[kind]["p50"] - lat[raw][kind]["p50"], "{:+,.0f}")
                )
            rows.append(cells)
        out += _table(
            [
                "client",
                "first delta p50",
                "p99",
                "added p50",
                "ping p50",
                "p99",
                "added p50",
            ],
            rows,
        )
    if "scale" in results:
        out += [
            "## Many concurrent async sessions",
            "",
            f"N sessions in one process, connected {cfg['scale_concurrency']} handshakes at a "
            f"time, then each streams one turn of {cfg['scale_deltas']} deltas, all at once. "
            "RSS per session: the client process's RSS after connecting the N sessions minus "
            "before (after one warm-up session), divided by N; after streaming in brackets.",
            "",
        ]
        rows = []
        for n, clients in results["scale"].items():
            for run in clients.values():
                if "failed" in run:
                    rows.append([n, run["label"], "failed", "", "", "", run["failed"][:80]])
                    continue
                rows.append(
                    [
                        n,
                        run["label"],
                        f"{run['connect_seconds']:.2f}",
                        f"{run['stream_seconds']:.2f}",
                        f"{run['bytes_per_session'] / 1024:.1f} "
                        f"({run['bytes_per_session_streamed'] / 1024:.1f})",
                        f"{run['received']:,}",
                        str(run["error_count"]),
                    ]
                )
        out += _table(
            ["N", "client", "connect s", "stream wall s", "KB / session", "deltas", "errors"],
            rows,
        )
    if "scale10k" in results:
        out += _scale10k_markdown(results["scale10k"], cfg)
    if "soak" in results:
        out += _soak_markdown(results["soak"], cfg)
    if "threads" in results:
        out += [
            "## Blocking sessions under threads",
            "",
            f"T threads, each with its own session, stream one turn each at the same moment; "
            f"{cfg['thread_total_deltas']:,} deltas in all (split over the threads). Aggregate "
            "events/s over the wall time to the slowest thread's end.",
            "",
        ]
        rows = []
        for n, clients in results["threads"].items():
            for run in clients.values():
                if "failed" in run:
                    rows.append([n, run["label"], "failed", "", "", run["failed"][:80]])
                    continue
                rows.append(
                    [
                        n,
                        run["label"],
                        f"{run['deltas_per_thread']:,}",
                        _num(run["rate"]),
                        f"{run['wall_seconds']:.2f}",
                        str(run["error_count"]),
                    ]
                )
        out += _table(
            ["threads", "client", "deltas / thread", "events/s", "wall s", "errors"], rows
        )
    if "cold" in results:
        cold = results["cold"]
        out += [
            "## Cold start",
            "",
            f"Each in a fresh interpreter, median of {cfg['cold_runs']} (after one warm-up "
            "pass, which also writes any missing `.pyc` files, as `pip install` does); RSS of "
            "the whole process after the import.",
            "",
        ]
        rows = [
            [f"`{name}`", f"{run['ms']:.0f}", f"{run['rss_mb']:.1f}"] for name, run in cold.items()
        ]
        out += _table(["import", "ms", "RSS MB"], rows)
    if "default_listen" in results:
        out += [
            "## `listen()` with its default queue bound",
            "",
            f"One turn of {cfg['default_listen_deltas']:,} deltas through `listen()` with the "
            "default `maxsize=1024`, read by a loop that does nothing else (20 s limit).",
            "",
        ]
        rows = []
        for run in results["default_listen"].values():
            if "failed" in run:
                rows.append([run["label"], "failed", "", "", run["failed"][:80]])
                continue
            rows.append(
                [
                    run["label"],
                    f"{run['deltas']:,} of {run['expected']:,}",
                    f"{run['overflow_notices']:,} ({run['dropped']:,} dropped)",
                    "yes" if run["turn_end"] else "**no** (never arrived)",
                ]
            )
        out += _table(["client", "deltas delivered", "overflow notices", "turn end seen"], rows)
    if "resume" in results:
        out += [
            "## A web request's resume (the examples' pattern)",
            "",
            "Per request: resume the session by id, stream a one-delta turn, disconnect; "
            "against the same turn on a connection kept open. The difference is what keeping "
            "only the session id between requests costs. Medians of "
            f"{cfg['resume_requests'] * cfg['resume_passes']} requests per client.",
            "",
        ]
        floor = results["resume"].get("raw-websockets", {}).get("resume_us")
        rows = [
            [
                run["label"],
                f"{run['kept_p50_us'] / 1e3:.2f}",
                f"{run['request_p50_us'] / 1e3:.2f}",
                f"+{run['resume_us'] / 1e3:.2f}",
                _x(_ratio(run["resume_us"], floor)),
            ]
            for run in results["resume"].values()
        ]
        out += _table(
            [
                "client",
                "turn, kept connection (ms)",
                "resume + turn + disconnect (ms)",
                "resume costs (ms)",
                "vs raw floor",
            ],
            rows,
        )
    out += _telemetry.report(results)
    if summary["load_check_errors"]:
        out += ["## Errors", ""] + [f"- {e}" for e in summary["load_check_errors"]] + [""]
    else:
        out += [
            "Load check: every AsyncSession of every scale step and every threaded Session "
            "finished its streamed turn with no error; the soak (if run) lost, repeated and "
            "left over nothing.",
            "",
        ]
    return "\n".join(out)


def _scale10k_markdown(big: dict[str, Any], cfg: dict[str, Any]) -> list[str]:
    n = big["sessions"]
    out = [
        f"## {n:,} concurrent sessions in one process",
        "",
        f"{n:,} sessions of each client in one client process against the one engine process, "
        f"connected {big['concurrency']} handshakes at a time; then each streams one turn of "
        f"{cfg['scale10k_deltas']} deltas, all at once. Each phase (connect, stream, close) may "
        f"take {cfg['scale10k_time_limit']:.0f} s; what a client reached by then is what it "
        "reached. KB / session: the client process's RSS after connecting minus before (after "
        "one warm-up session), over the sessions connected; after streaming in brackets. "
        "Engine fds: the engine process's open descriptors with all of them connected.",
        "",
        f"- Open-file limits (soft, raised to the hard limit): engine {_num(big['engine_nofile'])}"
        ", client processes "
        + ", ".join(
            sorted({_num(r.get("nofile")) for r in big["clients"].values() if "nofile" in r})
        )
        + f". Each process needs about one per connection ({n:,}) plus its own.",
        f"- The engine's accept backlog: {_num(big['engine_backlog'])} (the kernel's cap, "
        f"`net.core.somaxconn`: {_num(big['somaxconn'])}), against {big['concurrency']} "
        "handshakes in flight at once.",
    ]
    limits = [("engine", big["engine_nofile"])] + [
        (run["label"], run.get("nofile")) for run in big["clients"].values()
    ]
    for who, limit in limits:
        if limit is not None and too_low(limit, n):
            out.append(
                f"- **The open-file limit of the {who} ({limit:,}) is too low for {n:,} "
                "connections**: raise the hard limit (`ulimit -Hn`) and run again."
            )
    out.append("")
    ours = _kb(big["clients"].get(OURS_ASYNC))
    rows = []
    for run in big["clients"].values():
        if "failed" in run:
            rows.append([run["label"], "failed", "", "", "", "", "", run["failed"][:80]])
            continue
        kb = _kb(run)
        engine = run.get("engine_connected") or {}
        kinds = "; ".join(f"{k} x{v}" for k, v in run.get("error_kinds", {}).items())
        rows.append(
            [
                run["label"],
                f"{run['connected']:,} / {run['streamed']:,}",
                f"{run['connect_seconds']:.1f}",
                f"{run['stream_seconds']:.1f}",
                f"{_num(kb, '{:.1f}')} ({run['bytes_per_session_streamed'] / 1024:.1f})",
                _x(_ratio(kb, ours)),
                _num(engine.get("fds")),
                f"{run['error_count']:,}" + (f": {kinds[:160]}" if kinds else ""),
            ]
        )
    out += _table(
        [
            "client",
            "connected / streamed",
            "connect s",
            "stream wall s",
            "KB / session",
            "/ ours",
            "engine fds",
            "errors",
        ],
        rows,
    )
    return out


def _soak_markdown(run: dict[str, Any], cfg: dict[str, Any]) -> list[str]:
    out = [
        "## Soak: many turns, every connection cut every few seconds",
        "",
        f"In one client process, {cfg['soak_async']} `AsyncSession`s (tasks) and "
        f"{cfg['soak_sync']} blocking `Session`s (a thread each) run {cfg['soak_turns']} turns "
        f"each (no new turn after {cfg.get('soak_time_limit', 0):.0f} s) with the echo agent (`ask()`, a text unique to the session and turn), while the "
        f"engine drops every connection every {cfg['soak_cut_every']} s "
        "(`LocalEngine.cut_connections()`); the sessions recover by themselves, each reading "
        "the history after the last message it read (the engine pages it). A turn whose "
        "acknowledgement a cut swallowed raises `DeliveryUnknownError`: as it says, the history "
        "(`get_messages(after=` the last answer's id `)`) tells whether the message arrived "
        "(then its answer is read there) or not (then it is sent again). RSS sampled every "
        f"{cfg['soak_sample_every']} s; the line fitted after the first 20% of the turns' time. "
        "A session's event log drops what every listener read soon (within 64 events, or an "
        "eighth of what it keeps), and it forgets the ids of messages delivered two recoveries "
        "ago; the harness keeps its counts in arrays made at the start.",
        "",
    ]
    if "failed" in run:
        return [*out, f"**Failed**: {run['failed'][:300]}", ""]
    line, totals = run["fit"], run["totals"]
    rise = soak_rise(run)
    cut = run.get("connections_cut") or []
    at_start = line["intercept"] + line["slope"] * line["start"]
    flat = "n/a" if rise is None else ("flat" if rise < TARGET_SOAK_RISE else "**rising**")
    out += _table(
        [
            "turns done",
            "turns/s",
            "cuts",
            "connections per cut",
            "RSS at fit start",
            "slope",
            "per turn",
            f"rise over {line['end'] - line['start']:.0f} s",
            "",
        ],
        [
            [
                f"{run['turns']:,} of {run['turns_expected']:,}",
                _num(run["turns_per_second"]),
                str(len(run["cut_times"])),
                f"{min(cut, default=0)} - {max(cut, default=0)}",
                f"{at_start / 2**20:.1f} MB",
                f"{line['slope'] * 60 / 1024:+,.0f} KB/min",
                f"{run['bytes_per_turn']:+,.0f} B",
                _num(None if rise is None else rise * 100, "{:+.1f} %"),
                flat,
            ]
        ],
    )
    labels = {
        "delivery_unknown": "`DeliveryUnknownError` (a cut swallowed the acknowledgement)",
        "answered_from_history": "... the message had arrived: answer read from the history",
        "resent": "... it had not: sent again",
        "lost": "sent (stored or acknowledged) but not in the history",
        "duplicated": "a text stored more than once",
        "unexpected": "stored but never sent",
        "out_of_order": "sessions whose history has the texts in another order",
        "unanswered_in_history": "user messages with no complete answer stored",
        "answered_twice_in_history": "user messages answered twice in the history",
        "wrong_answer_in_history": "answers in the history of another text",
        "duplicate_ids": "message ids twice in a history",
        "not_answered": "turns that got no answer (client side)",
        "answered_twice": "turns answered twice (client side)",
        "double_deliveries": "turns whose answer's `MESSAGE_COMPLETE` came twice",
        "wrong_answers": "answers of another text (client side)",
        "errors": "errors (connect, turn, check)",
        "unchecked_sessions": "sessions whose history could not be checked",
    }
    rows = [[text, f"{totals.get(key, 0):,}"] for key, text in labels.items()]
    sessions = max(1, run["async_sessions"] + run["sync_sessions"])
    rows += [
        [
            "events held in a session's log at the end (mean)",
            f"{totals.get('held_events', 0) / sessions:,.0f}",
        ],
        ["message ids a session remembers (mean)", f"{totals.get('seen_ids', 0) / sessions:,.0f}"],
        [
            "memory blocks alive in Python, growth per turn after warm-up (`sys.getallocatedblocks`:"
            " what RSS holds beyond it is the allocator keeping a peak)",
            _num(run.get("blocks_per_turn"), "{:+,.1f}"),
        ],
        [
            "RSS growth over the turns, per event held at the end",
            _num(_growth_per_held_event(run), "{:,.0f} B"),
        ],
    ]
    rows += [
        [f"left over at the end: {what}", str(len(run[f"leftover_{key}"]))]
        for key, what in (
            ("threads", "`vectorshift*` threads"),
            ("tasks", "asyncio tasks"),
            ("sockets", "sockets (TCP)"),
        )
    ]
    out += _table(["check (all sessions)", "count"], rows)
    if run["errors"]:
        kinds = run.get("error_kinds", {})
        out += ["Errors by kind:", ""] + [f"- `{k}`: {n:,}" for k, n in kinds.items()] + [""]
        out += ["First errors:", ""] + [f"- `{e[:200]}`" for e in run["errors"][:5]] + [""]
    return out


def _load(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


# --- chart -----------------------------------------------------------------------------------


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        name
        for name in (
            "throughput",
            "listeners",
            "latency",
            "scale",
            "threads",
            "cold",
            "default_listen",
            "soak",
        )
        if name in results or (name == "scale" and "scale10k" in results)
    ]
    if not panels:
        return
    cols = 4 if len(panels) in (7, 8) else min(3, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.4 * cols, 4.6 * rows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax, name in zip(flat, panels, strict=False):
        globals()[f"_chart_{name}"](ax, results)
    for ax in flat[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(
        f"vectorshift-sessions ({results['mode']} run), {results['machine']['cpu']}, "
        f"{results['machine']['logical_cores']} cores, {results['machine']['python']}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _ours_color(client: str) -> str:
    if client.startswith("ours"):
        return "tab:blue"
    return "tab:orange" if client == OFFICIAL else "tab:gray"


def _chart_throughput(ax: Any, results: dict[str, Any]) -> None:
    tp = results["throughput"]
    names = list(tp)
    values = [tp[c]["median"] / 1e3 for c in names]
    ax.barh(range(len(names)), values, color=[_ours_color(c) for c in names])
    ax.set_yticks(range(len(names)), [tp[c]["label"] for c in names], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("thousand events/s (median)")
    ax.set_title("stream throughput", fontsize=10)
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:,.0f}k", va="center", fontsize=7)


def _chart_listeners(ax: Any, results: dict[str, Any]) -> None:
    ls = results["listeners"]
    clients = list(ls)
    counts = sorted({int(k) for c in clients for k in ls[c]["counts"]})
    width = 0.8 / max(1, len(counts))
    shades = ["tab:cyan", "tab:blue", "navy", "black"]
    for j, count in enumerate(counts):
        xs = [i + (j - (len(counts) - 1) / 2) * width for i in range(len(clients))]
        values = [(_listeners_median(results, c, count) or 0.0) / 1e3 for c in clients]
        ax.bar(
            xs,
            values,
            width,
            label=f"{count} listener{'s' if count > 1 else ''}",
            color=shades[j % len(shades)],
        )
        for x, c, v in zip(xs, clients, values, strict=True):
            ratio = _ratio(_listeners_median(results, c, count), _listeners_median(results, c, 1))
            note = f"{v:,.0f}k" + (f"\n{ratio:.1f}x" if count > 1 and ratio else "")
            ax.text(x, v, note, ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(clients)), [ls[c]["label"] for c in clients], fontsize=7)
    ax.set_ylabel("thousand events/s, summed over the listeners")
    ax.margins(y=0.2)
    ax.set_title(
        f"listeners on one session (target: 10 >= {TARGET_LISTENERS:.0f}x one)", fontsize=10
    )
    ax.legend(fontsize=7)


def _chart_latency(ax: Any, results: dict[str, Any]) -> None:
    lat = results["latency"]
    names = list(lat)
    width = 0.4
    first = [lat[c]["first_delta"]["p50"] for c in names]
    ping = [lat[c]["ping"]["p50"] for c in names]
    ys = range(len(names))
    ax.barh(
        [y - width / 2 for y in ys], first, width, label="send -> first delta", color="tab:blue"
    )
    ax.barh([y + width / 2 for y in ys], ping, width, label="ping -> pong", color="tab:green")
    ax.set_yticks(list(ys), [lat[c]["label"] for c in names], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("p50, microseconds")
    ax.set_title("latency", fontsize=10)
    ax.legend(fontsize=7)


def _chart_scale(ax: Any, results: dict[str, Any]) -> None:
    """KB per session by the number of sessions: the scale steps and the 10,000 step."""
    steps = dict(results.get("scale", {}))
    if "scale10k" in results:
        big = results["scale10k"]
        steps.setdefault(str(big["sessions"]), big["clients"])
    points: dict[str, list[tuple[int, float]]] = {}
    labels: dict[str, str] = {}
    for n in sorted(steps, key=int):
        for client, run in steps[n].items():
            labels.setdefault(client, run["label"])
            kb = _kb(run)
            if kb is not None:
                points.setdefault(client, []).append((int(n), kb))
    for client, xy in points.items():
        ax.plot(*zip(*xy, strict=True), marker="o", label=labels[client], color=_ours_color(client))
    ax.axhline(TARGET_KB_PER_SESSION, ls="--", color="tab:red", lw=1, label="target 25 KB")
    ax.set_xscale("log")
    ax.set_xlabel("concurrent sessions")
    ax.set_ylabel("KB RSS per connected session")
    ax.set_title("many sessions: memory", fontsize=10)
    ax.legend(fontsize=7)


def _chart_threads(ax: Any, results: dict[str, Any]) -> None:
    th = results["threads"]
    counts = sorted(th, key=int)
    for client in th[counts[0]]:
        points = [
            (int(n), th[n][client]["rate"] / 1e3)
            for n in counts
            if client in th[n] and "failed" not in th[n][client]
        ]
        if points:
            label = th[counts[0]][client]["label"]
            ax.plot(*zip(*points, strict=True), marker="o", label=label, color=_ours_color(client))
    ax.set_xscale("log")
    ax.set_xlabel("threads (one blocking session each)")
    ax.set_ylabel("thousand events/s, all threads")
    ax.set_title("blocking flavour under threads", fontsize=10)
    ax.legend(fontsize=7)


def _chart_cold(ax: Any, results: dict[str, Any]) -> None:
    cold = results["cold"]
    names = list(cold)
    ms = [cold[n]["ms"] for n in names]
    colors = [
        "tab:gray" if n == IMPORT_NOTHING else "tab:orange" if n == IMPORT_OFFICIAL else "tab:blue"
        for n in names
    ]
    ax.barh(range(len(names)), ms, color=colors)
    ax.set_yticks(
        range(len(names)),
        [n.replace(" import ", "\nimport ").replace(" (official)", "\n(official)") for n in names],
        fontsize=7,
    )
    ax.invert_yaxis()
    ax.axvline(TARGET_IMPORT_MS, ls="--", color="tab:red", lw=1)
    ax.set_xlabel("import time, ms (median); RSS after the import at the bar's end")
    ax.set_title("cold start", fontsize=10)
    for i, n in enumerate(names):
        ax.text(ms[i], i, f" {ms[i]:.0f} ms, {cold[n]['rss_mb']:.0f} MB", va="center", fontsize=7)


def _chart_default_listen(ax: Any, results: dict[str, Any]) -> None:
    runs = results["default_listen"]
    names = [c for c in runs if "failed" not in runs[c]]
    shares = [100 * runs[c]["deltas"] / runs[c]["expected"] for c in names]
    ax.barh(range(len(names)), shares, color=[_ours_color(c) for c in names])
    ax.set_yticks(range(len(names)), [runs[c]["label"] for c in names], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 115)
    ax.set_xlabel("% of the turn's deltas delivered")
    ax.set_title("listen() with its default maxsize=1024, a fast stream", fontsize=10)
    for i, c in enumerate(names):
        end = "" if runs[c]["turn_end"] else ", turn end lost"
        ax.text(shares[i], i, f" {shares[i]:.0f}%{end}", va="center", fontsize=7)


def _chart_soak(ax: Any, results: dict[str, Any]) -> None:
    run = results["soak"]
    if "failed" in run:
        ax.set_title("soak: failed", fontsize=10)
        return
    ts = [t for t, _ in run["samples"]]
    mb = [rss / 2**20 for _, rss in run["samples"]]
    ax.plot(ts, mb, color="tab:blue", lw=1, label="client RSS")
    for i, t in enumerate(run["cut_times"]):
        ax.axvline(t, color="tab:gray", lw=0.4, alpha=0.5, label="cut" if i == 0 else None)
    line = run["fit"]
    if not math.isnan(line["slope"]):
        xs = [line["start"], line["end"]]
        ys = [(line["intercept"] + line["slope"] * x) / 2**20 for x in xs]
        ax.plot(
            xs,
            ys,
            ls="--",
            color="tab:red",
            lw=1.5,
            label=f"fit: {line['slope'] * 60 / 1024:+,.0f} KB/min",
        )
    marks = run["marks"]
    ax.axvspan(
        marks["turns_start"], marks["turns_end"], color="tab:green", alpha=0.06, label="turns"
    )
    ax.set_xlabel("seconds")
    ax.set_ylabel("MB RSS (client process)")
    ax.set_title(
        f"soak: {run['async_sessions']} async + {run['sync_sessions']} blocking sessions, "
        f"{run['turns']:,} turns, {len(run['cut_times'])} cuts",
        fontsize=10,
    )
    ax.legend(fontsize=7, loc="lower right")
