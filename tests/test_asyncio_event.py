"""The asyncio twin's Event (lighter than ``asyncio.Event``): the same answers, no leftovers."""

from __future__ import annotations

import asyncio

import pytest

from vectorshift_sessions._backends._asyncio_backend import Event


async def test_wait_returns_at_once_when_set() -> None:
    event = Event()
    event.set()
    assert event.is_set()
    assert await event.wait() is True
    assert await event.wait(0.01) is True


async def test_set_wakes_every_waiter() -> None:
    event = Event()
    waiters = [asyncio.create_task(event.wait()) for _ in range(3)]
    timed = asyncio.create_task(event.wait(5))
    await asyncio.sleep(0)
    event.set()
    assert await asyncio.gather(*waiters, timed) == [True, True, True, True]
    assert event._waiters is None


async def test_a_timeout_says_false_and_leaves_no_waiter_behind() -> None:
    event = Event()
    for _ in range(100):  # as a heartbeat waits, again and again
        assert await event.wait(0.0001) is False
    assert not event._waiters


async def test_set_then_cleared_before_the_waiter_runs_still_says_true() -> None:
    event = Event()
    waiter = asyncio.create_task(event.wait(5))
    await asyncio.sleep(0)
    event.set()
    event.clear()
    assert await waiter is True
    assert not event.is_set()


async def test_a_cancelled_waiter_is_removed_and_the_others_still_wake() -> None:
    event = Event()
    cancelled = asyncio.create_task(event.wait())
    cancelled_timed = asyncio.create_task(event.wait(5))
    other = asyncio.create_task(event.wait())
    await asyncio.sleep(0)
    cancelled.cancel()
    cancelled_timed.cancel()
    for task in (cancelled, cancelled_timed):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert event._waiters is not None and len(event._waiters) == 1
    event.set()
    assert await other is True


async def test_wait_after_clear_blocks_again() -> None:
    event = Event()
    event.set()
    event.clear()
    assert await event.wait(0.001) is False
