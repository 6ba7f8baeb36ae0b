"""The soak: many sessions, many turns, every connection cut every few seconds.

In one client process, ``async_sessions`` ``AsyncSession``s (tasks of one event loop) and
``sync_sessions`` blocking ``Session``s (a thread each) talk to the echo agent, each running
``turns`` turns (``ask()``, a text unique to the session and turn). Once all are connected, the
client sends the engine ``SIGUSR1`` every ``cut_every`` seconds (``LocalEngine.cut_connections``)
until the last turn ends; the sessions recover by themselves.

A turn whose post lost its acknowledgement to a cut raises ``DeliveryUnknownError``: as the
error says, the history tells whether it arrived (the part after the last answer the session
got, ``get_messages(after=...)``); if it did, its answer is read from the history, else it is
sent again. So each text is stored once, or a duplicate is the client's (or
engine's) fault, not the harness's.

Measured: the process's RSS every ``sample_every`` seconds (the line fitted after the first
``WARMUP_SHARE`` of the turns: a leak shows as a slope); for each session, that every text it
sent got exactly one answer (one ``MESSAGE_COMPLETE`` of the same text), and that its stored
history holds each text once, each answered once, no message id twice; at the end, the
``vectorshift*`` threads, asyncio tasks and sockets left in the process.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import threading
import time
from collections import Counter
from typing import Any

import psutil

AGENT_ID = "agent-echo"
#: The share of the turns' time left out of the fit: allocator pools and caches fill first.
WARMUP_SHARE = 0.2
#: Sends of one text before the harness gives up on it (each after the history said: absent).
MAX_SENDS = 5
#: Handshakes in flight at once while the async sessions connect.
CONNECT_GATE = 50


def text_for(name: str, turn: int) -> str:
    return f"soak {name} turn {turn}"


class Tally:
    """One session's account: what it sent (each text once it is known stored) and what came
    back, and the recoveries the harness had to do. Counts per turn, in arrays made at the
    start: the harness's memory does not grow with the turns (the soak measures the SDK's)."""

    def __init__(self, name: str, turns: int) -> None:
        self.name = name
        self.sent = bytearray(turns)  # turn -> 1 once its text is known stored
        self.answers = bytearray(turns)  # turn -> answers received (at most 255)
        self.double_deliveries = 0  # a turn that delivered its answer's MESSAGE_COMPLETE twice
        self.wrong = 0  # an answer of another text (an earlier turn's, say)
        self.unknown = 0  # DeliveryUnknownError
        self.resent = 0  # ... and the history did not have it
        self.from_history = 0  # ... and it did: the answer read from the history
        self.errors: list[str] = []
        # The id of the last answer it got: after a lost acknowledgement, it reads only the
        # history after it (``get_messages(after=...)``), not all of it.
        self.last_id: str | None = None

    def _answer(self, turn: int) -> None:
        self.answers[turn] = min(255, self.answers[turn] + 1)

    def read_from_history(self, turn: int, answer: str | None) -> None:
        """A post whose acknowledgement a cut swallowed, found stored: its answer, if any, as
        the history has it."""
        self.sent[turn] = 1
        self.from_history += 1
        if answer is not None:
            self._answer(turn)
            self.wrong += answer != text_for(self.name, turn)

    def answered(self, turn: int, result: Any) -> None:
        """A turn's ``TurnResult``."""
        from vectorshift_sessions import SessionEventType

        self.sent[turn] = 1
        text = text_for(self.name, turn)
        completes = [e for e in result.events if e.type is SessionEventType.MESSAGE_COMPLETE]
        if result.status != "complete" or not completes:
            self.errors.append(f"{text!r}: turn ended {result.status!r} with no answer")
            return
        self.double_deliveries += len(completes) - 1
        self.last_id = completes[-1].message_id
        if result.text != text:
            self.wrong += 1
        self._answer(turn)

    def check(self, history: list[Any], session: Any = None) -> dict[str, int]:
        """The stored history against what was sent: each text stored once, in order, each
        answered by exactly one complete agent message of the same text, no id twice. With
        the ``session``, also what its memory holds (private: what explains the RSS)."""
        users = [m.text for m in history if m.is_user]
        sent_turns = [turn for turn, sent in enumerate(self.sent) if sent]
        sent = [text_for(self.name, turn) for turn in sent_turns]
        stored, expected = Counter(users), Counter(sent)
        answers: dict[int, list[Any]] = {}
        turn = -1
        for message in history:
            if message.is_user:
                turn += 1
            elif message.is_agent and message.status == "complete" and turn >= 0:
                answers.setdefault(turn, []).append(message)
        ids = [m.id for m in history]
        return {
            "lost": sum((expected - stored).values()),
            "duplicated": sum(n - 1 for n in stored.values() if n > 1),
            "unexpected": sum((stored - expected).values()),
            "out_of_order": int(list(dict.fromkeys(users)) != sent),
            "unanswered_in_history": sum(1 for i in range(len(users)) if not answers.get(i)),
            "answered_twice_in_history": sum(1 for a in answers.values() if len(a) > 1),
            "wrong_answer_in_history": sum(
                1 for i, a in answers.items() if i < len(users) and a[0].text != users[i]
            ),
            "duplicate_ids": len(ids) - len(set(ids)),
            # client side: every text it sent answered exactly once, and nothing else
            "not_answered": sum(1 for turn in sent_turns if self.answers[turn] == 0),
            "answered_twice": sum(1 for turn in sent_turns if self.answers[turn] > 1),
            "double_deliveries": self.double_deliveries,
            "wrong_answers": self.wrong,
            "delivery_unknown": self.unknown,
            "resent": self.resent,
            "answered_from_history": self.from_history,
            "errors": len(self.errors),
            # the events its log holds (what was read goes soon), the message ids it remembers
            "held_events": len(session._core.log._items) if session is not None else 0,
            "seen_ids": len(session._core._seen) if session is not None else 0,
        }


