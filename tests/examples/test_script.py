"""examples/script/script.py, run as a user runs it: a subprocess of this Python."""

from __future__ import annotations

import asyncio
import os
import queue
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from vectorshift_sessions.engine import Turn
from vectorshift_sessions.testing import EngineFixture

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "script" / "script.py"


def without_vectorshift_variables() -> dict[str, str]:
    """This process's environment with no VECTORSHIFT_* variable: the script embeds an engine."""
    return {k: v for k, v in os.environ.items() if not k.startswith("VECTORSHIFT_")}


def run_script(question: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), question],
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )


def test_the_script_streams_an_answer_from_its_own_engine() -> None:
    done = run_script("Where is order 42?", without_vectorshift_variables())
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Where is order 42?\n"  # the echo agent streams the question back


def test_the_script_talks_to_the_engine_the_environment_names(
    vectorshift_engine: EngineFixture,
) -> None:
    assert vectorshift_engine.sessions() == []
    done = run_script("Hello there", os.environ.copy())  # the fixture's VECTORSHIFT_* variables
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Hello there\n"
    [session_id] = vectorshift_engine.sessions()  # opened in this engine, not in one of its own
    sent = [m.text for m in vectorshift_engine.messages(session_id) if m.is_user]
    assert sent == ["Hello there"]


def test_the_script_prints_each_delta_as_it_arrives(vectorshift_engine: EngineFixture) -> None:
    """An agent that holds its second delta until the test has seen the first one printed:
    a script that buffered its output would never show it."""
    release = threading.Event()

    async def gated(turn: Turn) -> None:
        async def words() -> AsyncIterator[str]:
            yield "first "
            await asyncio.to_thread(release.wait, 60)
            yield "second"

        await turn.say_stream(words())

    vectorshift_engine.add_agent("gated", gated)
    env = {**os.environ, "VECTORSHIFT_AGENT": "gated"}
    env.pop("PYTHONUNBUFFERED", None)  # a pipe is block-buffered: the script must flush itself
    chunks: queue.Queue[bytes] = queue.Queue()

    def next_chunk(seen: bytes) -> bytes:
        try:
            return chunks.get(timeout=30)
        except queue.Empty:
            pytest.fail(f"nothing more printed within 30 s after {seen!r}")

    with subprocess.Popen(
        [sys.executable, str(SCRIPT), "anything"], env=env, stdout=subprocess.PIPE, bufsize=0
    ) as process:
        stdout = process.stdout
        assert stdout is not None

        def read() -> None:
            """Queues the output as it arrives (bufsize=0: read() returns what has come), so
            that the test waits for it with a timeout."""
            while chunk := stdout.read(1024):
                chunks.put(chunk)
            chunks.put(b"")

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        seen = b""
        try:
            while b"first " not in seen:
                chunk = next_chunk(seen)
                assert chunk, f"the script ended before printing its first delta: {seen!r}"
                seen += chunk
        finally:
            release.set()
        while chunk := next_chunk(seen):
            seen += chunk
        assert process.wait(timeout=30) == 0
        reader.join()
    assert seen.decode() == "first second\n"
