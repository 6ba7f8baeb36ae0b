"""The shortest complete program: fetch an agent by name, open a session, stream one answer.

Run it from the repository root (after ``pip install -e .``)::

    python examples/script/script.py "What can you do?"

With no VECTORSHIFT_* variables set it embeds a local engine and talks to its echo agent;
with VECTORSHIFT_API_KEY (and VECTORSHIFT_AGENT, an agent's name) it talks to the hosted one.
"""

from __future__ import annotations

import os
import sys

from vectorshift_sessions import Agent
from vectorshift_sessions.engine import LocalEngine


def configured() -> bool:
    """True when the environment names an engine (the hosted one, or one you run yourself)."""
    return bool(os.environ.get("VECTORSHIFT_API_KEY") or os.environ.get("VECTORSHIFT_BASE_URL"))


def main(question: str) -> None:
    agent = Agent.fetch(name=os.environ.get("VECTORSHIFT_AGENT", "echo"))
    with agent.create_session() as session:  # connects; disconnects at the end of the block
        for event in session.stream(question):
            if event.delta:
                print(event.delta, end="", flush=True)
    print()


if __name__ == "__main__":
    question = " ".join(sys.argv[1:]) or "Hello from the shortest complete program"
    if configured():
        main(question)
    else:  # no engine named: embed one (in-memory, on a free port) for this run
        with LocalEngine(db=":memory:") as engine:
            os.environ.update(engine.env())
            main(question)
