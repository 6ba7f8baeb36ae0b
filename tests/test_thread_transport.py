"""Both flavours read the socket in chunks and parse every frame in a chunk at once: through a
whole session, frames larger than a chunk, frames split across chunks and many small frames all
arrive whole and in order. (The transports on their own: tests/test_transports.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from vectorshift_sessions import AsyncSession, Session, SessionEventType, TurnResult
from vectorshift_sessions._backends._base import CHUNK
from vectorshift_sessions.engine import LocalEngine


def ask_blocking(engine: LocalEngine, question: str) -> TurnResult:
    with Session(owner_type="agent", owner_id="agent-bench", ws_url=engine.ws_url) as session:
        return session.ask(question)


def ask_async(engine: LocalEngine, question: str) -> TurnResult:
    async def ask() -> TurnResult:
        async with AsyncSession(
            owner_type="agent", owner_id="agent-bench", ws_url=engine.ws_url
        ) as session:
            return await session.ask(question)

    return asyncio.run(ask())


@pytest.mark.parametrize("ask", [ask_blocking, ask_async], ids=["threads", "asyncio"])
@pytest.mark.parametrize(
    ("count", "size"),
    [
        (3, CHUNK),  # each frame larger than a chunk (header + payload)
        (2, CHUNK - 3),  # a frame that ends just past a chunk's end
        (5_000, 7),  # many small frames, some split across chunks
        (40, 4_099),  # frames of an odd size, straddling every boundary
    ],
)
def test_frames_arrive_whole_across_read_chunks(
    engine: LocalEngine, ask: Callable[[LocalEngine, str], TurnResult], count: int, size: int
) -> None:
    result = ask(engine, f"{count} {size}")
    deltas = [e for e in result.events if e.type == SessionEventType.MESSAGE_DELTA]
    assert [e.data["index"] for e in deltas] == list(range(count))
    assert all(e.delta == "x" * size for e in deltas)
    assert result.text == "x" * size * count
