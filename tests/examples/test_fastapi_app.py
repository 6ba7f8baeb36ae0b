"""examples/fastapi_app/app.py against a real local engine (the ``vectorshift_engine`` fixture).

The request flows go through httpx's ASGI transport, which calls the app in the test's event
loop but hands back a response only once the app has sent all of it: right for whole turns,
blind to when each event went out. What must be seen as it happens (events that arrive while
the turn still runs, a browser that leaves mid-stream) runs the app under a real uvicorn server
on a loopback port, read over real TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests._agents import HeldAgent
from tests.examples.conftest import EXAMPLES, INSTALL_EXTRAS, load_example, sse_messages
from tests.examples.waiting import await_until, engine_connections

pytest.importorskip("fastapi", reason=INSTALL_EXTRAS)
pytest.importorskip("itsdangerous", reason=INSTALL_EXTRAS)
uvicorn = pytest.importorskip("uvicorn", reason=INSTALL_EXTRAS)

from fastapi import FastAPI  # noqa: E402

from vectorshift_sessions.testing import EngineFixture  # noqa: E402

Message = tuple[str, Any]  # (SSE event type, the parsed data); ("heartbeat", None) for comments
TIMEOUT = 10.0  # seconds: the bound on every wait below


def create_app(agent_name: str | None = None, **options: float) -> FastAPI:
    app: FastAPI = load_example("fastapi_app/app.py").create_app(agent_name, **options)
    return app


@contextlib.asynccontextmanager
async def asgi_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client that calls the app in this event loop; its cookie jar is the browser's."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """The app under uvicorn in this event loop, on a free loopback port (bound here, so a
    request made before the server accepts waits in the backlog), and a client of it; the
    server stops cleanly on the way out."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield client, server
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, TIMEOUT)
        listener.close()


class EventReader:
    """Server-Sent Events from a streamed response, read as they arrive."""

    def __init__(self, response: httpx.Response):
        self._chunks = response.aiter_text()
        self._buffer = ""

    async def _next(self) -> Message | None:
        """The next message, or ``None`` at the end of the stream."""
        while "\n\n" not in self._buffer:
            chunk = await anext(self._chunks, None)
            if chunk is None:
                assert not self._buffer.strip(), f"the stream ended mid-message: {self._buffer!r}"
                return None
            self._buffer += chunk.replace("\r\n", "\n")
        block, self._buffer = self._buffer.split("\n\n", 1)
        messages = sse_messages(block + "\n\n")
        return messages[0] if messages else ("heartbeat", None)

    async def until(self, wanted: Callable[[Message], bool]) -> list[Message]:
        """The messages up to and including the first ``wanted`` one (within ``TIMEOUT``)."""

        async def read() -> list[Message]:
            seen: list[Message] = []
            while True:
                message = await self._next()
                assert message is not None, f"the stream ended before the one wanted: {seen}"
                seen.append(message)
                if wanted(message):
                    return seen

        return await asyncio.wait_for(read(), TIMEOUT)

    async def rest(self) -> list[Message]:
        """The messages left, up to the end of the stream (within ``TIMEOUT``)."""

        async def read() -> list[Message]:
            seen: list[Message] = []
            while (message := await self._next()) is not None:
                seen.append(message)
            return seen

        return await asyncio.wait_for(read(), TIMEOUT)


def is_status(status: str) -> Callable[[Message], bool]:
    return lambda m: m[0] == "participant_status" and m[1]["data"].get("status") == status


def completed(messages: list[Message]) -> list[str]:
    """The texts of the complete messages among ``messages``."""
    return [data["data"]["text"] for kind, data in messages if kind == "message_complete"]


def stored_texts(engine: EngineFixture, session_id: str) -> list[str | None]:
    return [m.text for m in engine.messages(session_id)]


SSE_TYPE = "text/event-stream; charset=utf-8"
JSON = {"content-type": "application/json"}


def assert_sse_headers(response: httpx.Response) -> None:
    assert response.status_code == 200
    assert response.headers["content-type"] == SSE_TYPE
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"


# --- through the ASGI transport ------------------------------------------------------------


async def test_the_page_is_the_chat_page(vectorshift_engine: EngineFixture) -> None:
    async with asgi_client(create_app()) as http:
        response = await http.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.content == (EXAMPLES / "fastapi_app" / "chat.html").read_bytes()


