"""What a web request pays to resume a session by id (the examples' pattern), per request.

``kept``: a one-delta turn on a session kept connected. ``request``: what a web request does
instead: resume the session by id, stream the same turn, disconnect. Their difference is the
resume's cost. The raw floor does the same with a bare ``websockets`` connection (open,
``connect_session``, the turn, close): what no client can do below.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from time import perf_counter
from typing import Any

from . import _clients
from ._clients import AGENT_ID

#: A fresh session every so many requests: the engine reads a session's history at every
#: post, so one long-lived session would slowly add its own time to every sample.
PER_SESSION = 50

CLIENTS = ["ours-async", "ours-sync", "raw-websockets"]


def _timed(samples: list[float], fn: Callable[[], Any]) -> Any:
    start = perf_counter()
    result = fn()
    samples.append(perf_counter() - start)
    return result


async def _ours_async(ws_base: str, requests: int) -> dict[str, list[float]]:
    from vectorshift_sessions import AsyncSession

    kept: list[float] = []
    request: list[float] = []
    for first in range(0, requests, PER_SESSION):
        async with AsyncSession(owner_type="agent", owner_id=AGENT_ID, ws_url=ws_base) as live:
            session_id = live.session_id
            async for _ in live.stream("1"):  # warm-up
                pass
            for _ in range(min(PER_SESSION, requests - first)):
                start = perf_counter()
                async for _ in live.stream("1"):
                    pass
                kept.append(perf_counter() - start)
        for _ in range(min(PER_SESSION, requests - first)):
            start = perf_counter()
            async with AsyncSession(session_id=session_id, ws_url=ws_base) as resumed:
                async for _ in resumed.stream("1"):
                    pass
            request.append(perf_counter() - start)
    return {"kept": kept, "request": request}


def _ours_sync(ws_base: str, requests: int) -> dict[str, list[float]]:
    from vectorshift_sessions import Session

    kept: list[float] = []
    request: list[float] = []

    def turn(session: Session) -> None:
        for _ in session.stream("1"):
            pass

    def one_request(session_id: str) -> None:
        with Session(session_id=session_id, ws_url=ws_base) as resumed:
            turn(resumed)

    for first in range(0, requests, PER_SESSION):
        with Session(owner_type="agent", owner_id=AGENT_ID, ws_url=ws_base) as live:
            session_id = live.session_id or ""
            turn(live)  # warm-up
            for _ in range(min(PER_SESSION, requests - first)):
                _timed(kept, lambda: turn(live))
        for _ in range(min(PER_SESSION, requests - first)):
            _timed(request, lambda: one_request(session_id))  # noqa: B023
    return {"kept": kept, "request": request}


async def _raw(ws_base: str, requests: int) -> dict[str, list[float]]:
    from websockets.asyncio.client import connect

    kept: list[float] = []
    request: list[float] = []
    for first in range(0, requests, PER_SESSION):
        live = _clients.RawWebsocketsAsync()
        await live.open(ws_base)
        session_id = live.session_id
        await live.turn("1")  # warm-up
        for _ in range(min(PER_SESSION, requests - first)):
            start = perf_counter()
            await live.turn("1")
            kept.append(perf_counter() - start)
        await live.close()
        for _ in range(min(PER_SESSION, requests - first)):
            start = perf_counter()
            resumed = _clients.RawWebsocketsAsync()
            resumed.ws = await connect(
                ws_base + "/ws/session", compression=None, ping_interval=None
            )
            resumed.session_id = session_id
            await resumed.ws.send(_clients.connect_frame(session_id))
            json.loads(await resumed.ws.recv())
            await resumed.turn("1")
            await resumed.close()
            request.append(perf_counter() - start)
    return {"kept": kept, "request": request}


def resume(client: str, ws_base: str, requests: int) -> dict[str, Any]:
    if client == "ours-async":
        times = asyncio.run(_ours_async(ws_base, requests))
    elif client == "ours-sync":
        times = _ours_sync(ws_base, requests)
    else:
        times = asyncio.run(_raw(ws_base, requests))
    return {name: [t * 1e6 for t in values] for name, values in times.items()}
