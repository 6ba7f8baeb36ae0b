"""AsyncClient, AsyncAgent and AsyncChatbot. Written once: tests/_sync/ is generated from it.

REST behaviour (every status, retries, Retry-After, timeouts, malformed bodies, the key never
shown) runs against pytest-httpserver; sessions and one-shot runs against the real local engine.
Waits are tiny through configuration (retry delays of a millisecond), never sleeps.
"""

from __future__ import annotations

import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from vectorshift_sessions import (
    ActionRequiredError,
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AsyncAgent,
    AsyncChatbot,
    AsyncClient,
    AsyncSession,
    AuthenticationError,
    BadRequestError,
    InsecureTransportError,
    InternalServerError,
    MalformedResponseError,
    NotFoundError,
    ParticipantStatus,
    PermissionDeniedError,
    RateLimitError,
    SessionAuthenticationError,
    SessionEventType,
    SessionNotFoundError,
    SessionTimeoutError,
    TurnStatus,
    UnprocessableEntityError,
)
from vectorshift_sessions.engine import LocalEngine

ET = SessionEventType
KEY = "sk-test-SECRET-0123456789abcdef"
ECHO_JSON = {"_id": "agent-echo", "name": "echo", "agent_type": "conversational"}


def client_for(server: HTTPServer, **options: Any) -> AsyncClient:
    """A client for the test server with millisecond retry delays."""
    options.setdefault("retry_base_delay", 0.001)
    options.setdefault("retry_max_delay", 0.002)
    return AsyncClient(api_key=KEY, base_url=server.url_for("/v1"), **options)


def shown(exc: BaseException) -> str:
    """Everything a user could see of an error: str, repr and the formatted traceback."""
    return str(exc) + repr(exc) + "".join(traceback.format_exception(exc))


def answers(*responses: Response) -> Callable[[Request], Response]:
    """A handler giving these responses in turn, then the last one again."""
    queue = list(responses)

    def handle(request: Request) -> Response:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handle


def json_response(body: Any, status: int = 200, **headers: str) -> Response:
    import json

    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


class Gate:
    """A handler that holds the first ``hold`` requests until ``release`` is set, then answers."""

    def __init__(self, hold: int):
        self.hold = hold
        self.calls = 0
        self.release = threading.Event()
        self.first_entered = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        with self._lock:
            self.calls += 1
            number = self.calls
        if number <= self.hold:
            self.first_entered.set()
            self.release.wait(30)
        return json_response({"object": ECHO_JSON})


