"""A local engine for one test, in a thread of its own, driven with plain calls."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._config import OWNER_CHATBOT
from ..engine import AgentFunction, LocalEngine, Turn
from ._mismatch import Mismatch

if TYPE_CHECKING:
    from .._types import SessionMessage
    from ._cassette import Cassette

__all__ = ["TEST_API_KEY", "EngineFixture"]

TEST_API_KEY = "vs-test-key"
"""The key the ``vectorshift_engine`` fixture's engine accepts (and sets as
``VECTORSHIFT_API_KEY``).
"""


class EngineFixture:
    """What the ``vectorshift_engine`` fixture hands out: a running `LocalEngine` (in-memory
    store, its own thread) with plain methods that work from sync and async tests alike.

    Usable without pytest too::

        with EngineFixture() as engine:
            agent_id = engine.add_agent("greeter", greeter)
            os.environ.update(engine.env())

    ``api_key`` is the one key the engine accepts (``None``: no key needed); ``turn_delay``
    pauses that many seconds before each delta and event of every turn (``0``: instant);
    ``extensions=False`` leaves out the engine's protocol extensions, to behave as an engine
    without them; ``agents`` / ``chatbots`` as `LocalEngine` takes them.

    Args:
        api_key: The one key the engine accepts; ``None``: no key needed.
        turn_delay: Seconds to pause before each delta and event.
        extensions: Offer the engine's protocol extensions.
        agents: Agents to serve, ``{name: agent function}``.
        chatbots: Chatbots to serve, ``{name: agent name}``.

    Attributes:
        api_key: The key the engine accepts, or ``None``.
        engine: The engine itself (``LocalEngine``), for what this class does not wrap.
    """

    def __init__(
        self,
        *,
        api_key: str | None = TEST_API_KEY,
        turn_delay: float = 0.0,
        extensions: bool = True,
        agents: Mapping[str, AgentFunction] | None = None,
        chatbots: Mapping[str, str] | None = None,
    ):
        self.api_key = api_key
        #: The engine itself (``LocalEngine``), for what this class does not wrap.
        self.engine = LocalEngine(
            db=":memory:",
            api_keys=() if api_key is None else (api_key,),
            turn_delay=turn_delay,
            extensions=extensions,
            chatbots=chatbots,
        )
        # The test doubles added here, with how many mismatches each had before (a double
        # reused from an earlier test fails only this test for what happens in this one).
        self._doubles: dict[int, tuple[Any, int]] = {}
        self._replayed: set[str] = set()  # the ids and names a cassette's replay serves
        for name, agent in (agents or {}).items():
            self.add_agent(name, agent)

    # --- lifetime ---

    def start(self) -> EngineFixture:
        """Start the engine in its thread.

        Returns:
            The fixture itself, running.

        Raises:
            RuntimeError: It is running already.
            OSError: The engine cannot listen.
        """
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
        """The port the engine listens on (the same after `restart`)."""
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
        """``VECTORSHIFT_BASE_URL``, ``VECTORSHIFT_WS_URL`` and ``VECTORSHIFT_API_KEY``.

        Returns:
            The environment variables a client needs, for ``os.environ.update()`` or
            ``monkeypatch.setenv``.
        """
        return self.engine.env()

    # --- agents ---

    def add_agent(
        self, name: str, agent: AgentFunction, *, id: str | None = None, description: str = ""
    ) -> str:
        """Serve a conversational agent (see `vectorshift_sessions.engine.Turn`), also
        while sessions run; returns its id (``agent-<name>`` unless ``id`` is given), which
        ``agents.fetch(name=name)`` finds too. A scripted agent's or a cassette's mismatches
        fail the test when it ends (see `mismatches`).

        Args:
            name: The agent's name.
            agent: The agent function (a `Conversation`, a cassette's replay...).
            id: Its id; ``agent-<name>`` by default.
            description: What it does.

        Returns:
            The agent's id.

        Raises:
            TypeError: ``agent`` is not callable.
        """
        agent_id = id or f"agent-{name}"
        if agent_id in self._replayed or name in self._replayed:
            return agent_id  # a cassette replays this agent: the replay stays
        self.engine.add_agent(name, agent, id=agent_id, description=description)
        self._track(agent)
        return agent_id

    def add_chatbot(
        self, name: str, agent: AgentFunction | str, *, id: str | None = None, description: str = ""
    ) -> str:
        """Serve a chatbot backed by ``agent`` (an agent function, or the name or id of an
        agent already served); returns its id (``chatbot-<name>`` unless ``id`` is given).

        Args:
            name: The chatbot's name.
            agent: The agent that answers for it: an agent function, or a name or id.
            id: Its id; ``chatbot-<name>`` by default.
            description: What it does.

        Returns:
            The chatbot's id.

        Raises:
            ValueError: The agent is unknown or functional.
        """
        bot_id = id or f"chatbot-{name}"
        if bot_id in self._replayed or name in self._replayed:
            return bot_id  # a cassette replays this chatbot: the replay stays
        if not isinstance(agent, str):
            self._track(agent)
        return self.engine.add_chatbot(name, agent, id=bot_id, description=description)

    def _replay(self, cassette: Cassette, agent: AgentFunction) -> None:
        """Serve ``agent`` (the cassette's replay) as each recorded owner, under its recorded
        id and name, and every other agent the engine serves (the built-ins) as an agent that
        fails: a replay answers only what was recorded. Later additions under the recorded ids
        or names leave the replay in place; other agents the test adds are served."""
        for owner in cassette.owners:
            name = owner.name or owner.object_id
            if owner.object_type == OWNER_CHATBOT:
                self.engine.add_chatbot(name, agent, id=owner.object_id)
            else:
                self.engine.add_agent(name, agent, id=owner.object_id)
            self._replayed.update((owner.object_id, name))
        self._track(agent)
        for spec in self.engine.catalog.agents():
            if spec.handler is not None and spec.id not in self._replayed:
                unrecorded = _Unrecorded(spec.id, cassette.name)
                self.engine.add_agent(spec.name, unrecorded, id=spec.id)
                self._track(unrecorded)

    def _track(self, agent: Any) -> None:
        if hasattr(agent, "mismatches") and id(agent) not in self._doubles:
            self._doubles[id(agent)] = (agent, len(agent.mismatches))

    @property
    def mismatches(self) -> list[Mismatch]:
        """What the scripted and replaying agents added here did not expect, in order."""
        return [m for agent, before in self._doubles.values() for m in agent.mismatches[before:]]

    def problem(self, *, finished: bool = True) -> Mismatch | None:
        """Everything the test doubles added here did not expect, as one `Mismatch`
        (``None`` when all went as expected): each one's `mismatches`, and when the test
        ``finished`` (passed), what it never got to (a `Conversation`'s unreached
        exchanges, a cassette's unplayed turns: their ``assert_done()``).

        Args:
            finished: The test ran to its end, so what was never reached counts too.

        Returns:
            The problem, or ``None`` when all went as expected.
        """
        problems = self.mismatches
        # After a mismatch, what was never reached is its consequence: not reported.
        unfinished_too = finished and not problems
        for agent, _ in self._doubles.values():
            assert_done = getattr(agent, "assert_done", None)
            if unfinished_too and assert_done is not None:
                try:
                    assert_done()
                except Mismatch as exc:
                    problems.append(exc)
        if len(problems) <= 1:
            return problems[0] if problems else None
        listed = "\n".join(f"- {type(p).__name__}: {p}" for p in problems)
        return Mismatch(f"{len(problems)} problems:\n{listed}")

    def check(self, *, finished: bool = True) -> None:
        """Raise `problem`, if there is one (the fixture fails the test with it).

        Args:
            finished: The test ran to its end, so what was never reached counts too.

        Raises:
            Mismatch: What the test doubles did not expect (or never got to).
        """
        problem = self.problem(finished=finished)
        if problem is not None:
            raise problem

    # --- what happened, and faults ---

    def sessions(self) -> list[str]:
        """The ids of the sessions the engine holds, oldest first: for code under test that
        opens its own sessions.

        Returns:
            The session ids.
        """
        return self.engine.sessions()

    def messages(self, session_id: str) -> list[SessionMessage]:
        """The session's stored messages, oldest first: what the code under test sent, and
        what the agent answered.

        Args:
            session_id: The session's id.

        Returns:
            Its stored messages, decoded (none for an unknown session).
        """
        return self.engine.messages(session_id)

    def cut_connections(self) -> int:
        """Drop every open WebSocket now, with no closing handshake (sessions and their turns
        live on). Clients that recover come back on their own.

        Returns:
            How many connections were cut.
        """
        return self.engine.cut_connections()

    def restart(self) -> None:
        """Stop and start again on the same port and store: every connection closes, running
        turns are cancelled, and every session can be resumed by id when this returns."""
        self.engine._wait_in_engine_thread(self.engine.restart)

    def __repr__(self) -> str:
        return f"<EngineFixture {self.engine!r}>"


class _Unrecorded:
    """What a replay serves for an agent the cassette never recorded: every post fails."""

    def __init__(self, agent_id: str, cassette: str):
        self.agent_id, self.cassette = agent_id, cassette
        self.mismatches: list[Mismatch] = []

    async def __call__(self, turn: Turn) -> None:
        from ._cassette import CassetteMismatch

        mismatch = CassetteMismatch(
            f"cassette {self.cassette} holds no session with {self.agent_id}, but the code "
            f"posted {turn.text!r:.200} to it; record the cassette again "
            "(--vectorshift-record-mode=rewrite) if the code now talks to it"
        )
        self.mismatches.append(mismatch)
        raise mismatch
