"""examples/django_app/app.py through Django's own test clients (``Client`` for the sync views,
as WSGI serves them; ``AsyncClient`` for the async one, as ASGI does), against the real local
engine of the ``vectorshift_engine`` fixture."""

# mypy: disable-error-code="import-untyped"

from __future__ import annotations

import codecs
import json
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from tests._agents import HeldAgent
from tests.examples.conftest import INSTALL_EXTRAS, load_example, sse_messages
from tests.examples.waiting import await_until, engine_connections, wait_until
from vectorshift_sessions.testing import EngineFixture

pytest.importorskip("django", reason=INSTALL_EXTRAS)

from asgiref.sync import sync_to_async  # Django's dependency
from django.test import AsyncClient, Client
from django.test.utils import (
    override_settings,
    setup_test_environment,
    teardown_test_environment,
)

app = load_example("django_app/app.py")  # configures Django's settings, once per process

#: The longest a test waits for something to happen (a working app takes milliseconds).
DEADLINE = 10.0
Message = tuple[str, Any]  # (SSE event type, the event as the page parses it)


@pytest.fixture(scope="module", autouse=True)
def _django_test_environment() -> Iterator[None]:
    """What Django's test runner does first (the test client's host is "testserver")."""
    setup_test_environment()
    yield
    teardown_test_environment()


@pytest.fixture(autouse=True)
def _short_turns() -> Iterator[None]:
    """A turn the app failed to stream ends in a failure message, not a hung test."""
    with override_settings(VECTORSHIFT_TURN_TIMEOUT=DEADLINE):
        yield


@pytest.fixture
def held(vectorshift_engine: EngineFixture) -> Iterator[HeldAgent]:
    """The app talks to an agent that says "working", then holds its turn until released."""
    agent = HeldAgent()
    vectorshift_engine.add_agent("held", agent)
    try:
        with override_settings(VECTORSHIFT_AGENT="held"):
            yield agent
    finally:
        agent.release.set()  # the engine cannot stop with a turn held


# --- reading a streamed response --------------------------------------------------------------


class Stream:
    """An SSE response, read as it arrives: block by block (a message, or a heartbeat)."""

    def __init__(self, response: Any) -> None:
        assert response.status_code == 200, response
        assert response["Content-Type"].startswith("text/event-stream")
        assert response["Cache-Control"] == "no-cache"
        assert response["X-Accel-Buffering"] == "no"
        self.response = response
        self.messages: list[Message] = []
        self.heartbeats = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._text = ""
        self._blocks: deque[str] = deque()

    def _feed(self, chunk: bytes) -> None:
        *blocks, self._text = (self._text + self._decoder.decode(chunk)).split("\n\n")
        self._blocks.extend(blocks)

    def _take(self) -> str:
        block = self._blocks.popleft()
        if block.startswith(":"):
            self.heartbeats += 1
        else:
            self.messages.extend(sse_messages(block + "\n\n"))
        return block

    def texts(self) -> list[str]:
        return [e["data"]["text"] for kind, e in self.messages if kind == "message_complete"]


class SyncStream(Stream):
    def __init__(self, response: Any) -> None:
        super().__init__(response)
        self._chunks: Iterator[bytes] = iter(response.streaming_content)

    def next_block(self) -> str | None:
        """The next block (None at the end): blocks until the app yields it."""
        while not self._blocks:
            chunk = next(self._chunks, None)
            if chunk is None:
                return None
            self._feed(chunk)
        return self._take()

    def read_until(self, done: Callable[[str, Any], bool]) -> None:
        while (block := self.next_block()) is not None:
            if not block.startswith(":") and done(*self.messages[-1]):
                return
        pytest.fail(f"the stream ended first: {self.messages}")

    def read_to_end(self) -> None:
        while self.next_block() is not None:
            pass


class AsyncStream(Stream):
    def __init__(self, response: Any) -> None:
        super().__init__(response)
        self._chunks: AsyncIterator[bytes] = aiter(response.streaming_content)

    async def next_block(self) -> str | None:
        while not self._blocks:
            chunk = await anext(self._chunks, None)
            if chunk is None:
                return None
            self._feed(chunk)
        return self._take()

    async def read_until(self, done: Callable[[str, Any], bool]) -> None:
        while (block := await self.next_block()) is not None:
            if not block.startswith(":") and done(*self.messages[-1]):
                return
        pytest.fail(f"the stream ended first: {self.messages}")


def said(text: str) -> Callable[[str, Any], bool]:
    return lambda kind, event: kind == "message_complete" and event["data"]["text"] == text


def status(name: str) -> Callable[[str, Any], bool]:
    return lambda kind, event: kind == "participant_status" and event["data"]["status"] == name


def approval_request(kind: str, event: Any) -> bool:
    return kind == "approval_request"


# --- waiting for the engine's side ------------------------------------------------------------


def texts_in_engine(engine: EngineFixture, session_id: str) -> list[str | None]:
    return [m.text for m in engine.messages(session_id)]