@pytest.fixture
def threaded_server() -> Iterator[HTTPServer]:
    """A test server that answers requests concurrently (a held request blocks nothing)."""
    server = HTTPServer(threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# --- fetch and list -----------------------------------------------------------------------------


async def test_fetch_by_name(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/v1/agent",
        method="GET",
        query_string={"name": "echo"},
        headers={"Authorization": f"Bearer {KEY}"},
    ).respond_with_json({"object": {**ECHO_JSON, "description": "d"}})
    async with client_for(httpserver) as client:
        agent = await AsyncAgent.fetch(name="echo", client=client)
    assert (agent.id, agent.name, agent.agent_type) == ("agent-echo", "echo", "conversational")
    assert agent.is_conversational
    assert agent.raw["description"] == "d"
    assert agent.client is client
    assert repr(agent) == (
        AsyncAgent.__name__ + "(id='agent-echo', name='echo', agent_type='conversational')"
    )
    httpserver.check_assertions()


async def test_fetch_by_id_with_owner_and_other_field_spellings(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/v1/agent", query_string={"id": "65f0", "username": "me", "org_name": "acme"}
    ).respond_with_json({"object": {"_id": {"$oid": "65f0"}, "name": "x", "variant": "Functional"}})
    async with client_for(httpserver) as client:
        agent = await client.agents.fetch(id="65f0", username="me", org_name="acme")
    assert (agent.id, agent.agent_type, agent.is_conversational) == ("65f0", "functional", False)


async def test_fetch_with_plain_id_field_and_no_type(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/agent").respond_with_json({"object": {"id": "a9"}})
    async with client_for(httpserver) as client:
        agent = await client.agents.fetch(id="a9")
    assert (agent.id, agent.name, agent.agent_type) == ("a9", None, None)
    assert agent.is_conversational, "an agent of unknown type is not refused sessions"


async def test_fetch_a_chatbot(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/chatbot", query_string={"name": "helper"}).respond_with_json(
        {"object": {"_id": "chatbot-1", "name": "helper", "deployed": True}}
    )
    async with client_for(httpserver) as client:
        bot = await client.chatbots.fetch(name="helper")
        same = await AsyncChatbot.fetch(name="helper", client=client)
    assert (bot.id, bot.name, bot.raw["deployed"]) == ("chatbot-1", "helper", True)
    assert bot == same and hash(bot) == hash(same)
    assert repr(bot) == AsyncChatbot.__name__ + "(id='chatbot-1', name='helper')"


async def test_list_agents_and_chatbots(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/v1/agents", query_string={"limit": "2", "offset": "4", "include_shared": "true"}
    ).respond_with_json({"objects": [ECHO_JSON, {"_id": "agent-f", "agent_type": "functional"}]})
    httpserver.expect_request(
        "/v1/chatbots", query_string={"limit": "50", "offset": "0"}
    ).respond_with_json({"objects": [{"_id": "chatbot-1", "name": "helper"}]})
    async with client_for(httpserver) as client:
        agents = await client.agents.list(limit=2, offset=4, include_shared=True)
        bots = await AsyncChatbot.list(client=client)
    assert [(a.id, a.agent_type) for a in agents] == [
        ("agent-echo", "conversational"),
        ("agent-f", "functional"),
    ]
    assert all(a.client is client for a in agents)
    assert [(b.id, b.name) for b in bots] == [("chatbot-1", "helper")]


async def test_list_with_ids_only(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/agents").respond_with_json({"object_ids": ["a1", "a2"]})
    async with client_for(httpserver) as client:
        agents = await client.agents.list()
    assert [(a.id, a.name, a.agent_type) for a in agents] == [
        ("a1", None, None),
        ("a2", None, None),
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of id= or name=.*neither"),
        ({"id": "a1", "name": "echo"}, "exactly one of id= or name=.*both"),
        ({"name": ""}, "name must be a non-empty string"),
        ({"id": "a1", "org_name": " "}, "org_name must be a non-empty string"),
    ],
)
async def test_fetch_arguments_are_checked_before_any_request(
    httpserver: HTTPServer, kwargs: dict[str, str], message: str
) -> None:
    async with client_for(httpserver) as client:
        with pytest.raises(ValueError, match=message):
            await client.agents.fetch(**kwargs)
        with pytest.raises(ValueError, match=message):
            await AsyncChatbot.fetch(client=client, **kwargs)
        with pytest.raises(ValueError, match="limit must be an integer >= 1"):
            await client.agents.list(limit=0)
    assert len(httpserver.log) == 0


# --- configuration ------------------------------------------------------------------------------


async def test_without_a_client_the_environment_configures_each_call(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VECTORSHIFT_API_KEY", KEY)
    monkeypatch.setenv("VECTORSHIFT_BASE_URL", httpserver.url_for("/v1"))
    httpserver.expect_request(
        "/v1/agent", headers={"Authorization": f"Bearer {KEY}"}
    ).respond_with_json({"object": ECHO_JSON})
    httpserver.expect_request("/v1/chatbots").respond_with_json({"objects": []})
    agent = await AsyncAgent.fetch(name="echo")
    assert agent.client is None
    assert await AsyncChatbot.list() == []
    session = await agent.create_session()
    assert session.url == httpserver.url_for("/v1/ws/session").replace("http://", "ws://")
    monkeypatch.setenv("VECTORSHIFT_WS_URL", "ws://127.0.0.1:9/elsewhere")
    session = await agent.resume_session("sess-1")
    assert session.url == "ws://127.0.0.1:9/elsewhere/ws/session"
    httpserver.check_assertions()


async def test_configuration_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    local = AsyncClient(base_url="http://127.0.0.1:8/v1")
    assert local.ws_url == "ws://127.0.0.1:8/v1"
    assert not local.has_api_key  # the local engine needs none
    default = AsyncClient(KEY)
    assert default.base_url == "https://api.vectorshift.ai/v1"
    assert default.ws_url == "wss://api.vectorshift.ai/v1"
    monkeypatch.setenv("VECTORSHIFT_BASE_URL", "https://env.example.test/v1/")
    monkeypatch.setenv("VECTORSHIFT_API_KEY", KEY)
    from_env = AsyncClient()
    assert (from_env.base_url, from_env.ws_url) == (
        "https://env.example.test/v1",
        "wss://env.example.test/v1",
    )
    assert from_env.has_api_key
    explicit = AsyncClient(
        "other-key", base_url="https://arg.example.test/v1", ws_url="wss://ws.example.test/x"
    )
    assert (explicit.base_url, explicit.ws_url) == (
        "https://arg.example.test/v1",
        "wss://ws.example.test/x",
    )
    monkeypatch.setenv("VECTORSHIFT_WS_URL", "wss://envws.example.test")
    assert AsyncClient().ws_url == "wss://envws.example.test"


async def test_options_are_checked() -> None:
    for bad in (
        {"timeout": 0},
        {"timeout": -1.0},
        {"connect_timeout": 0},
        {"max_retries": -1},
        {"retry_base_delay": -1},
        {"base_url": "api.vectorshift.ai"},
    ):
        with pytest.raises(ValueError):
            AsyncClient(KEY, **bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"number of seconds or an httpx\.Timeout"):
        AsyncClient(KEY, timeout="30")  # type: ignore[arg-type]
    client = AsyncClient(
        KEY, timeout=httpx.Timeout(5.0, connect=1.0), max_retries=0, retry_base_delay=0.1
    )
    assert client.timeout.connect == 1.0
    assert client.retry_policy.max_retries == 0
    assert client.retry_policy.base_delay == 0.1


async def test_the_key_never_goes_to_another_machine_in_clear_text() -> None:
    with pytest.raises(InsecureTransportError, match=r"unencrypted to api\.example\.test"):
        AsyncClient(KEY, base_url="http://api.example.test/v1")
    # The WebSocket URL sessions will use is checked too, when the client is made.
    with pytest.raises(InsecureTransportError, match=r"unencrypted to ws\.example\.test"):
        AsyncClient(KEY, ws_url="ws://ws.example.test/v1")
    AsyncClient(KEY, base_url="http://api.example.test/v1", allow_insecure_key=True)
    AsyncClient(KEY, ws_url="ws://ws.example.test/v1", allow_insecure_key=True)
    AsyncClient(KEY, base_url="http://localhost:8000/v1")


async def test_no_key_means_no_authorization_header(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/agent").respond_with_json({"object": ECHO_JSON})
    async with AsyncClient(base_url=httpserver.url_for("/v1")) as client:
        await client.agents.fetch(name="echo")
    request, _ = httpserver.log[0]
    assert "Authorization" not in request.headers


async def test_a_closed_client_refuses_requests_but_still_configures_sessions(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request("/v1/agent").respond_with_json({"object": ECHO_JSON})
    client = client_for(httpserver)
    agent = await client.agents.fetch(name="echo")
    await client.aclose()
    await client.aclose()  # twice is fine
    assert client.is_closed
    with pytest.raises(APIError, match="client is closed"):
        await client.agents.fetch(name="echo")
    assert len(httpserver.log) == 1
    session = await agent.create_session()
    assert isinstance(session, AsyncSession) and not session.is_connected


async def test_a_client_you_bring_is_used_and_left_open(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/agent", headers={"X-Trace": "t1"}).respond_with_json(
        {"object": ECHO_JSON}
    )
    own = httpx.AsyncClient(headers={"X-Trace": "t1"})
    async with client_for(httpserver, http_client=own) as client:
        await client.agents.fetch(name="echo")
    assert not own.is_closed
    await own.aclose()
    httpserver.check_assertions()


async def test_repr_shows_configuration_but_not_the_key(httpserver: HTTPServer) -> None:
    client = client_for(httpserver)
    assert "api_key=set" in repr(client)
    assert KEY not in repr(client)
    assert httpserver.url_for("/v1") in repr(client)


# --- errors by status ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
        (405, APIStatusError),
    ],
)
async def test_each_status_raises_its_error(
    httpserver: HTTPServer, status: int, cls: type[APIStatusError]
) -> None:
    # The server echoes the key back: it must still never appear in what we show.
    httpserver.expect_request("/v1/agent").respond_with_json(
        {"error": f"refused (you sent Bearer {KEY})"}, status=status
    )
    async with client_for(httpserver, max_retries=0) as client:
        with pytest.raises(cls) as info:
            await client.agents.fetch(name="echo")
    exc = info.value
    assert type(exc) is cls
    assert exc.status_code == status
    text = str(exc)
    assert text.startswith(f"GET {httpserver.url_for('/v1/agent')}?name=echo failed with {status}")
    assert "refused (you sent Bearer ***)" in text
    assert "(hint: " in text
    assert KEY not in shown(exc)
    assert KEY not in repr(exc.body)
    assert len(httpserver.log) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"detail": "Not authenticated"}, "Not authenticated"),
        ({"detail": [{"loc": ["query", "id"], "msg": "field required"}]}, "field required"),
        ({"error": {"message": "nested"}}, "nested"),
    ],
)
async def test_the_servers_message_is_found(
    httpserver: HTTPServer, body: dict[str, Any], message: str
) -> None:
    httpserver.expect_request("/v1/agent").respond_with_json(body, status=422)
    async with client_for(httpserver) as client:
        with pytest.raises(UnprocessableEntityError, match=message):
            await client.agents.fetch(name="echo")


