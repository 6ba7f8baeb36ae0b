"""Agents for tests in tests/_async (agents are async in both flavours, so they live outside
the code that codegen turns blocking)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

from vectorshift_sessions.engine import Turn


async def greeter(turn: Turn) -> None:
    await turn.say(f"Hello, {turn.text}!")


class HeldAgent:
    """Says "working", then holds its turn until the test calls ``release.set()`` (from any
    thread), then says "done": a turn that stays quiet for as long as a test needs."""

    def __init__(self) -> None:
        self.release = threading.Event()

    async def __call__(self, turn: Turn) -> None:
        await turn.say("working")
        await asyncio.to_thread(self.release.wait)
        await turn.say("done")


class ChatterAgent:
    """Streams a delta every few milliseconds until the test calls ``release.set()``: a turn
    that is never quiet for long."""

    def __init__(self) -> None:
        self.release = threading.Event()

    async def __call__(self, turn: Turn) -> None:
        async def chatter() -> AsyncIterator[str]:
            while not self.release.is_set():
                yield "."
                await asyncio.sleep(0.002)  # the agent's pace, not a test's synchronisation

        await turn.say_stream(chatter())
