"""A fast stream read through ``listen()`` with its default queue bound (1024) by a loop that
keeps up loses nothing: the reader yields to its listeners during a burst (every 256 frames)
instead of running through a whole socket read (~2,000 deltas) while they cannot drain."""

from __future__ import annotations

from vectorshift_sessions import AsyncSession, Session, SessionEventType, TurnWatcher
from vectorshift_sessions.engine import LocalEngine

ET = SessionEventType
COUNT = 20_000


async def test_asyncio_listener_keeps_up_with_a_fast_stream(engine: LocalEngine) -> None:
    async with AsyncSession(
        owner_type="agent", owner_id="agent-bench", ws_url=engine.ws_url
    ) as session:
        deltas = errors = 0
        turn = TurnWatcher()
        async with session.listen() as listener:
            await session.send(str(COUNT))
            async for event in listener:
                deltas += event.type == ET.MESSAGE_DELTA
                errors += event.type == ET.ERROR
                if turn.feed(event):
                    break
    assert (deltas, errors) == (COUNT, 0)


def test_blocking_listener_keeps_up_with_a_fast_stream(engine: LocalEngine) -> None:
    with Session(owner_type="agent", owner_id="agent-bench", ws_url=engine.ws_url) as session:
        deltas = errors = 0
        turn = TurnWatcher()
        with session.listen() as listener:
            session.send(str(COUNT))
            for event in listener:
                deltas += event.type == ET.MESSAGE_DELTA
                errors += event.type == ET.ERROR
                if turn.feed(event):
                    break
    assert (deltas, errors) == (COUNT, 0)
