"""The built-in agents (``echo``, ``demo``, ``bench``, ``summarize``) and the catalogue.

The catalogue is what REST lists and what ``create_session`` resolves: built-ins first, then
the configuration file, then the agents passed to `LocalEngine`; a later definition
with the same name replaces an earlier one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, cast

import attrs

from .._config import OWNER_AGENT, OWNER_CHATBOT, OWNER_TYPES
from .._content import decode_content
from ._config import EngineConfig
from ._openai import OpenAIAgent
from ._turn import AgentFunction, Turn

__all__ = [
    "AgentSpec",
    "Catalog",
    "ChatbotSpec",
    "bench_agent",
    "build_catalog",
    "demo_agent",
    "echo_agent",
    "split_words",
]

CONVERSATIONAL = "conversational"
FUNCTIONAL = "functional"


@attrs.frozen
class AgentSpec:
    """An agent in the catalogue.

    ``handler`` runs its turns (``None`` only for functional agents, which cannot hold
    sessions). ``id`` defaults to ``agent-<name>``.

    Attributes:
        name: The agent's name.
        handler: The agent function that runs its turns.
        id: Its id; ``agent-<name>`` by default.
        agent_type: ``"conversational"`` (the default) or ``"functional"``.
        description: What it does, shown as its instructions over REST.

    Raises:
        ValueError: A conversational agent has no handler, or ``agent_type`` is another
            value.
    """

    name: str
    handler: AgentFunction | None = None
    id: str = attrs.field(default=attrs.Factory(lambda self: f"agent-{self.name}", takes_self=True))
    agent_type: str = attrs.field(
        default=CONVERSATIONAL, validator=attrs.validators.in_((CONVERSATIONAL, FUNCTIONAL))
    )
    description: str = ""

    def __attrs_post_init__(self) -> None:
        if self.agent_type == CONVERSATIONAL and self.handler is None:
            raise ValueError(f"conversational agent {self.name!r} needs a handler")

    def as_json(self) -> dict[str, Any]:
        """As the hosted API shows an agent (enough for the official client's ``Agent.fetch``).

        Returns:
            The agent as a JSON object.
        """
        return {
            "_id": self.id,
            "name": self.name,
            "agent_type": self.agent_type,
            "instructions": self.description,
            "llm_client_key": {"provider": "local", "model_id": self.name},
            "tools": {},
            "inputs": {},
            "outputs": {},
        }


@attrs.frozen
class ChatbotSpec:
    """A chatbot in the catalogue, backed by a conversational agent (its name or id).

    Attributes:
        name: The chatbot's name.
        agent: The name or id of the conversational agent that answers for it.
        id: Its id; ``chatbot-<name>`` by default.
        description: What it does.
    """

    name: str
    agent: str
    id: str = attrs.field(
        default=attrs.Factory(lambda self: f"chatbot-{self.name}", takes_self=True)
    )
    description: str = ""


def split_words(text: str) -> list[str]:
    """``text`` in word-sized chunks (each word with the spaces after it); they join back to it."""
    return re.findall(r"\S+\s*|\s+", text) or [""]


def _size(n: int) -> str:
    return f"{n:,} byte" + ("" if n == 1 else "s")


def describe_inputs(turn: Turn) -> str:
    """A sentence naming what the user posted: texts, and files with MIME types and sizes."""
    parts: list[str] = []
    for content in turn.inputs:  # the engine accepted them: they decode
        decoded = decode_content(content)
        if decoded.text is not None:
            typed = f" ({decoded.mime_type})" if decoded.mime_type else ""
            parts.append(f"the text “{decoded.text}”{typed}")
    for file in turn.files:
        parts.append(f"the file {file.name} ({file.mime_type}, {_size(file.size)})")
    count = len(turn.inputs)
    lead = "I received 1 item" if count == 1 else f"I received {count} items in one turn"
    return f"{lead}: {'; '.join(parts)}." if parts else f"{lead}."


async def echo_agent(turn: Turn) -> None:
    """Streams the user's text back word by word, then the complete message.

    Args:
        turn: The turn to answer.
    """
    text = turn.text
    if turn.files:
        text = f"{text}\n{describe_inputs(turn)}" if text else describe_inputs(turn)
    await turn.say_stream(split_words(text))


async def demo_agent(turn: Turn) -> None:
    """A scripted turn that shows every kind of event (see the engine's docstring).

    Args:
        turn: The turn to answer.
    """
    text = turn.text.strip()
    lowered = text.lower()
    if "fail" in lowered:
        await turn.thinking("The message asks me to fail, so I report an error.", "Failing")
        await turn.error("the demo agent failed on purpose (your message contains 'fail')")
        return
    if "reauth" in lowered:
        await turn.reauth(
            "google_drive",
            integration_name="Demo Drive",
            message="The connection to Demo Drive expired; sign in again to continue.",
        )
        await turn.say_stream(
            split_words("I need you to reconnect Demo Drive before I can read your documents.")
        )
        return
    if turn.files or len(turn.inputs) > 1:
        await turn.thinking("The user sent several items; I list what arrived.", "Reading")
        await turn.say_stream(split_words(describe_inputs(turn)))
        return

    await turn.thinking(
        f"The user wrote “{text}”. I will search the knowledge base, then file a follow-up "
        "ticket, which needs the user's approval.",
        "Search, then file a ticket",
    )
    await turn.task("Plan: 1. search the knowledge base  2. file a follow-up ticket")
    search_id = await turn.tool_call("knowledge_base_search", arguments={"query": text})
    results = [
        {
            "title": f"Getting started with {text or 'sessions'}",
            "url": "https://docs.example.com/start",
            "snippet": "A first look at the topic, step by step.",
        },
        {
            "title": "Troubleshooting guide",
            "url": "https://docs.example.com/troubleshooting",
            "snippet": "The five most common problems and their fixes.",
        },
    ]
    await turn.tool_result("knowledge_base_search", search_id, {"results": results})
    await turn.search(text, results)

    ticket = {"title": f"Follow up: {text[:60]}", "priority": "normal"}
    ticket_id = await turn.tool_call("create_ticket", status="awaiting_approval", arguments=ticket)
    answer = await turn.ask_approval(
        "create_ticket",
        tool_id=ticket_id,
        description="Create a follow-up ticket in the help desk",
        arguments=ticket,
        fields=[{"name": "priority", "type": "string", "default": "normal"}],
    )
    found = f"I searched the knowledge base for “{text}” and found {len(results)} articles."
    if answer.approved:
        priority = str(answer.confirm.get("priority", "normal"))
        created = {"ticket": "DEMO-1042", "title": ticket["title"], "priority": priority}
        await turn.tool_result("create_ticket", ticket_id, created)
        reply = f"{found} I also filed ticket DEMO-1042 (priority {priority}) for a follow-up."
    else:
        reason = answer.deny_reason or "no reason given"
        reply = f"{found} You declined the ticket ({reason}), so I did not file it."
    await turn.say_stream(split_words(reply))


async def bench_agent(turn: Turn) -> None:
    """For text ``"N"`` (or ``"N SIZE"``), streams N deltas of SIZE characters (default 1) fast.

    Other text ends the turn in an error.

    Args:
        turn: The turn to answer.
    """
    words = turn.text.split()
    try:
        count = int(words[0])
        size = int(words[1]) if len(words) > 1 else 1
    except (IndexError, ValueError):
        await turn.error("the bench agent expects 'N' or 'N SIZE' (N deltas of SIZE characters)")
        return
    if not (0 <= count <= 10_000_000 and 1 <= size <= 65_536):
        await turn.error("the bench agent accepts 0 <= N <= 10,000,000 and 1 <= SIZE <= 65,536")
        return
    await turn.say_stream(["x" * size] * count)  # a list: the pre-encoded, batched path


class Catalog:
    """The agents and chatbots this engine serves, by id and by name.

    Agents and chatbots may be added while the engine runs, from any thread: an addition
    replaces the whole table (copy on write), so a lookup in the engine's thread always sees
    one consistent table.
    """

    def __init__(self, agents: Iterable[AgentSpec], chatbots: Iterable[ChatbotSpec]):
        self._agents: dict[str, AgentSpec] = {}
        self._chatbots: dict[str, ChatbotSpec] = {}
        for spec in agents:
            self.add_agent(spec)
        for bot in chatbots:
            self.add_chatbot(bot)

    def add_agent(self, spec: AgentSpec) -> None:
        """Add an agent, replacing the one with its name and any other with its id."""
        agents = {name: a for name, a in self._agents.items() if a.id != spec.id}
        self._agents = {**agents, spec.name: spec}

    def add_chatbot(self, bot: ChatbotSpec) -> None:
        """Add a chatbot, replacing the one with its name and any other with its id.

        Its agent (looked up by name or id whenever a session starts, so a replaced agent
        takes over) must be in the catalogue and conversational, else ``ValueError``.
        """
        self._backing(bot)
        chatbots = {name: b for name, b in self._chatbots.items() if b.id != bot.id}
        self._chatbots = {**chatbots, bot.name: bot}

    def _backing(self, bot: ChatbotSpec) -> AgentSpec:
        agent = self.agent(bot.agent)
        if agent is None:
            raise ValueError(f"chatbot {bot.name!r}: no agent named or with id {bot.agent!r}")
        if agent.agent_type != CONVERSATIONAL:
            raise ValueError(
                f"chatbot {bot.name!r}: agent {agent.name!r} is functional; a chatbot needs "
                "a conversational agent"
            )
        return agent

    def agents(self) -> list[AgentSpec]:
        return list(self._agents.values())

    def chatbots(self) -> list[tuple[ChatbotSpec, AgentSpec]]:
        return [(bot, self._backing(bot)) for bot in self._chatbots.values()]

    def agent(self, key: str) -> AgentSpec | None:
        """An agent by id, else by name."""
        for spec in self._agents.values():
            if spec.id == key:
                return spec
        return self._agents.get(key)

    def chatbot(self, key: str) -> tuple[ChatbotSpec, AgentSpec] | None:
        """A chatbot (and its agent) by id, else by name."""
        chatbots = self._chatbots  # one table for the whole lookup
        for bot in chatbots.values():
            if bot.id == key:
                return bot, self._backing(bot)
        named = chatbots.get(key)
        return None if named is None else (named, self._backing(named))

    def resolve(self, object_type: str, object_id: str) -> tuple[str, AgentSpec]:
        """The canonical id of the object a session is created for, and the agent running it.

        Raises ``LookupError`` with a message for the client when there is none.
        """
        if object_type == OWNER_AGENT:
            agent = self.agent(object_id)
            if agent is None:
                raise LookupError(f"agent {object_id!r} not found")
            if agent.agent_type != CONVERSATIONAL or agent.handler is None:
                raise LookupError(
                    f"agent {agent.name!r} ({agent.id}) is a {agent.agent_type} agent; only "
                    "conversational agents can hold sessions"
                )
            return agent.id, agent
        if object_type == OWNER_CHATBOT:
            entry = self.chatbot(object_id)
            if entry is None:
                raise LookupError(f"chatbot {object_id!r} not found")
            return entry[0].id, entry[1]
        expected = " or ".join(repr(kind) for kind in OWNER_TYPES)
        raise LookupError(f"object_type must be {expected}, got {object_type!r}")

    def agent_json(self, spec: AgentSpec) -> dict[str, Any]:
        return spec.as_json()

    def chatbot_json(self, bot: ChatbotSpec, agent: AgentSpec) -> dict[str, Any]:
        return {
            "_id": bot.id,
            "name": bot.name,
            "description": bot.description,
            "agent_id": agent.id,
            "agent_name": agent.name,
            "deployed": True,
        }


_KINDS: dict[str, AgentFunction] = {"echo": echo_agent, "demo": demo_agent, "bench": bench_agent}


def build_catalog(
    config: EngineConfig | None,
    agents: Mapping[str, AgentFunction] | Iterable[AgentSpec] | None = None,
    chatbots: Mapping[str, str] | Iterable[ChatbotSpec] | None = None,
) -> Catalog:
    """Built-ins, then the configuration, then the embedder's agents and chatbots."""
    specs = [
        AgentSpec("echo", echo_agent, description="Streams your message back, word by word."),
        AgentSpec(
            "demo",
            demo_agent,
            description="A scripted agent that shows every kind of event, approvals included.",
        ),
        AgentSpec(
            "summarize",
            agent_type=FUNCTIONAL,
            description="A functional agent: runs once per input, cannot hold sessions.",
        ),
        AgentSpec("bench", bench_agent, description="For 'N', streams N deltas as fast as it can."),
    ]
    bots = [
        ChatbotSpec("echo", "echo", description="A chatbot backed by the echo agent."),
        ChatbotSpec("demo", "demo", description="A chatbot backed by the demo agent."),
    ]
    if config is not None:
        if config.openai is not None:
            specs.append(
                AgentSpec(
                    "openai",
                    OpenAIAgent.from_settings(config.openai),
                    description=f"Streams answers from {config.openai.model}.",
                )
            )
        for agent in config.agents:
            if agent.kind == "openai":
                assert agent.openai is not None  # checked when the file was read
                handler: AgentFunction = OpenAIAgent.from_settings(agent.openai)
            else:
                handler = _KINDS[agent.kind]
            specs.append(
                AgentSpec(
                    agent.name,
                    handler,
                    id=agent.id or f"agent-{agent.name}",
                    description=agent.description,
                )
            )
        bots += [
            ChatbotSpec(
                bot.name, bot.agent, id=bot.id or f"chatbot-{bot.name}", description=bot.description
            )
            for bot in config.chatbots
        ]
    if isinstance(agents, Mapping):
        named = cast("Mapping[str, AgentFunction]", agents)
        specs += [AgentSpec(name, handler) for name, handler in named.items()]
    elif agents is not None:
        specs += list(agents)
    if isinstance(chatbots, Mapping):
        backed = cast("Mapping[str, str]", chatbots)
        bots += [ChatbotSpec(name, agent) for name, agent in backed.items()]
    elif chatbots is not None:
        bots += list(chatbots)
    return Catalog(specs, bots)