def _stored(history: list[Any], text: str, tally: Tally) -> tuple[bool, str | None]:
    """Whether ``text`` is stored as a user message, and the complete answer after it (its
    id becomes the tally's ``last_id``)."""
    found = False
    for message in history:
        if message.is_user:
            if found:
                break
            found = message.text == text
        elif found and message.is_agent and message.status == "complete":
            tally.last_id = message.id
            return True, message.text
    return found, None


async def _turn_async(session: Any, turn: int, tally: Tally, timeout: float) -> None:
    from vectorshift_sessions import DeliveryUnknownError

    text = text_for(tally.name, turn)
    for _ in range(MAX_SENDS):
        try:
            result = await session.ask(text, timeout=timeout)
        except DeliveryUnknownError:
            tally.unknown += 1
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                history = await session.get_messages(after=tally.last_id)
                stored, answer = _stored(history, text, tally)
                if not stored or answer is not None:
                    break
                await asyncio.sleep(0.2)  # stored, still running: its answer comes
            if not stored:
                tally.resent += 1
                continue
            tally.read_from_history(turn, answer)
            return
        tally.answered(turn, result)
        return
    tally.errors.append(f"{text!r}: not stored after {MAX_SENDS} sends")


def _turn_sync(session: Any, turn: int, tally: Tally, timeout: float) -> None:
    """As ``_turn_async``, blocking."""
    from vectorshift_sessions import DeliveryUnknownError

    text = text_for(tally.name, turn)
    for _ in range(MAX_SENDS):
        try:
            result = session.ask(text, timeout=timeout)
        except DeliveryUnknownError:
            tally.unknown += 1
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                stored, answer = _stored(session.get_messages(after=tally.last_id), text, tally)
                if not stored or answer is not None:
                    break
                time.sleep(0.2)
            if not stored:
                tally.resent += 1
                continue
            tally.read_from_history(turn, answer)
            return
        tally.answered(turn, result)
        return
    tally.errors.append(f"{text!r}: not stored after {MAX_SENDS} sends")


