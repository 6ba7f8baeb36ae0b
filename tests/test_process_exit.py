"""Interpreter exit with sessions still open, in both flavours: no hang, no traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from vectorshift_sessions.engine import LocalEngine


def test_interpreter_exit_with_open_sessions_is_quiet(engine: LocalEngine) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio
        from vectorshift_sessions import AsyncSession, Session

        url = {engine.ws_url!r}
        blocking = Session(owner_type="agent", owner_id="agent-echo", ws_url=url).connect()
        blocking.ask("left open")

        async def leave_open():
            session = await AsyncSession(owner_type="agent", owner_id="agent-echo", ws_url=url)
            await session.ask("left open too")
            listener = session.listen()  # and a listener never finished

        asyncio.run(leave_open())
        print("exiting", flush=True)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "exiting"
    assert done.stderr == "", done.stderr
