"""The public surface, as a type checker sees it: mypy --strict and basedpyright (strict) check
this file (``nox -s typecheck``); nothing here runs (pytest does not collect it, and no
function is called).

Each ``assert_type`` states the type a user expects of what they touch, in both flavours:
a checker fails when a public annotation drifts (to ``Any`` or to a wider or other type).
"""

from __future__ import annotations

from typing import Any

from typing_extensions import assert_type

from vectorshift_sessions import (
    Agent,
    ApprovalResponse,
    AsyncAgent,
    AsyncChatbot,
    AsyncClient,
    AsyncSession,
    AsyncSessionListener,
    Chatbot,
    Client,
    MessageSender,
    ParticipantStatus,
    Session,
    SessionEvent,
    SessionEventType,
    SessionListener,
    SessionMessage,
    SessionMessageRole,
    SessionMessageStatus,
    TurnResult,
    UserSessionMessage,
    event_from_json,
    to_sse,
)
from vectorshift_sessions.engine import LocalEngine, Turn
from vectorshift_sessions.testing import EngineFixture


async def echo(turn: Turn) -> None:
    """An agent function, as ``add_agent`` and ``LocalEngine(agents=...)`` take one."""
    assert_type(turn.text, str)
    assert_type(turn.session_id, str)
    assert_type(await turn.say(f"you said {turn.text}"), str)


def event_helpers(event: SessionEvent) -> None:
    assert_type(event.type, SessionEventType)
    assert_type(event.session_id, str)
    assert_type(event.message_id, str | None)
    assert_type(event.data, dict[str, Any])
    assert_type(event.delta, str | None)
    assert_type(event.text, str | None)
    assert_type(event.tool_name, str | None)
    assert_type(event.error, str | None)
    assert_type(event.status, SessionMessageStatus | None)
    assert_type(event.participant_status, ParticipantStatus | None)
    assert_type(event.is_complete, bool)
    assert_type(event.is_turn_end, bool)
    assert_type(event.requires_action, bool)
    assert_type(to_sse(event), str)
    assert_type(event_from_json('{"type": "message_delta"}'), SessionEvent)


def messages(message: SessionMessage) -> None:
    assert_type(message.id, str)
    assert_type(message.session_id, str)
    assert_type(message.text, str | None)
    assert_type(message.content_type, str)
    assert_type(message.status, SessionMessageStatus | None)
    assert_type(message.is_user, bool)
    assert_type(message.is_agent, bool)
    assert_type(message.raw, dict[str, Any])
    assert_type(message.sender, MessageSender)
    assert_type(message.sender.role, SessionMessageRole)
    assert_type(message.sender.object_id, str | None)


def turn_result(result: TurnResult) -> None:
    assert_type(result.session_id, str)
    assert_type(result.status, str)
    assert_type(result.text, str | None)
    assert_type(result.events, tuple[SessionEvent, ...])
    assert_type(result.action_event, SessionEvent | None)
    assert_type(result.error, str | None)


# --- asyncio ----------------------------------------------------------------------------------


async def async_session(event: SessionEvent) -> None:
    session = AsyncSession(owner_type="agent", owner_id="agent-id", api_key="key")
    assert_type(await session.connect(), AsyncSession)
    assert_type(await AsyncSession(session_id="session-id"), AsyncSession)
    async with AsyncSession(session_id="session-id") as entered:
        assert_type(entered, AsyncSession)
        assert_type(entered.session_id, str | None)
        assert_type(entered.is_connected, bool)
        assert_type(entered.url, str)

        assert_type(await entered.send("hello"), None)
        assert_type(await entered.send(b"%PDF", mime_type="application/pdf"), None)
        assert_type(await entered.send_many(["a", UserSessionMessage("b")]), None)
        assert_type(await entered.respond(event, approved=True, confirm={"ticket": 1}), None)
        assert_type(await entered.respond(event, ApprovalResponse(False, deny_reason="no")), None)
        assert_type(await entered.respond_approval(event, approved=False), None)

        listener = entered.listen(event_types=[SessionEventType.MESSAGE_DELTA])
        assert_type(listener, AsyncSessionListener)
        async with listener:
            async for item in listener:
                assert_type(item, SessionEvent)
        assert_type(await anext(entered.listen()), SessionEvent)

        assert_type(await entered.get_messages(), list[SessionMessage])
        assert_type(await entered.get_messages(after="message-id"), list[SessionMessage])

        result = await entered.ask("hello", timeout=30)
        assert_type(result, TurnResult)
        assert_type(result.text, str | None)

        async for streamed in entered.stream("hello"):
            assert_type(streamed, SessionEvent)
        async for beat in entered.stream("hello", heartbeat=5.0):
            assert_type(beat, SessionEvent | None)
        async for answered in entered.respond_stream(event, approved=True):
            assert_type(answered, SessionEvent)
        async for beat in entered.respond_stream(event, approved=True, heartbeat=5.0):
            assert_type(beat, SessionEvent | None)

        assert_type(await entered.disconnect(), None)
        assert_type(await entered.terminate(), None)


