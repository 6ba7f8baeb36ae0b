"""Without opentelemetry importable, sessions work and record nothing (the ``otel`` extra is
optional). A fresh interpreter whose ``opentelemetry`` imports all fail."""

from __future__ import annotations

import subprocess
import sys

from vectorshift_sessions.engine import LocalEngine

PROGRAM = """
import asyncio, sys
sys.modules["opentelemetry"] = None  # every `import opentelemetry...` now fails

from vectorshift_sessions import AsyncSession, Client, Session, TurnStatus
from vectorshift_sessions import _telemetry

WS, BASE = sys.argv[1], sys.argv[2]
with Session(owner_type="agent", owner_id="agent-demo", ws_url=WS) as session:
    paused = session.ask("book a meeting room")
    assert paused.status == TurnStatus.AWAITING_APPROVAL, paused
    done = list(session.respond_stream(paused.action_event, approved=True))
    assert done[-1].is_turn_end
    core = session._core
    assert core._append == core.log.append and core._extend == core.log.extend

async def main():
    async with AsyncSession(owner_type="agent", owner_id="agent-echo", ws_url=WS) as session:
        assert (await session.ask("hello")).text == "hello"

asyncio.run(main())
with Client(base_url=BASE, ws_url=WS) as client:
    assert client.agents.fetch(name="echo").run("again").text == "again"
assert not _telemetry.available()
assert not [m for m in sys.modules if m.startswith("opentelemetry.")]
print("ok")
"""


def test_sessions_work_when_opentelemetry_cannot_be_imported(engine: LocalEngine) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, engine.ws_url, engine.base_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
