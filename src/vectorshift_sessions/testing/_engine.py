"""A local engine for one test, in a thread of its own, driven with plain calls."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..engine import AgentFunction, LocalEngine

if TYPE_CHECKING:
    from .._types import SessionMessage
    from ._mismatch import Mismatch

__all__ = ["TEST_API_KEY", "EngineFixture"]

#: The key the ``vectorshift_engine`` fixture's engine accepts (and sets as ``VECTORSHIFT_API_KEY``).
TEST_API_KEY = "vs-test-key"


class EngineFixture:
    """What the ``vectorshift_engine`` fixture hands out: a running :class:`LocalEngine` (in-memory
    store, its own thread) with plain methods that work from sync and async tests alike.

    Usable without pytest too::

        with EngineFixture() as engine:
            agent_id = engine.add_agent("greeter", greeter)
            os.environ.update(engine.env())

    ``api_key`` is the one key the engine accepts (``None``: no key needed); ``turn_delay``
    pauses that many seconds before each delta and event of every turn (``0``: instant);
    ``status_on_connect=False`` leaves out the engine's one protocol extension, as the hosted
    engine may; ``agents`` / ``chatbots`` as :class:`LocalEngine` takes them.
    """

    def __init__(
        self,
        *,
        api_key: str | None = TEST_API_KEY,
        turn_delay: float = 0.0,
        status_on_connect: bool = True,
        agents: Mapping[str, AgentFunction] | None = None,
        chatbots: Mapping[str, str] | None = None,
    ):
        self.api_key = api_key
        #: The engine itself (``LocalEngine``), for what this class does not wrap.
        self.engine = LocalEngine(
            db=":memory:",
            api_keys=() if api_key is None else (api_key,),
            turn_delay=turn_delay,
            status_on_connect=status_on_connect,
            chatbots=chatbots,
        )
        self._agents: list[Any] = []
        for name, agent in (agents or {}).items():
            self.add_agent(name, agent)

    # --- lifetime ---

    def start(self) -> EngineFixture:
        """Start the engine in its thread; returns ``self``."""
        self.engine.__enter__()
        return self

    def close(self) -> None:
        """Stop the engine and join its thread (no socket or thread is left). Idempotent."""
        self.engine.__exit__(None, None, None)

    def __enter__(self) -> EngineFixture:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- where it is ---

    @property
    def port(self) -> int:
        return self.engine.port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` (what ``VECTORSHIFT_BASE_URL`` takes)."""
        return self.engine.base_url

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:PORT/v1`` (what ``VECTORSHIFT_WS_URL`` takes)."""
        return self.engine.ws_url

    def env(self) -> dict[str, str]:
        """``VECTORSHIFT_BASE_URL``, ``VECTORSHIFT_WS_URL`` and ``VECTORSHIFT_API_KEY``."""
        return self.engine.env()

    # --- agents ---

    def add_agent(
        self, name: str, agent: AgentFunction, *, id: str | None = None, description: str = ""
    ) -> str:
        """Serve a conversational agent (see :class:`~vectorshift_sessions.engine.Turn`), also
        while sessions run; returns its id (``agent-<name>`` unless ``id`` is given), which
        ``agents.fetch(name=name)`` finds too. A scripted agent's or a cassette's mismatches
        fail the test when it ends (see :attr:`mismatches`)."""
        agent_id = self.engine.add_agent(name, agent, id=id, description=description)
        self._agents.append(agent)
        return agent_id

    def add_chatbot(
        self, name: str, agent: AgentFunction | str, *, id: str | None = None, description: str = ""
    ) -> str:
        """Serve a chatbot backed by ``agent`` (an agent function, or the name or id of an
        agent already served); returns its id (``chatbot-<name>`` unless ``id`` is given)."""
        if not isinstance(agent, str):
            agent = self.add_agent(name, agent, description=description)
        return self.engine.add_chatbot(name, agent, id=id, description=description)

    @property
    def mismatches(self) -> list[Mismatch]:
        """What the scripted and replaying agents added here did not expect, in order."""
        return [m for agent in self._agents for m in getattr(agent, "mismatches", ())]

    def check(self) -> None:
        """Raise the first of :attr:`mismatches` (the fixture calls this when the test ends),
        naming how many more there were."""
        found = self.mismatches
        if found:
            first = found[0]
            if len(found) > 1:
                raise type(first)(f"{first} (and {len(found) - 1} more mismatches)")
            raise first

    # --- what happened, and faults ---

    def messages(self, session_id: str) -> list[SessionMessage]:
        """The session's stored messages, oldest first: what the code under test sent, and
        what the agent answered."""
        return self.engine.messages(session_id)

    def cut_connections(self) -> int:
        """Drop every open WebSocket now, with no closing handshake (sessions and their turns
        live on); returns how many. Clients that recover come back on their own."""
        return self.engine.cut_connections()

    def restart(self) -> None:
        """Stop and start again on the same port and store: every connection closes, running
        turns are cancelled, and every session can be resumed by id when this returns."""
        loop = self.engine._loop
        if loop is None:
            raise RuntimeError("the engine is not running; start it first")
        asyncio.run_coroutine_threadsafe(self.engine.restart(), loop).result()

    def __repr__(self) -> str:
        return f"<EngineFixture {self.engine!r}>"
