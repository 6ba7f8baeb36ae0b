"""AsyncSession under cancellation, and its task hygiene."""

from __future__ import annotations

import asyncio

from vectorshift_sessions import AsyncSession, SessionEventType, TurnStatus
from vectorshift_sessions.engine import LocalEngine


def our_tasks() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if t.get_name().startswith("vectorshift-session")}


async def test_cancelling_a_listener_leaves_the_session_consistent(engine: LocalEngine) -> None:
    async with AsyncSession(
        owner_type="agent", owner_id="agent-echo", ws_url=engine.ws_url
    ) as session:
        started = asyncio.Event()

        async def listen_forever() -> None:
            listener = session.listen(event_types=[SessionEventType.MESSAGE_COMPLETE])
            started.set()
            async for _ in listener:
                pass

        task = asyncio.create_task(listen_forever())
        await started.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert (await session.ask("still fine")).status == TurnStatus.COMPLETE


async def test_a_cancelled_get_messages_leaves_answers_in_order(engine: LocalEngine) -> None:
    async with AsyncSession(
        owner_type="agent", owner_id="agent-echo", ws_url=engine.ws_url
    ) as session:
        await session.ask("one")
        history = asyncio.create_task(session.get_messages())
        await asyncio.sleep(0)  # one step: the request is sent and waits for its answer
        history.cancel()
        await asyncio.gather(history, return_exceptions=True)
        await session.ask("two")
        # The orphaned answer is absorbed; this call gets its own, newer one.
        assert [m.text for m in await session.get_messages()] == ["one", "one", "two", "two"]


async def test_no_task_is_left_after_disconnect(engine: LocalEngine) -> None:
    session = AsyncSession(
        owner_type="agent", owner_id="agent-echo", ws_url=engine.ws_url, ping_interval=0.01
    )
    await session.connect()
    assert our_tasks()
    await session.ask("hi")
    await session.disconnect()
    assert not our_tasks()


async def test_await_session_connects(engine: LocalEngine) -> None:
    session = await AsyncSession(owner_type="agent", owner_id="agent-echo", ws_url=engine.ws_url)
    try:
        assert session.is_connected
    finally:
        await session.disconnect()
