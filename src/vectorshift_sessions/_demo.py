"""The ``demo`` command: a scripted conversation against an embedded local engine.

It shows every event type as it streams, in both flavours: ``AsyncSession`` (asyncio) for
the demo agent's turns, ``Session`` (blocking) for a chatbot's. Agents and chatbots are picked
by name through the REST handles, as a user would.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from ._console import EventPrinter
from ._turn import TurnWatcher
from ._types import SessionEventType, UserSessionMessage

__all__ = ["run_demo"]

ET = SessionEventType


class _Script:
    """Where the demo writes: step headings and notes between the events."""

    def __init__(self, out: TextIO):
        self.out = out
        self.show = EventPrinter(out)
        self.steps = 0

    def step(self, title: str) -> None:
        self.show.end_line()
        self.steps += 1
        self.out.write(f"\n{self.steps}. {title}\n")
        self.out.flush()

    def note(self, text: str) -> None:
        self.show.end_line()
        self.out.write(f"     -> {text}\n")
        self.out.flush()


async def _async_part(base_url: str, ws_url: str, script: _Script) -> None:
    from . import AsyncClient, AsyncSession

    async with AsyncClient(base_url=base_url, ws_url=ws_url) as client:
        agent = await client.agents.fetch(name="demo")
        script.step(f"AsyncSession with the agent {agent.name!r} ({agent.id}), fetched by name")
        async with await agent.create_session() as session:
            await session.send("Find the Q3 report and file a follow-up ticket")
            turn = TurnWatcher()
            async for event in session.listen():
                script.show(event)
                if event.type == ET.APPROVAL_REQUEST:
                    script.note("approving the tool call with respond(event, approved=True)")
                    await session.respond(event, approved=True, confirm={"priority": "high"})
                if turn.feed(event):
                    break

            script.step("send_many(): text, a file and a note, posted as one turn")
            await session.send_many(
                [
                    "Please read these",
                    UserSessionMessage(content=b"q3,revenue\nEMEA,42\n", filename="q3.csv"),
                    UserSessionMessage(content="remember the deadline", mime_type="text/plain"),
                ]
            )
            turn = TurnWatcher()
            async for event in session.listen():
                script.show(event)
                if turn.feed(event):
                    break

            script.step("get_messages(): the history, answered to this call only")
            for message in await session.get_messages():
                who = "user " if message.is_user else "agent"
                script.out.write(
                    f"     {who} {message.content_type:<20} {(message.text or '')[:50]!r}\n"
                )
            session_id = session.session_id
        script.note(f"disconnected; the session lives on: {session_id}")

        script.step("resume by id: AsyncSession(session_id=...), a re-auth and a failure")
        async with AsyncSession(session_id=session_id, ws_url=ws_url, ping_interval=0.2) as resumed:
            for text in ("please reauth my drive", "now fail on purpose"):
                await resumed.send(text)
                turn = TurnWatcher()
                async for event in resumed.listen():
                    script.show(event)
                    if event.type == ET.REAUTH_REQUEST:
                        script.note("re-authorization requested: the user must sign in again")
                    if turn.feed(event):
                        break
            script.note("keep-alive: the session pings every 0.2 s here (5 s by default)")
            async for event in resumed.listen(event_types=[ET.PONG]):
                script.show(event)
                break


def _blocking_part(base_url: str, ws_url: str, script: _Script) -> None:
    from . import Client

    with Client(base_url=base_url, ws_url=ws_url) as client:
        chatbot = client.chatbots.fetch(name="echo")
        script.step(f"Session (blocking, no asyncio) with the chatbot {chatbot.name!r}")
        with chatbot.create_session() as session:
            session.send("Hello from blocking code")
            turn = TurnWatcher()
            for event in session.listen():
                script.show(event)
                if turn.feed(event):
                    break
            result = session.ask("and one turn with ask()")
            script.note(f"ask() returned {result.status!r}: {result.text!r}")
            session.terminate()
            script.note("terminated: the engine destroyed the session")


def run_demo(*, out: TextIO | None = None, turn_delay: float = 0.01) -> int:
    """Run the scripted conversation; 0 when every event type was shown."""
    from .engine import LocalEngine

    script = _Script(out or sys.stdout)
    with LocalEngine(db=":memory:", turn_delay=turn_delay) as engine:
        script.out.write(
            f"vectorshift-sessions demo: an embedded local engine at {engine.base_url}\n"
        )
        asyncio.run(_async_part(engine.base_url, engine.ws_url, script))
        _blocking_part(engine.base_url, engine.ws_url, script)
    script.show.end_line()
    missing = sorted(t.value for t in ET if t not in script.show.seen)
    script.out.write(
        f"\nEvent types shown: {len(script.show.seen)} of {len(ET)}"
        + (f" (not shown: {', '.join(missing)})" if missing else "")
        + "\n"
    )
    return 1 if missing else 0
