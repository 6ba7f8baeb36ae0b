"""What the engine offers tests: agents added while it runs, the stored history, dropped
connections and restarts that keep the port and the (in-memory) store."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.engine._helpers import TIMEOUT, raw_client, text_of
from vectorshift_sessions import SessionMessageRole
from vectorshift_sessions.engine import LocalEngine, Turn


async def shout(turn: Turn) -> None:
    await turn.say(turn.text.upper())


async def test_an_agent_added_while_running_is_listed_fetched_and_served(
    engine: LocalEngine,
) -> None:
    assert engine.add_agent("shout", shout) == "agent-shout"
    assert engine.add_agent("whisper", shout, id="w-1", description="quiet") == "w-1"
    async with httpx.AsyncClient(base_url=engine.base_url) as http:
        listed = (await http.get("/agents")).json()["objects"]
        fetched = (await http.get("/agent", params={"name": "whisper"})).json()["object"]
    assert {"agent-shout", "w-1"} <= {a["_id"] for a in listed}
    assert fetched["_id"] == "w-1" and fetched["instructions"] == "quiet"
    async with raw_client(engine) as client:
        sid = await client.new_session("agent-shout")
        await client.send(type="post_message", session_id=sid, content="hey")
        frames = await client.until_idle()
    assert text_of(frames) == "HEY"


async def test_a_chatbot_added_from_an_agent_function_or_an_agent_name(
    engine: LocalEngine,
) -> None:
    assert engine.add_chatbot("loud", shout) == "chatbot-loud"
    assert engine.add_chatbot("parrot", "echo", id="bot-7") == "bot-7"
    async with raw_client(engine) as client:
        for bot, expected in (("chatbot-loud", "HI"), ("bot-7", "hi")):
            sid = await client.new_session(bot, "chatbot")
            await client.send(type="post_message", session_id=sid, content="hi")
            assert text_of(await client.until_idle()) == expected


def test_bad_agents_are_refused_with_what_to_pass() -> None:
    engine = LocalEngine(db=":memory:")
    with pytest.raises(TypeError, match="agent must be an async callable taking a Turn, got str"):
        engine.add_agent("x", "echo")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no agent named or with id 'nobody'"):
        engine.add_chatbot("x", "nobody")
    with pytest.raises(ValueError, match="functional"):
        engine.add_chatbot("x", "summarize")


async def test_messages_is_the_stored_history(engine: LocalEngine) -> None:
    async with raw_client(engine) as client:
        sid = await client.new_session()
        await client.send(type="post_message", session_id=sid, content="hello there")
        await client.until_idle()
    messages = engine.messages(sid)
    assert [(m.sender.role, m.text) for m in messages] == [
        (SessionMessageRole.USER, "hello there"),
        (SessionMessageRole.OBJECT, "hello there"),
    ]
    assert engine.messages("no-such-session") == []


def test_messages_and_cut_connections_from_another_thread() -> None:
    with LocalEngine(db=":memory:") as engine:
        from tests.engine.test_embedding import sync_turn

        sid, _ = sync_turn(engine.session_url, "agent-echo", "from a thread")
        results: list[object] = []
        worker = threading.Thread(
            target=lambda: results.extend([engine.messages(sid), engine.cut_connections()])
        )
        worker.start()
        worker.join(TIMEOUT)
        history, cut = results
        assert [m.text for m in history] == ["from a thread", "from a thread"]  # type: ignore[attr-defined]
        assert cut == 0  # sync_turn's connection is closed already


async def test_cut_connections_drops_every_socket_and_the_sessions_live_on(
    engine: LocalEngine,
) -> None:
    async with raw_client(engine) as one, raw_client(engine) as two:
        sid = await one.new_session()
        await one.send(type="post_message", session_id=sid, content="before")
        await one.until_idle()
        await two.connect(sid)
        assert engine.cut_connections() == 2
        for client in (one, two):
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(client.ws.recv(), TIMEOUT)
    async with raw_client(engine) as again:
        assert (await again.connect(sid))["success"] is True
        assert [m["content"]["value"] for m in await again.history(sid)] == ["before", "before"]


async def test_restart_keeps_the_port_and_the_in_memory_store(engine: LocalEngine) -> None:
    port = engine.port
    async with raw_client(engine) as client:
        sid = await client.new_session()
        await client.send(type="post_message", session_id=sid, content="kept")
        await client.until_idle()
        await engine.restart()
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(client.ws.recv(), TIMEOUT)
    assert engine.port == port
    async with raw_client(engine) as client:
        assert (await client.connect(sid))["success"] is True
        assert [m["content"]["value"] for m in await client.history(sid)] == ["kept", "kept"]


async def test_restart_needs_a_running_engine() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        await LocalEngine(db=":memory:").restart()


async def test_restart_mid_turn_stops_the_turn_where_it_is(engine: LocalEngine) -> None:
    answered = asyncio.Event()

    async def slow(turn: Turn) -> None:
        await turn.say("first half")
        answered.set()
        await asyncio.Event().wait()  # never ends on its own

    engine.add_agent("slow", slow)
    async with raw_client(engine) as client:
        sid = await client.new_session("agent-slow")
        await client.send(type="post_message", session_id=sid, content="go")
        await asyncio.wait_for(answered.wait(), TIMEOUT)
        await engine.restart()
    async with raw_client(engine) as client:
        ack = await client.connect(sid)
        assert ack["participant_status"] == "Idle"  # the turn is gone with the old engine
        assert [m["content"]["value"] for m in await client.history(sid)] == ["go", "first half"]


async def test_an_agent_may_await_restart_its_own_turn_goes_on() -> None:
    restarted = asyncio.Event()

    async def restarting(turn: Turn) -> None:
        await engine.restart()
        restarted.set()
        await turn.say("after the restart")

    async with LocalEngine(db=":memory:", agents={"restarting": restarting}) as engine:
        port = engine.port
        async with raw_client(engine) as client:
            sid = await client.new_session("agent-restarting")
            await client.send(type="post_message", session_id=sid, content="go")
            with pytest.raises(ConnectionClosed):
                while True:
                    await client.recv()
        await asyncio.wait_for(restarted.wait(), TIMEOUT)
        assert engine.port == port and engine.is_running
        async with raw_client(engine) as client:
            assert (await client.connect(sid))["success"] is True


def test_restart_from_another_event_loop_is_refused_and_the_engine_keeps_running() -> None:
    with LocalEngine(db=":memory:") as engine:
        with pytest.raises(RuntimeError, match="must be awaited in the event loop the engine"):
            asyncio.run(engine.restart())
        assert engine.is_running
        from tests.engine.test_embedding import sync_turn

        assert sync_turn(engine.session_url, "agent-echo", "still here")[1] == "still here"
    assert not engine.is_running


def test_cut_connections_from_another_thread_drops_the_open_ones() -> None:
    from websockets.sync.client import connect

    with LocalEngine(db=":memory:") as engine, connect(engine.session_url) as ws:
        assert engine.cut_connections() == 1
        with pytest.raises(ConnectionClosed):
            ws.recv(TIMEOUT)


async def test_an_agent_that_is_not_async_is_an_error_in_the_session(engine: LocalEngine) -> None:
    def not_async(turn: Turn) -> None:
        pass

    engine.add_agent("plain", not_async)  # type: ignore[arg-type]
    async with raw_client(engine) as client:
        sid = await client.new_session("agent-plain")
        await client.send(type="post_message", session_id=sid, content="hi")
        frames = await client.until_idle()
    (error,) = [
        f["message"]["content"]["error"]
        for f in frames
        if f["type"] == "message_notification"
        and f["message"]["content"]["type"] == "error_message"
    ]
    assert "returned NoneType, not an awaitable" in error
    assert "async def agent(turn)" in error


async def test_a_chatbot_follows_its_agent_when_the_agent_is_replaced(engine: LocalEngine) -> None:
    async def first(turn: Turn) -> None:
        await turn.say("v1")

    async def second(turn: Turn) -> None:
        await turn.say("v2")

    engine.add_agent("support", first)
    engine.add_chatbot("support", "support")
    engine.add_agent("support", second)
    engine.add_agent("mine", second, id="agent-echo")  # an id taken: it replaces that agent
    engine.add_chatbot("echo", first)  # backed by the agent "chatbot-echo", not by "echo"
    assert engine.catalog.agent("echo") is None
    assert engine.catalog.agent("chatbot-echo") is not None
    async with raw_client(engine) as client:
        for owner, kind, expected in (
            ("chatbot-support", "chatbot", "v2"),
            ("agent-echo", "agent", "v2"),
            ("chatbot-echo", "chatbot", "v1"),
        ):
            sid = await client.new_session(owner, kind)
            await client.send(type="post_message", session_id=sid, content="hi")
            assert text_of(await client.until_idle()) == expected, owner


async def test_an_agent_sends_frames_and_messages_of_any_kind(engine: LocalEngine) -> None:
    problems: list[str] = []

    async def relay(turn: Turn) -> None:
        await turn.send_frame({"type": "error", "error": "as recorded", "session_id": "x"})
        user = {"user_id": "someone"}
        await turn.emit({"type": "note", "value": 1}, sender=user, fields={"tag": "kept"})
        for bad in ({"no": "type"}, "text"):
            try:
                await turn.send_frame(bad)  # type: ignore[arg-type]
            except TypeError as exc:
                problems.append(str(exc))
        try:
            await turn.emit({"type": "note"}, sender="me")  # type: ignore[arg-type]
        except TypeError as exc:
            problems.append(str(exc))

    engine.add_agent("relay", relay)
    async with raw_client(engine) as client:
        sid = await client.new_session("agent-relay")
        await client.send(type="post_message", session_id=sid, content="go")
        frames = await client.until_idle()
        history = await client.history(sid)
    assert {"type": "error", "error": "as recorded", "session_id": "x"} in frames
    (note,) = [m for m in history if m["content"]["type"] == "note"]
    assert note["sender"] == {"user_id": "someone"} and note["tag"] == "kept"
    assert problems == [
        "send_frame() takes a mapping with a string 'type', got {'no': 'type'}",
        "send_frame() takes a mapping with a string 'type', got 'text'",
        "sender must be a mapping or None, got str",
    ]