async def test_a_turn_streams_as_server_sent_events(vectorshift_engine: EngineFixture) -> None:
    async with asgi_client(create_app("echo")) as http:
        response = await http.post("/chat", json={"message": "Hello there"})
    assert_sse_headers(response)
    messages = sse_messages(response.text)
    assert completed(messages) == ["Hello there"]
    assert is_status("Idle")(messages[-1])
    [session_id] = vectorshift_engine.sessions()
    assert {data["session_id"] for _, data in messages} == {session_id}


async def test_an_approval_across_requests_then_the_history(
    vectorshift_engine: EngineFixture,
) -> None:
    async with asgi_client(create_app()) as http:  # the demo agent
        asked = await http.post("/chat", json={"message": "Where is my order?"})
        assert_sse_headers(asked)
        first = sse_messages(asked.text)
        kind, request_event = first[-1]
        assert kind == "approval_request"  # the turn waits for the user: this stream ends
        [session_id] = vectorshift_engine.sessions()
        assert request_event["session_id"] == session_id
        assert "session" in http.cookies  # the id rides in the signed cookie, not in the page

        answered = await http.post("/approve", json={"event": request_event, "approved": True})
        assert_sse_headers(answered)
        rest = sse_messages(answered.text)
        kinds = [kind for kind, _ in rest]
        assert "tool_result" in kinds
        [answer] = completed(rest)
        assert "DEMO-1042" in answer
        assert is_status("Idle")(rest[-1])

        history = (await http.get("/history")).json()
    assert history == {
        "messages": [
            {"role": "user", "text": "Where is my order?"},
            {"role": "agent", "text": answer},
        ]
    }
    assert vectorshift_engine.sessions() == [session_id]  # one conversation, resumed by id


async def test_a_denied_approval(vectorshift_engine: EngineFixture) -> None:
    async with asgi_client(create_app()) as http:
        first = sse_messages((await http.post("/chat", json={"message": "File it"})).text)
        kind, request_event = first[-1]
        assert kind == "approval_request"
        answered = await http.post("/approve", json={"event": request_event, "approved": False})
        rest = sse_messages(answered.text)
        history = (await http.get("/history")).json()
    assert "tool_result" not in [kind for kind, _ in rest]  # no ticket filed
    [answer] = completed(rest)
    assert "declined the ticket (denied in the page)" in answer
    assert "DEMO-1042" not in answer
    assert is_status("Idle")(rest[-1])
    assert history["messages"][-1] == {"role": "agent", "text": answer}


async def test_bad_input_is_refused_before_anything_reaches_the_engine(
    vectorshift_engine: EngineFixture,
) -> None:
    async with asgi_client(create_app()) as http:
        for body in ({}, {"message": ""}, {"message": "  \n"}, {"message": 5}, ["hello"]):
            refused = await http.post("/chat", json=body)
            assert refused.status_code == 400, body
            assert refused.json()["error"], body
        refused = await http.post("/chat", content=b"{not json", headers=JSON)
        assert refused.status_code == 400
        refused = await http.post("/approve", json={"event": {}, "approved": True})
        assert refused.status_code == 409  # no conversation yet
        assert "send a message first" in refused.json()["error"]
        assert vectorshift_engine.sessions() == []  # not even a session was opened

        first = sse_messages((await http.post("/chat", json={"message": "Hi"})).text)
        kind, request_event = first[-1]
        assert kind == "approval_request"
        session_id = request_event["session_id"]
        thinking = next(data for kind, data in first if kind == "thinking")
        stored = stored_texts(vectorshift_engine, session_id)
        bad_bodies: list[Any] = [
            {"event": request_event},  # no answer
            {"event": request_event, "approved": "yes"},  # not a boolean
            {"event": request_event, "approved": 1},
            {"event": "approval_request", "approved": True},  # not an object
            {"event": {**request_event, "type": "bogus"}, "approved": True},
            {"event": {**request_event, "data": ["x"]}, "approved": True},
            {"event": {**request_event, "session_id": None}, "approved": True},
            {"event": thinking, "approved": True},  # not an approval request
            {"event": {**request_event, "session_id": "another"}, "approved": True},
        ]
        for body in bad_bodies:
            refused = await http.post("/approve", json=body)
            assert refused.status_code == 400, body
            assert refused.json()["error"], body
        assert stored_texts(vectorshift_engine, session_id) == stored  # nothing was posted

        answered = await http.post("/approve", json={"event": request_event, "approved": True})
    assert "DEMO-1042" in completed(sse_messages(answered.text))[0]  # the turn still waited