def post(client: Client, path: str, body: object, **headers: str) -> Any:
    return client.post(path, body, content_type="application/json", headers=headers)


# --- the sync views (WSGI) --------------------------------------------------------------------


def test_the_page_is_served() -> None:
    response = Client().get("/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert b"".join(response.streaming_content) == app.PAGE.read_bytes()


def test_chat_streams_each_event_as_it_comes(
    vectorshift_engine: EngineFixture, held: HeldAgent
) -> None:
    """The agent holds its turn after "working": that message can only reach the client if
    the app streams it. While the turn is quiet, heartbeats go out."""
    client = Client()
    with override_settings(VECTORSHIFT_HEARTBEAT=0.05):
        stream = SyncStream(post(client, "/chat", {"message": "Hello"}))
        stream.read_until(said("working"))
        assert not held.release.is_set()  # the turn cannot have ended
        assert stream.next_block() == ": keep-alive"  # quiet: a heartbeat
        held.release.set()
        stream.read_until(status("Idle"))
    assert stream.texts() == ["working", "done"]
    assert stream.next_block() is None  # Idle was the last event
    assert client.get("/history").json() == {
        "messages": [
            {"role": "user", "text": "Hello"},
            {"role": "agent", "text": "working"},
            {"role": "agent", "text": "done"},
        ]
    }


def chat_to_approval(client: Client, question: str) -> dict[str, Any]:
    """Sends ``question`` to the demo agent; returns the approval request its turn stops at."""
    stream = SyncStream(post(client, "/chat", {"message": question}))
    stream.read_to_end()
    kind, event = stream.messages[-1]
    assert kind == "approval_request"
    assert event["data"]["tool_name"] == "create_ticket"
    return dict(event)


def test_an_approval_is_answered_in_a_second_request(vectorshift_engine: EngineFixture) -> None:
    client = Client()  # its cookie carries the session id from one request to the next
    event = chat_to_approval(client, "Where is order 42?")

    stream = SyncStream(post(client, "/approve", {"event": event, "approved": True}))
    stream.read_to_end()
    kinds = [kind for kind, _ in stream.messages]
    assert "tool_result" in kinds
    [answer] = stream.texts()
    assert "DEMO-1042" in answer
    assert status("Idle")(*stream.messages[-1])

    assert client.get("/history").json() == {
        "messages": [
            {"role": "user", "text": "Where is order 42?"},
            {"role": "agent", "text": answer},
        ]
    }
    [session_id] = vectorshift_engine.sessions()  # one conversation, resumed by id
    assert event["session_id"] == session_id


def test_an_approval_can_be_denied(vectorshift_engine: EngineFixture) -> None:
    client = Client()
    event = chat_to_approval(client, "Where is order 42?")
    stream = SyncStream(post(client, "/approve", {"event": event, "approved": False}))
    stream.read_to_end()
    assert "tool_result" not in [kind for kind, _ in stream.messages]
    [answer] = stream.texts()
    assert "declined the ticket (denied in the page)" in answer
    assert "DEMO-1042" not in answer
    assert status("Idle")(*stream.messages[-1])


def test_bad_input_is_refused_and_nothing_reaches_the_engine(
    vectorshift_engine: EngineFixture,
) -> None:
    client = Client()
    no_message: list[object] = [{}, {"message": "  "}, {"message": 42}, "not JSON"]
    for body in no_message:
        response = post(client, "/chat", body)
        assert response.status_code == 400
        assert "message" in response.json()["error"]
    response = post(client, "/approve", {"event": {}, "approved": True})
    assert response.status_code == 409  # no conversation yet
    assert vectorshift_engine.sessions() == []
    refused = post(client, "/chat", {"message": "broken \ud800"})  # what the SDK refuses
    assert refused.status_code == 400 and "lone surrogate" in refused.json()["error"]
    assert not engine_connections(vectorshift_engine.port)  # the session was let go

    event = chat_to_approval(client, "Where is order 42?")
    [session_id] = vectorshift_engine.sessions()
    before = texts_in_engine(vectorshift_engine, session_id)
    not_an_approval = {**event, "type": "message_complete"}
    another_sessions = {**event, "session_id": "0123456789abcdef01234567"}
    bad_answers: list[dict[str, object]] = [
        {"event": not_an_approval, "approved": True},
        {"event": another_sessions, "approved": True},
        {"event": "garbage", "approved": True},
        {"event": {"type": "approval_request"}, "approved": True},
        {"event": event, "approved": "yes"},
        {"event": event},
    ]
    for body in bad_answers:
        response = post(client, "/approve", body)
        assert response.status_code == 400, body
        assert response.json()["error"]
    assert texts_in_engine(vectorshift_engine, session_id) == before

    # The turn still waits for its answer.
    stream = SyncStream(post(client, "/approve", {"event": event, "approved": True}))
    stream.read_to_end()
    assert "DEMO-1042" in stream.texts()[0]


def test_posts_from_another_site_are_refused(vectorshift_engine: EngineFixture) -> None:
    """The JSON views are exempt from Django's CSRF token, not from a same-origin check."""
    client = Client()
    refused = post(client, "/chat", {"message": "Hi"}, origin="https://evil.example")
    assert refused.status_code == 403
    assert post(client, "/reset", {}, origin="https://evil.example").status_code == 403
    form = client.post("/chat", {"message": "Hi"})  # a form's content type
    assert form.status_code == 415
    assert client.get("/chat").status_code == 405
    assert vectorshift_engine.sessions() == []

    same_origin = post(client, "/chat", {"message": "Hi"}, origin="http://testserver")
    SyncStream(same_origin).read_to_end()
    assert post(client, "/reset", {}, origin="http://testserver").status_code == 204
    assert client.get("/history").json() == {"messages": []}  # a new conversation


def test_closing_the_response_mid_turn_detaches_and_the_turn_goes_on(
    vectorshift_engine: EngineFixture, held: HeldAgent
) -> None:
    """What Django's handlers do when the browser went away: close() the response."""
    client = Client()
    stream = SyncStream(post(client, "/chat", {"message": "Hello"}))
    stream.read_until(said("working"))
    [session_id] = vectorshift_engine.sessions()
    assert len(engine_connections(vectorshift_engine.port)) == 1  # the session's WebSocket

    stream.response.close()
    wait_until(
        lambda: len(engine_connections(vectorshift_engine.port)) == 0, "the session detached"
    )
    assert stream.next_block() is None  # the stream ended

    held.release.set()
    wait_until(
        lambda: "done" in texts_in_engine(vectorshift_engine, session_id),
        "the turn finished in the engine",
    )
    history = client.get("/history").json()["messages"]
    assert [m["text"] for m in history] == ["Hello", "working", "done"]


def test_a_response_never_read_still_detaches(vectorshift_engine: EngineFixture) -> None:
    response = post(Client(), "/chat", {"message": "Hello"})
    [session_id] = vectorshift_engine.sessions()
    assert len(engine_connections(vectorshift_engine.port)) == 1
    response.close()
    wait_until(
        lambda: len(engine_connections(vectorshift_engine.port)) == 0, "the session detached"
    )
    assert vectorshift_engine.messages(session_id) == []  # a turn is sent when it is read


# --- the async view (ASGI) --------------------------------------------------------------------


async def test_async_chat_streams_each_event_as_it_comes(
    vectorshift_engine: EngineFixture, held: HeldAgent
) -> None:
    client = AsyncClient()
    with override_settings(VECTORSHIFT_HEARTBEAT=0.05):
        response = await client.post(
            "/async/chat", {"message": "Hello"}, content_type="application/json"
        )
        stream = AsyncStream(response)
        await stream.read_until(said("working"))
        assert not held.release.is_set()
        assert await stream.next_block() == ": keep-alive"
        held.release.set()
        await stream.read_until(status("Idle"))
    assert stream.texts() == ["working", "done"]
    assert await stream.next_block() is None
    history = (await client.get("/history")).json()["messages"]
    assert [m["text"] for m in history] == ["Hello", "working", "done"]


async def test_async_chat_refuses_a_missing_message(vectorshift_engine: EngineFixture) -> None:
    response = await AsyncClient().post("/async/chat", {}, content_type="application/json")
    assert response.status_code == 400
    assert json.loads(response.content)["error"]
    assert vectorshift_engine.sessions() == []


async def test_closing_the_async_response_mid_turn_detaches(
    vectorshift_engine: EngineFixture, held: HeldAgent
) -> None:
    client = AsyncClient()
    response = await client.post(
        "/async/chat", {"message": "Hello"}, content_type="application/json"
    )
    stream = AsyncStream(response)
    await stream.read_until(said("working"))
    [session_id] = vectorshift_engine.sessions()
    assert len(engine_connections(vectorshift_engine.port)) == 1

    await sync_to_async(response.close)()  # from a worker thread, as Django's ASGI handler does
    await await_until(
        lambda: len(engine_connections(vectorshift_engine.port)) == 0, "the session detached"
    )

    held.release.set()
    await await_until(
        lambda: "done" in texts_in_engine(vectorshift_engine, session_id),
        "the turn finished in the engine",
    )
    history = (await client.get("/history")).json()["messages"]
    assert [m["text"] for m in history] == ["Hello", "working", "done"]


async def test_an_async_response_never_read_still_detaches(
    vectorshift_engine: EngineFixture,
) -> None:
    response = await AsyncClient().post(
        "/async/chat", {"message": "Hello"}, content_type="application/json"
    )
    [session_id] = vectorshift_engine.sessions()
    assert len(engine_connections(vectorshift_engine.port)) == 1
    response.close()  # from the event loop's thread
    await await_until(
        lambda: len(engine_connections(vectorshift_engine.port)) == 0, "the session detached"
    )
    assert vectorshift_engine.messages(session_id) == []