async def async_rest() -> None:
    async with AsyncClient(api_key="key") as client:
        assert_type(client, AsyncClient)
        assert_type(client.base_url, str)
        assert_type(client.ws_url, str)
        assert_type(client.is_closed, bool)

        agent = await client.agents.fetch(name="support-bot")
        assert_type(agent, AsyncAgent)
        assert_type(await client.agents.list(limit=10), list[AsyncAgent])
        chatbot = await client.chatbots.fetch(id="chatbot-id")
        assert_type(chatbot, AsyncChatbot)
        assert_type(await client.chatbots.list(), list[AsyncChatbot])

        assert_type(await AsyncAgent.fetch(name="support-bot", client=client), AsyncAgent)
        assert_type(await AsyncAgent.list(client=client), list[AsyncAgent])
        assert_type(await AsyncChatbot.fetch(id="chatbot-id"), AsyncChatbot)
        assert_type(agent.id, str)
        assert_type(agent.name, str | None)
        assert_type(agent.agent_type, str | None)
        assert_type(agent.is_conversational, bool)
        assert_type(agent.client, AsyncClient | None)

        session = await agent.create_session()
        assert_type(session, AsyncSession)
        async with session:
            assert_type(await session.ask("hello"), TurnResult)
        assert_type(await chatbot.create_session(), AsyncSession)
        assert_type(await agent.resume_session("session-id"), AsyncSession)
        assert_type(await agent.run("hello", include_deltas=True), TurnResult)
        assert_type(await AsyncAgent("agent-id", client=client).run("hi"), TurnResult)
        assert_type(await client.aclose(), None)


# --- blocking ---------------------------------------------------------------------------------


def blocking_session(event: SessionEvent) -> None:
    session = Session(owner_type="agent", owner_id="agent-id", api_key="key")
    assert_type(session.connect(), Session)
    with Session(session_id="session-id") as entered:
        assert_type(entered, Session)
        assert_type(entered.session_id, str | None)
        assert_type(entered.is_connected, bool)

        assert_type(entered.send("hello"), None)
        assert_type(entered.send_many(["a", UserSessionMessage("b")]), None)
        assert_type(entered.respond(event, approved=True), None)
        assert_type(entered.respond_approval(event, approved=False, deny_reason="no"), None)

        listener = entered.listen()
        assert_type(listener, SessionListener)
        with listener:
            for item in listener:
                assert_type(item, SessionEvent)
        assert_type(next(entered.listen()), SessionEvent)

        assert_type(entered.get_messages(), list[SessionMessage])
        assert_type(entered.get_messages(after="message-id"), list[SessionMessage])

        result = entered.ask("hello")
        assert_type(result, TurnResult)
        assert_type(result.events, tuple[SessionEvent, ...])

        for streamed in entered.stream("hello"):
            assert_type(streamed, SessionEvent)
        for beat in entered.stream("hello", heartbeat=5.0):
            assert_type(beat, SessionEvent | None)
        for answered in entered.respond_stream(event, approved=False):
            assert_type(answered, SessionEvent)

        assert_type(entered.disconnect(), None)
        assert_type(entered.terminate(), None)


def blocking_rest() -> None:
    with Client(api_key="key") as client:
        assert_type(client, Client)
        agent = client.agents.fetch(name="support-bot")
        assert_type(agent, Agent)
        assert_type(client.agents.list(), list[Agent])
        chatbot = client.chatbots.fetch(id="chatbot-id")
        assert_type(chatbot, Chatbot)
        assert_type(client.chatbots.list(offset=10), list[Chatbot])

        assert_type(Agent.fetch(name="support-bot"), Agent)
        assert_type(Agent.list(include_shared=True), list[Agent])
        assert_type(Chatbot.fetch(id="chatbot-id", client=client), Chatbot)
        assert_type(agent.client, Client | None)

        with agent.create_session() as session:
            assert_type(session, Session)
        assert_type(chatbot.create_session("session-id"), Session)
        assert_type(agent.resume_session("session-id"), Session)
        assert_type(agent.run("hello", keep_alive=True), TurnResult)
        assert_type(client.close(), None)


# --- the local engine and the test fixture ----------------------------------------------------


async def local_engine() -> None:
    async with LocalEngine(agents={"echo": echo}, chatbots={"bot": "echo"}) as engine:
        assert_type(engine, LocalEngine)
        assert_type(engine.port, int)
        assert_type(engine.base_url, str)
        assert_type(engine.ws_url, str)
        assert_type(engine.session_url, str)
        assert_type(engine.is_running, bool)
        assert_type(engine.env(), dict[str, str])
        assert_type(engine.add_agent("other", echo), str)
        assert_type(engine.add_chatbot("other-bot", "other"), str)
        assert_type(engine.sessions(), list[str])
        assert_type(engine.messages("session-id"), list[SessionMessage])
        assert_type(engine.cut_connections(), int)
    assert_type(await LocalEngine().start(), LocalEngine)


def engine_fixture() -> None:
    with EngineFixture(agents={"echo": echo}) as engine:
        assert_type(engine, EngineFixture)
        assert_type(engine.start(), EngineFixture)
        assert_type(engine.engine, LocalEngine)
        assert_type(engine.api_key, str | None)
        assert_type(engine.port, int)
        assert_type(engine.base_url, str)
        assert_type(engine.ws_url, str)
        assert_type(engine.env(), dict[str, str])
        assert_type(engine.add_agent("greeter", echo), str)
        assert_type(engine.add_chatbot("bot", "greeter", description="a bot"), str)
        assert_type(engine.sessions(), list[str])
        assert_type(engine.messages("session-id"), list[SessionMessage])
        assert_type(engine.cut_connections(), int)
        assert_type(engine.restart(), None)
        assert_type(engine.check(), None)
        with Client(base_url=engine.base_url, ws_url=engine.ws_url, api_key=engine.api_key) as c:
            assert_type(c.agents.fetch(name="greeter").run("hi"), TurnResult)