async def test_a_plain_text_error_body(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/agents").respond_with_data(
        f"<h1>Bad gateway</h1>\n{KEY}", status=502
    )
    async with client_for(httpserver, max_retries=0) as client:
        with pytest.raises(InternalServerError) as info:
            await client.agents.list()
    assert "<h1>Bad gateway</h1> ***" in str(info.value)
    assert KEY not in shown(info.value) + repr(info.value.body)


# --- retries ------------------------------------------------------------------------------------


async def test_5xx_is_retried_until_success(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/agent").respond_with_handler(
        answers(
            json_response({"error": "busy"}, 503),
            json_response({"error": "oops"}, 500),
            json_response({"object": ECHO_JSON}),
        )
    )
    async with client_for(httpserver, max_retries=2) as client:
        agent = await client.agents.fetch(name="echo")
    assert agent.id == "agent-echo"
    assert len(httpserver.log) == 3


async def test_retries_are_bounded(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/agent").respond_with_json({"error": "down"}, status=500)
    async with client_for(httpserver, max_retries=3) as client:
        with pytest.raises(InternalServerError, match="down"):
            await client.agents.fetch(name="echo")
    assert len(httpserver.log) == 4


async def test_max_retries_zero_turns_retrying_off(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/agent").respond_with_json({"error": "busy"}, status=503)
    async with client_for(httpserver, max_retries=0) as client:
        with pytest.raises(InternalServerError):
            await client.agents.fetch(name="echo")
    assert len(httpserver.log) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_are_never_retried(httpserver: HTTPServer, status: int) -> None:
    httpserver.expect_request("/v1/agent").respond_with_json({"error": "no"}, status=status)
    async with client_for(httpserver, max_retries=5) as client:
        with pytest.raises(APIStatusError):
            await client.agents.fetch(name="echo")
    assert len(httpserver.log) == 1


async def test_429_is_retried_after_retry_after(httpserver: HTTPServer) -> None:
    # A base delay of 30 s: finishing quickly shows the server's 0.2 s was used instead, and
    # taking at least ~0.2 s shows it was waited for.
    httpserver.expect_request("/v1/agent").respond_with_handler(
        answers(
            json_response({"error": "slow down"}, 429, **{"Retry-After": "0.2"}),
            json_response({"object": ECHO_JSON}),
        )
    )
    async with client_for(httpserver, retry_base_delay=30.0, retry_max_delay=30.0) as client:
        started = time.monotonic()
        await client.agents.fetch(name="echo")
        elapsed = time.monotonic() - started
    assert len(httpserver.log) == 2
    assert 0.15 <= elapsed < 10


async def test_retry_after_as_an_http_date(httpserver: HTTPServer) -> None:
    past = format_datetime(datetime.now(timezone.utc) - timedelta(hours=1), usegmt=True)
    httpserver.expect_request("/v1/agent").respond_with_handler(
        answers(
            json_response({"error": "slow down"}, 429, **{"Retry-After": past}),
            json_response({"object": ECHO_JSON}),
        )
    )
    async with client_for(httpserver, retry_base_delay=30.0, retry_max_delay=30.0) as client:
        await client.agents.fetch(name="echo")
    assert len(httpserver.log) == 2


async def test_a_long_retry_after_is_capped(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/agent").respond_with_handler(
        answers(
            json_response({"error": "come back in an hour"}, 429, **{"Retry-After": "3600"}),
            json_response({"object": ECHO_JSON}),
        )
    )
    async with client_for(httpserver, max_retry_after=0.01) as client:
        await client.agents.fetch(name="echo")
    assert len(httpserver.log) == 2


async def test_429_after_the_last_retry_is_a_rate_limit_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/agent").respond_with_json(
        {"error": "slow down"}, status=429, headers={"Retry-After": "0"}
    )
    async with client_for(httpserver, max_retries=1) as client:
        with pytest.raises(RateLimitError, match="slow down"):
            await client.agents.fetch(name="echo")
    assert len(httpserver.log) == 2


async def test_connection_refused(httpserver: HTTPServer) -> None:
    async with AsyncClient(
        KEY, base_url=closed_port_url(), max_retries=2, retry_base_delay=0.001
    ) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.agents.fetch(name="echo")
    exc = info.value
    assert not isinstance(exc, APITimeoutError)
    assert "got no answer (after 3 attempts)" in str(exc)
    assert "/v1/agent?name=echo" in str(exc)
    assert KEY not in shown(exc)


async def test_a_timeout(threaded_server: HTTPServer) -> None:
    gate = Gate(hold=1)
    threaded_server.expect_request("/v1/agent").respond_with_handler(gate)
    try:
        async with client_for(threaded_server, timeout=0.05, max_retries=0) as client:
            with pytest.raises(APITimeoutError) as info:
                await client.agents.fetch(name="echo")
    finally:
        gate.release.set()
    assert gate.first_entered.wait(5)
    assert gate.calls == 1
    assert str(info.value).startswith(
        f"GET {threaded_server.url_for('/v1/agent')}?name=echo timed out"
    )
    assert KEY not in shown(info.value)


async def test_a_timeout_is_retried(threaded_server: HTTPServer) -> None:
    gate = Gate(hold=1)
    threaded_server.expect_request("/v1/agent").respond_with_handler(gate)
    try:
        async with client_for(threaded_server, timeout=0.2, max_retries=1) as client:
            agent = await client.agents.fetch(name="echo")
    finally:
        gate.release.set()
    assert agent.id == "agent-echo"
    assert gate.first_entered.wait(5)
    assert gate.calls == 2


# --- malformed bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "what"),
    [
        ("/v1/agent", "<html>maintenance</html>", "the body is not JSON"),
        ("/v1/agent", "", "the body is not JSON"),
        ("/v1/agent", '{"objects": []}', 'the body has no "object"'),
        ("/v1/agent", '{"object": {"name": "echo"}}', 'no "_id" or "id"'),
        ("/v1/agents", '{"object": {}}', 'no "objects" list'),
        ("/v1/agents", '{"objects": [{"name": "x"}]}', "not an object with an id"),
    ],
)
async def test_malformed_bodies(httpserver: HTTPServer, path: str, body: str, what: str) -> None:
    httpserver.expect_request(path).respond_with_data(body, content_type="application/json")
    async with client_for(httpserver) as client:
        with pytest.raises(MalformedResponseError) as info:
            if path == "/v1/agent":
                await client.agents.fetch(name="echo")
            else:
                await client.agents.list()
    assert what in str(info.value)
    assert "answered 200" in str(info.value)
    assert info.value.status_code == 200
    assert len(httpserver.log) == 1, "a malformed answer is not retried"


