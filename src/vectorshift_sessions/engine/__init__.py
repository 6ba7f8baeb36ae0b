"""A local engine: the VectorShift session protocol and REST API, with no account and no network.

Run it from the command line (``vectorshift-sessions engine``) or embed it::

    from vectorshift_sessions.engine import LocalEngine

    with LocalEngine(db=":memory:") as engine:        # in a background thread
        os.environ.update(engine.env())               # VECTORSHIFT_BASE_URL, VECTORSHIFT_WS_URL
        ...

    async with LocalEngine(db=":memory:") as engine:  # in the running event loop
        ...

One port serves the WebSocket at ``/ws/session`` and ``/v1/ws/session`` and REST under ``/``
and ``/v1`` (``/health``, ``/agent``, ``/agents``, ``/chatbot``, ``/chatbots``). Sessions and
their complete messages live in SQLite (``db=`` a path, ``":memory:"``, or by default
`default_db_path`), so a session can be resumed by id after a restart.

Built-in agents (ids ``agent-<name>``): ``echo`` streams your text back; ``demo`` plays a
scripted turn with every kind of event (thinking, a search tool call and its result, a search
result, a tool call that waits for your approval, streamed text; a message containing
``reauth`` asks for re-authorization, one containing ``fail`` ends in an error; files and
batches are described); ``bench`` streams N deltas for the text ``"N"``; ``summarize`` is a
functional agent (listed, but it cannot hold sessions); ``openai`` (when configured) streams
from any OpenAI-compatible ``/chat/completions`` endpoint. Chatbots ``chatbot-echo`` and
``chatbot-demo`` are backed by ``echo`` and ``demo``.

Writing an agent
----------------
An agent is an async callable that receives a `Turn` (an `AgentFunction`)::

    async def shout(turn: Turn) -> None:
        await turn.thinking("The user wants it loud.")
        await turn.say_stream(word.upper() + " " for word in turn.text.split())

    LocalEngine(agents={"shout": shout})      # id "agent-shout"

Before the agent runs, the engine has stored the user's message, acknowledged it and shown
``Processing``; after it returns the engine shows ``Idle``. An exception becomes an
``error_message`` in the session. What the agent reads: ``turn.text``, ``turn.files``
(`ReceivedFile`: ``name``, ``mime_type``, ``data``, ``size``), ``turn.inputs`` (raw
posted content), ``turn.history`` (stored messages before this turn) and ``turn.session_id``.
What it emits (each stored before it is sent):

- ``await turn.say(text)`` / ``await turn.say_stream(chunks)``: deltas, then the complete
  message (``chunks``: a list, which is sent in pre-encoded batches, an iterator, or an async
  iterator such as a model's stream);
- ``await turn.thinking(content, summary)``, ``await turn.tool_call(name, ...)`` (returns the
  tool id), ``await turn.tool_result(name, tool_id, output)``, ``await turn.search(query,
  results)``, ``await turn.reauth(provider)``, ``await turn.error(message)``;
- ``answer = await turn.ask_approval(tool_name, ...)``: shows ``AwaitingApproval``, waits for
  the user's ``respond(...)`` and returns an `ApprovalAnswer` (``approved``,
  ``confirm``, ``deny_reason``);
- ``await turn.status(status)``: any participant status;
- ``await turn.emit(content, sender=None, fields=None)``, ``await turn.delta(message_id,
  text, index)``, ``answer = await turn.request_approval(content)`` and ``await
  turn.send_frame(frame)``: content and frames of any kind, as the wire carries them (for
  replays and proxies); ``turn.owner_type`` / ``turn.owner_id`` name the agent or
  chatbot the session belongs to.

A turn belongs to its session: it finishes (and is stored) even if the connection that posted
it drops, and every connection attached to the session sees it. Turns of one session run one
after another.

For tests, an engine also adds agents while it runs (`LocalEngine.add_agent`,
`LocalEngine.add_chatbot`), lists its sessions and reads their stored history
(`LocalEngine.sessions`, `LocalEngine.messages`), drops every connection
(`LocalEngine.cut_connections`) and restarts on its port and store
(`LocalEngine.restart`); the pytest plugin's ``vectorshift_engine`` fixture
(``vectorshift_sessions.testing``) wraps them.
"""

from __future__ import annotations

from ._agents import AgentSpec, ChatbotSpec, bench_agent, demo_agent, echo_agent
from ._config import EngineConfig, OpenAISettings, default_db_path, load_config
from ._openai import OpenAIAgent
from ._server import DEFAULT_MAX_FRAME_BYTES, LocalEngine
from ._turn import AgentFunction, ApprovalAnswer, ReceivedFile, Turn

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "AgentFunction",
    "AgentSpec",
    "ApprovalAnswer",
    "ChatbotSpec",
    "EngineConfig",
    "LocalEngine",
    "OpenAIAgent",
    "OpenAISettings",
    "ReceivedFile",
    "Turn",
    "bench_agent",
    "default_db_path",
    "demo_agent",
    "echo_agent",
    "load_config",
]