async def test_reset_starts_a_new_conversation(vectorshift_engine: EngineFixture) -> None:
    async with asgi_client(create_app("echo")) as http:
        await http.post("/chat", json={"message": "one"})
        assert len((await http.get("/history")).json()["messages"]) == 2
        reset = await http.post("/reset")
        assert reset.status_code == 204
        assert (await http.get("/history")).json() == {"messages": []}
        await http.post("/chat", json={"message": "two"})
        history = (await http.get("/history")).json()
    assert history["messages"] == [
        {"role": "user", "text": "two"},
        {"role": "agent", "text": "two"},
    ]
    assert len(vectorshift_engine.sessions()) == 2  # the first one lives on in the engine


# --- under a real server -------------------------------------------------------------------


async def test_events_reach_the_browser_while_the_turn_still_runs(
    vectorshift_engine: EngineFixture,
) -> None:
    held = HeldAgent()
    vectorshift_engine.add_agent("held", held)
    try:
        async with (
            serve(create_app("held", heartbeat=0.05)) as (http, _),
            http.stream("POST", "/chat", json={"message": "go"}) as response,
        ):
            assert_sse_headers(response)
            events = EventReader(response)
            seen = await events.until(lambda m: m[0] == "message_complete")
            # The agent holds its turn until released: what came so far came before its end.
            assert completed(seen) == ["working"]
            assert not held.release.is_set()
            await events.until(lambda m: m[0] == "heartbeat")  # quiet: keep-alives go out
            held.release.set()
            rest = await events.until(is_status("Idle"))
            assert completed(rest) == ["done"]
            assert await events.rest() == []  # the turn is over, and so is the stream
    finally:
        held.release.set()


async def test_a_browser_that_leaves_mid_stream_detaches_the_session(
    vectorshift_engine: EngineFixture,
) -> None:
    held = HeldAgent()
    vectorshift_engine.add_agent("held", held)
    try:
        async with serve(create_app("held", heartbeat=0.05)) as (http, server):
            async with http.stream("POST", "/chat", json={"message": "go"}) as response:
                await EventReader(response).until(lambda m: m[0] == "message_complete")
                assert engine_connections(vectorshift_engine.port)  # attached while it streams
            # The browser went away (the connection is closed) while the turn is quiet.
            await await_until(lambda: not server.server_state.tasks, "the stream to end")
            await await_until(lambda: not engine_connections(vectorshift_engine.port), "the detach")

            # The turn goes on in the engine, and a later request finds it in the history.
            [session_id] = vectorshift_engine.sessions()
            held.release.set()
            await await_until(
                lambda: "done" in stored_texts(vectorshift_engine, session_id),
                "the turn to finish in the engine",
            )
            history = (await http.get("/history")).json()
        assert history["messages"] == [
            {"role": "user", "text": "go"},
            {"role": "agent", "text": "working"},
            {"role": "agent", "text": "done"},
        ]
    finally:
        held.release.set()


async def test_a_browser_that_leaves_before_the_first_event_detaches_the_session(
    vectorshift_engine: EngineFixture,
) -> None:
    """The request arrives whole, then the connection closes at once, before the app has
    answered: uvicorn tells Starlette so as soon as it listens for a disconnect, and the stream
    is cancelled at its first wait (it had no event to send yet). The session the request
    opened is detached all the same."""
    held = HeldAgent()  # a turn that would not end by itself
    vectorshift_engine.add_agent("held", held)
    try:
        async with serve(create_app("held", heartbeat=0.05)) as (http, server):
            body = b'{"message": "go"}'
            request = (
                b"POST /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            assert http.base_url.port is not None
            _, writer = await asyncio.open_connection("127.0.0.1", http.base_url.port)
            writer.write(request)
            await writer.drain()
            writer.close()
            await writer.wait_closed()

            await await_until(
                lambda: vectorshift_engine.sessions() != [], "the app to open a session"
            )
            await await_until(lambda: not server.server_state.tasks, "the request to end")
            await await_until(lambda: not engine_connections(vectorshift_engine.port), "the detach")
    finally:
        held.release.set()
