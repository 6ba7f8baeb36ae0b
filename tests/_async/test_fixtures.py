"""The pytest plugin's fixtures, used the way a user's tests use them.

Written once; tests/_sync/ is generated from it, so both flavours meet the same fixtures.
"""

from __future__ import annotations

import os

import pytest

from tests._agents import greeter
from vectorshift_sessions import (
    AsyncClient,
    AsyncSession,
    AsyncSessionListener,
    ReconnectPolicy,
    SessionEventType,
    SessionMessageRole,
)
from vectorshift_sessions.testing import TEST_API_KEY, EngineFixture, FaultyProxy, RogueEngine

ET = SessionEventType
FAST = ReconnectPolicy(initial_delay=0.005, max_delay=0.05, deadline=30)


async def until_reconnected(listener: AsyncSessionListener) -> None:
    """Read until the session says it is connected again after a drop."""
    async for event in listener:
        status = event.data.get("status") if event.type == ET.PARTICIPANT_STATUS else None
        if status == "Connected" and event.data.get("source") == "client":
            return
    raise AssertionError("the listener ended before the session reconnected")


def test_the_environment_points_at_the_fixtures_engine(vectorshift_engine: EngineFixture) -> None:
    assert os.environ["VECTORSHIFT_BASE_URL"] == vectorshift_engine.base_url
    assert os.environ["VECTORSHIFT_WS_URL"] == vectorshift_engine.ws_url
    assert os.environ["VECTORSHIFT_API_KEY"] == TEST_API_KEY
    assert vectorshift_engine.engine.api_keys == (TEST_API_KEY,)


async def test_an_added_agent_is_fetched_by_name_and_its_history_read(
    vectorshift_engine: EngineFixture,
) -> None:
    assert vectorshift_engine.add_agent("greeter", greeter) == "agent-greeter"
    async with AsyncClient() as client:
        agent = await client.agents.fetch(name="greeter")
        assert agent.id == "agent-greeter"
        async with await agent.create_session() as session:
            result = await session.ask("Ada")
            session_id = session.session_id
    assert result.text == "Hello, Ada!"
    assert vectorshift_engine.sessions() == [session_id]
    messages = vectorshift_engine.messages(session_id)
    assert [(m.sender.role, m.text) for m in messages] == [
        (SessionMessageRole.USER, "Ada"),
        (SessionMessageRole.OBJECT, "Hello, Ada!"),
    ]


async def test_an_added_chatbot_is_fetched_by_name(vectorshift_engine: EngineFixture) -> None:
    assert vectorshift_engine.add_chatbot("greetbot", greeter) == "chatbot-greetbot"
    async with AsyncClient() as client:
        bot = await client.chatbots.fetch(name="greetbot")
        async with await bot.create_session() as session:
            assert (await session.ask("Bob")).text == "Hello, Bob!"


async def test_a_session_survives_cut_connections_and_restart(
    vectorshift_engine: EngineFixture,
) -> None:
    async with AsyncSession(owner_type="agent", owner_id="agent-echo", reconnect=FAST) as session:
        assert (await session.ask("one")).text == "one"
        listener = session.listen()
        assert vectorshift_engine.cut_connections() == 1
        await until_reconnected(listener)
        assert (await session.ask("two")).text == "two"
        port = vectorshift_engine.port
        vectorshift_engine.restart()
        assert vectorshift_engine.port == port
        await until_reconnected(listener)
        assert (await session.ask("three")).text == "three"
        session_id = session.session_id
    assert [m.text for m in vectorshift_engine.messages(session_id)] == [
        "one", "one", "two", "two", "three", "three"
    ]  # fmt: skip


@pytest.mark.vectorshift_engine(turn_delay=0.001, extensions=False)
def test_the_marker_configures_the_engine(vectorshift_engine: EngineFixture) -> None:
    assert vectorshift_engine.engine.turn_delay == 0.001
    assert vectorshift_engine.engine.extensions is False


async def test_faults_go_between_the_session_and_the_engine(
    vectorshift_faults: FaultyProxy,
) -> None:
    assert os.environ["VECTORSHIFT_WS_URL"] == vectorshift_faults.ws_url
    async with AsyncSession(owner_type="agent", owner_id="agent-echo", reconnect=FAST) as session:
        listener = session.listen()
        assert vectorshift_faults.cut() == 1
        await until_reconnected(listener)
        assert (await session.ask("after the cut")).text == "after the cut"
    assert vectorshift_faults.accepted == 2


async def test_the_rogue_engine_sends_garbage_the_session_survives(
    vectorshift_rogue_engine: RogueEngine,
) -> None:
    assert os.environ["VECTORSHIFT_WS_URL"] == vectorshift_rogue_engine.ws_url
    async with AsyncSession(owner_type="agent", owner_id="agent-x") as session:
        assert (await session.ask("hello")).text == "fine"
