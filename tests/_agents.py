"""Agents for tests in tests/_async (agents are async in both flavours, so they live outside
the code that codegen turns blocking)."""

from __future__ import annotations

from vectorshift_sessions.engine import Turn


async def greeter(turn: Turn) -> None:
    await turn.say(f"Hello, {turn.text}!")