class _Sampler(threading.Thread):
    """The process's RSS every ``every`` seconds (no ``gc.collect``: as it runs), and the
    memory blocks Python has allocated (what is alive: RSS also holds what the allocator keeps
    after a peak, such as every session re-reading its history at once after a cut)."""

    def __init__(self, every: float, t0: float) -> None:
        super().__init__(name="bench-rss-sampler", daemon=True)
        self.every, self.t0 = every, t0
        self.samples: list[tuple[float, int]] = []
        self.blocks: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        proc = psutil.Process()
        while not self.stop.is_set():
            now = time.monotonic() - self.t0
            self.samples.append((now, proc.memory_info().rss))
            self.blocks.append((now, sys.getallocatedblocks()))
            self.stop.wait(self.every)


class _Cutter(threading.Thread):
    """``SIGUSR1`` to the engine every ``every`` seconds: it drops every connection."""

    def __init__(self, engine_pid: int, every: float, t0: float) -> None:
        super().__init__(name="bench-cutter", daemon=True)
        self.pid, self.every, self.t0 = engine_pid, every, t0
        self.times: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.every):
            os.kill(self.pid, signal.SIGUSR1)
            self.times.append(time.monotonic() - self.t0)


def fit(samples: list[tuple[float, int]], start: float, end: float) -> dict[str, float]:
    """Least squares over the samples in the turns' time after the warm-up share: the slope
    (bytes/s), the line's value at the window's start, and the window."""
    begin = start + (end - start) * WARMUP_SHARE
    points = [(t, rss) for t, rss in samples if begin <= t <= end]
    if len(points) < 2:
        return {"slope": float("nan"), "intercept": float("nan"), "start": begin, "end": end}
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mr = sum(r for _, r in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    slope = sum((t - mt) * (r - mr) for t, r in points) / var if var else 0.0
    return {"slope": slope, "intercept": mr - slope * mt, "start": begin, "end": end, "points": n}


def soak(
    ws_base: str,
    engine_pid: int,
    async_sessions: int,
    sync_sessions: int,
    turns: int,
    cut_every: float,
    sample_every: float,
    turn_timeout: float,
    time_limit: float | None = None,
) -> dict[str, Any]:
    """``time_limit`` (seconds of turns): past it no session starts another turn, and the
    checks cover the turns done (the result says how many of how many)."""
    from vectorshift_sessions import AsyncSession, Session

    t0 = time.monotonic()
    sampler = _Sampler(sample_every, t0)
    sampler.start()
    cutter = _Cutter(engine_pid, cut_every, t0)
    tallies = [Tally(f"a{i}", turns) for i in range(async_sessions)]
    sync_tallies = [Tally(f"s{i}", turns) for i in range(sync_sessions)]
    go, verify, stop = threading.Event(), threading.Event(), threading.Event()
    connected: list[str] = []
    done: list[str] = []
    checks: list[dict[str, int]] = []
    lock = threading.Lock()

    def blocking(tally: Tally) -> None:
        """One blocking session, in its own thread: connect, wait for the start, its turns,
        then (once the cuts stopped) its history check."""
        session = None
        try:
            session = Session(owner_type="agent", owner_id=AGENT_ID, ws_url=ws_base)
            session.connect()
        except Exception as exc:
            tally.errors.append(f"connect: {exc!r}")
            session = None
        with lock:
            connected.append(tally.name)
        go.wait()
        try:
            for turn in range(turns if session is not None else 0):
                if stop.is_set():
                    break
                _turn_sync(session, turn, tally, turn_timeout)
        except Exception as exc:
            tally.errors.append(f"turns: {exc!r}")
        with lock:
            done.append(tally.name)
        verify.wait()
        if session is not None:
            try:
                checks.append(tally.check(session.get_messages(), session))
                session.disconnect()
            except Exception as exc:
                tally.errors.append(f"check: {exc!r}")
                checks.append(tally.check([]))

    async def wait_for(names: list[str], count: int) -> None:
        while len(names) < count:
            await asyncio.sleep(0.05)

    marks: dict[str, float] = {}

    async def main() -> list[str]:
        gate = asyncio.Semaphore(CONNECT_GATE)

        async def connect(tally: Tally) -> Any:
            async with gate:
                try:
                    session = AsyncSession(owner_type="agent", owner_id=AGENT_ID, ws_url=ws_base)
                    return await session.connect()
                except Exception as exc:
                    tally.errors.append(f"connect: {exc!r}")
                    return None

        async def run(session: Any, tally: Tally) -> None:
            try:
                for turn in range(turns if session is not None else 0):
                    if stop.is_set():
                        break
                    await _turn_async(session, turn, tally, turn_timeout)
            except Exception as exc:
                tally.errors.append(f"turns: {exc!r}")

        async def check(session: Any, tally: Tally) -> None:
            async with gate:
                try:
                    checks.append(tally.check(await session.get_messages(), session))
                    await session.disconnect()
                except Exception as exc:
                    tally.errors.append(f"check: {exc!r}")
                    checks.append(tally.check([]))

        sessions = await asyncio.gather(*(connect(t) for t in tallies))
        await wait_for(connected, sync_sessions)
        marks["turns_start"] = time.monotonic() - t0
        cutter.start()
        go.set()
        if time_limit is not None:
            asyncio.get_running_loop().call_later(time_limit, stop.set)
        await asyncio.gather(*(run(s, t) for s, t in zip(sessions, tallies, strict=True)))
        await wait_for(done, sync_sessions)
        marks["turns_end"] = time.monotonic() - t0
        cutter.stop.set()
        cutter.join()
        verify.set()
        await asyncio.gather(
            *(check(s, t) for s, t in zip(sessions, tallies, strict=True) if s is not None)
        )
        await wait_for(checks, sync_sessions + sum(s is not None for s in sessions))
        await asyncio.sleep(0.1)  # anything a disconnect scheduled has run
        current = asyncio.current_task()
        return [repr(t) for t in asyncio.all_tasks() if t is not current]

    threads = [
        threading.Thread(target=blocking, args=(t,), name=f"bench-soak-{t.name}", daemon=True)
        for t in sync_tallies
    ]
    for thread in threads:
        thread.start()
    pending_tasks = asyncio.run(main())
    for thread in threads:
        thread.join(60)
    time.sleep(sample_every)  # one more sample, after the close
    sampler.stop.set()
    sampler.join()

    every = tallies + sync_tallies
    totals: Counter[str] = Counter()
    for one in checks:
        totals.update(one)
    totals["unchecked_sessions"] = len(every) - len(checks)
    errors = [f"{t.name}: {e}" for t in every for e in t.errors]
    turns_done = sum(sum(t.sent) for t in every)
    seconds = marks["turns_end"] - marks["turns_start"]
    line = fit(sampler.samples, marks["turns_start"], marks["turns_end"])
    alive = fit(sampler.blocks, marks["turns_start"], marks["turns_end"])
    proc = psutil.Process()
    return {
        "async_sessions": async_sessions,
        "sync_sessions": sync_sessions,
        "turns_per_session": turns,
        "turns": turns_done,
        "turns_expected": len(every) * turns,
        "stopped_at_time_limit": stop.is_set(),
        "turns_seconds": seconds,
        "turns_per_second": turns_done / seconds if seconds > 0 else 0.0,
        "marks": marks,
        "samples": sampler.samples,
        "cut_times": cutter.times,
        "fit": line,
        "bytes_per_turn": line["slope"] * seconds / turns_done if turns_done else float("nan"),
        "blocks_per_turn": alive["slope"] * seconds / turns_done if turns_done else float("nan"),
        "totals": dict(totals),
        "leftover_threads": [
            t.name for t in threading.enumerate() if t.name.lower().startswith("vectorshift")
        ],
        "leftover_tasks": pending_tasks,
        "leftover_sockets": [str(c) for c in proc.net_connections(kind="inet")],
        "errors": errors[:20],
        "error_count": len(errors),
        # by kind, the texts left out (the first 20 alone may not show the pattern)
        "error_kinds": dict(
            Counter(re.sub(r"'[^']*'", "'...'", e.split(": ", 1)[1])[:80] for e in errors)
        ),
    }