async def test_a_malformed_body_never_shows_the_key(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/agent").respond_with_data(f"token={KEY}")
    async with client_for(httpserver) as client:
        with pytest.raises(MalformedResponseError) as info:
            await client.agents.fetch(name="echo")
    assert KEY not in shown(info.value)


# --- sessions from handles (no connection needed) -----------------------------------------------


async def test_sessions_get_the_clients_configuration(httpserver: HTTPServer) -> None:
    client = client_for(httpserver, ws_url="ws://127.0.0.1:1/custom", connect_timeout=3.0)
    agent = AsyncAgent("agent-echo", "echo", "conversational", client=client)
    session = await agent.create_session()
    assert isinstance(session, AsyncSession)
    assert not session.is_connected and session.session_id is None
    assert session.url == "ws://127.0.0.1:1/custom/ws/session"
    resumed = await AsyncChatbot("chatbot-1", client=client).resume_session("sess-9")
    assert resumed.session_id == "sess-9" and not resumed.is_connected
    also_resumed = await agent.create_session("sess-9")
    assert also_resumed.session_id == "sess-9"


async def test_functional_agents_refuse_sessions() -> None:
    agent = AsyncAgent("agent-f", "summarize", "functional")
    with pytest.raises(ValueError, match="'summarize' is a functional agent: create_session"):
        await agent.create_session()
    with pytest.raises(ValueError, match="functional agent: resume_session"):
        await agent.resume_session("sess-1")
    with pytest.raises(ValueError, match="functional agent: run"):
        await agent.run("hello")


async def test_handle_arguments_are_checked() -> None:
    agent = AsyncAgent("agent-echo", agent_type="conversational")
    for bad in ("", "  "):
        with pytest.raises(ValueError, match="resume_session"):
            await agent.resume_session(bad)
    with pytest.raises(ValueError, match="session_id"):
        await agent.create_session("has space")
    with pytest.raises(ValueError, match="id must be a non-empty string"):
        AsyncAgent("")
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        await agent.run("hi", timeout=0)


# --- against the local engine -------------------------------------------------------------------


def engine_client(engine: LocalEngine, **options: Any) -> AsyncClient:
    return AsyncClient(base_url=engine.base_url, ws_url=engine.ws_url, **options)


async def test_engine_fetch_and_list(engine: LocalEngine) -> None:
    async with engine_client(engine) as client:
        echo = await client.agents.fetch(name="echo")
        by_id = await client.agents.fetch(id=echo.id)
        agents = {a.name: a for a in await client.agents.list()}
        bots = {b.name: b for b in await client.chatbots.list()}
        bot = await client.chatbots.fetch(name="demo")
        with pytest.raises(NotFoundError, match="'no-such-agent' not found"):
            await client.agents.fetch(name="no-such-agent")
    assert (echo.id, echo.agent_type) == ("agent-echo", "conversational")
    assert by_id == echo
    assert {"echo", "demo"} <= set(agents)
    assert any(a.agent_type == "functional" for a in agents.values())
    assert {"echo", "demo"} <= set(bots)
    assert bot.raw["agent_name"] == "demo"


async def test_engine_create_session_then_resume_it(engine: LocalEngine) -> None:
    async with engine_client(engine) as client:
        agent = await client.agents.fetch(name="echo")
    async with await agent.create_session() as session:
        first = await session.ask("remember the blue door")
        session_id = session.session_id
    assert first.status == TurnStatus.COMPLETE
    assert first.text is not None and "remember the blue door" in first.text
    assert session_id
    async with await agent.resume_session(session_id) as again:
        history = await again.get_messages()
    assert any("remember the blue door" in (m.text or "") for m in history)


async def test_engine_run_returns_the_turn_and_terminates(engine: LocalEngine) -> None:
    async with engine_client(engine) as client:
        agent = await client.agents.fetch(name="echo")
    result = await agent.run("one shot please")
    assert result.status == TurnStatus.COMPLETE
    assert result.text is not None and "one shot please" in result.text
    assert result.session_id
    types = {e.type for e in result.events}
    assert ET.MESSAGE_COMPLETE in types
    assert ET.MESSAGE_DELTA not in types, "deltas are folded into the text by default"
    # The hidden session was terminated: it cannot be resumed.
    with pytest.raises(SessionNotFoundError):
        async with await agent.resume_session(result.session_id):
            pass


async def test_engine_run_keeps_deltas_on_request(engine: LocalEngine) -> None:
    agent = AsyncAgent("agent-echo", client=engine_client(engine))
    result = await agent.run("the quick brown fox", include_deltas=True)
    deltas = [e.delta for e in result.events if e.type == ET.MESSAGE_DELTA]
    assert len(deltas) > 1
    assert "".join(d or "" for d in deltas) == result.text


async def test_engine_run_keep_alive_and_continue_the_session(engine: LocalEngine) -> None:
    agent = AsyncAgent("agent-echo", client=engine_client(engine))
    first = await agent.run("first turn", keep_alive=True)
    second = await agent.run("second turn", session_id=first.session_id)
    assert second.session_id == first.session_id
    assert second.text is not None and "second turn" in second.text
    # Resuming left it alive too: its history holds both turns.
    async with await agent.resume_session(first.session_id) as session:
        texts = " ".join(m.text or "" for m in await session.get_messages())
    assert "first turn" in texts and "second turn" in texts


async def test_engine_run_on_a_chatbot(engine: LocalEngine) -> None:
    async with engine_client(engine) as client:
        bot = await client.chatbots.fetch(name="echo")
    result = await bot.run("hello chatbot")
    assert result.status == TurnStatus.COMPLETE
    assert result.text is not None and "hello chatbot" in result.text


async def test_engine_run_stops_for_approval_and_the_session_waits(engine: LocalEngine) -> None:
    async with engine_client(engine) as client:
        agent = await client.agents.fetch(name="demo")
    with pytest.raises(ActionRequiredError) as info:
        await agent.run("book a meeting room")
    exc = info.value
    assert exc.event.type == ET.APPROVAL_REQUEST
    assert exc.session_id and exc.session_id in str(exc)
    # The session was kept alive: resume it and approve, and the paused turn finishes.
    async with await agent.resume_session(exc.session_id) as session:
        await session.respond(exc.event, approved=True)
        completed = None
        async for event in session.listen():
            if event.type == ET.MESSAGE_COMPLETE:
                completed = event
            if completed is not None and event.participant_status == ParticipantStatus.IDLE:
                break
    assert completed is not None and completed.text


async def test_engine_run_stops_for_reauthorization(engine: LocalEngine) -> None:
    agent = AsyncAgent("agent-demo", client=engine_client(engine))
    with pytest.raises(ActionRequiredError) as info:
        await agent.run("please reauth my calendar")
    assert info.value.event.type == ET.REAUTH_REQUEST
    async with await agent.resume_session(info.value.session_id) as session:
        assert session.is_connected


async def test_engine_run_reports_a_failed_turn(engine: LocalEngine) -> None:
    agent = AsyncAgent("agent-demo", client=engine_client(engine))
    result = await agent.run("this will fail")
    assert result.status == TurnStatus.ERROR
    assert result.error is not None and "fail" in result.error


async def test_engine_run_timeout() -> None:
    # This engine pauses a second before every event, so no turn can end within 0.05 s.
    with LocalEngine(db=":memory:", turn_delay=1.0) as slow:
        agent = AsyncAgent("agent-echo", client=engine_client(slow))
        with pytest.raises(SessionTimeoutError, match=r"did not end within 0\.05 s"):
            await agent.run("hello", timeout=0.05)


async def test_engine_functional_agent_is_refused(engine: LocalEngine) -> None:
    async with engine_client(engine) as client:
        functional = [a for a in await client.agents.list() if a.agent_type == "functional"]
    assert functional
    with pytest.raises(ValueError, match="functional agent"):
        await functional[0].create_session()
    with pytest.raises(ValueError, match="functional agent"):
        await functional[0].run("hello")


async def test_engine_wrong_key_is_an_authentication_error() -> None:
    with LocalEngine(db=":memory:", api_keys=["right-key"]) as guarded:
        async with AsyncClient(KEY, base_url=guarded.base_url) as client:
            with pytest.raises(AuthenticationError) as info:
                await client.agents.fetch(name="echo")
        async with AsyncClient("right-key", base_url=guarded.base_url) as client:
            agent = await client.agents.fetch(name="echo")
        result = await agent.run("with the right key")
        # Sessions carry the client's key: without one, the WebSocket handshake is refused.
        keyless = AsyncAgent("agent-echo", client=AsyncClient(base_url=guarded.base_url))
        with pytest.raises(SessionAuthenticationError):
            await keyless.run("no key")
    assert "check the API key" in str(info.value)
    assert KEY not in shown(info.value)
    assert result.text is not None and "with the right key" in result.text
