"""The REST side over real HTTP (httpx), under ``/`` and ``/v1``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets

from vectorshift_sessions.engine import LocalEngine


@pytest.fixture(params=["", "/v1"], ids=["root", "v1"])
async def http(
    engine: LocalEngine, request: pytest.FixtureRequest
) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{engine.port}{request.param}"
    async with httpx.AsyncClient(base_url=base) as client:
        yield client


async def test_health(http: httpx.AsyncClient) -> None:
    answer = await http.get("/health")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["status"] == "ok"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            {"id": "agent-echo"},
            {"_id": "agent-echo", "name": "echo", "agent_type": "conversational"},
        ),
        ({"name": "demo"}, {"_id": "agent-demo", "name": "demo", "agent_type": "conversational"}),
        ({"name": "summarize"}, {"_id": "agent-summarize", "agent_type": "functional"}),
        ({"id": "agent-bench"}, {"name": "bench"}),
    ],
)
async def test_get_agent(
    http: httpx.AsyncClient, query: dict[str, str], expected: dict[str, str]
) -> None:
    answer = await http.get("/agent", params=query)
    assert answer.status_code == 200
    obj = answer.json()["object"]
    assert obj.items() >= expected.items()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"id": "chatbot-echo"}, {"_id": "chatbot-echo", "name": "echo", "agent_id": "agent-echo"}),
        ({"name": "demo"}, {"_id": "chatbot-demo", "agent_id": "agent-demo", "agent_name": "demo"}),
    ],
)
async def test_get_chatbot(
    http: httpx.AsyncClient, query: dict[str, str], expected: dict[str, str]
) -> None:
    answer = await http.get("/chatbot", params=query)
    assert answer.status_code == 200
    assert answer.json()["object"].items() >= expected.items()


async def test_lists(http: httpx.AsyncClient) -> None:
    agents = (await http.get("/agents")).json()["objects"]
    assert {a["_id"] for a in agents} == {
        "agent-echo",
        "agent-demo",
        "agent-summarize",
        "agent-bench",
    }
    chatbots = (await http.get("/chatbots")).json()["objects"]
    assert {(c["_id"], c["agent_id"]) for c in chatbots} == {
        ("chatbot-echo", "agent-echo"),
        ("chatbot-demo", "agent-demo"),
    }


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/agent", {"id": "agent-nope"}, 404),
        ("/agent", {"name": "nope"}, 404),
        ("/chatbot", {"id": "chatbot-nope"}, 404),
        ("/agent", {}, 400),
        ("/agent", {"id": "agent-echo", "name": "echo"}, 400),
        ("/agent", {"id": ""}, 400),
        ("/chatbot", {}, 400),
        ("/pipeline", {}, 404),
        ("/", {}, 404),
    ],
)
async def test_errors(
    http: httpx.AsyncClient, path: str, params: dict[str, str], status: int
) -> None:
    answer = await http.get(path, params=params)
    assert answer.status_code == status
    assert isinstance(answer.json()["error"], str) and answer.json()["error"]


# websockets parses other methods than GET from 17.0 on (which needs Python 3.11+); before,
# its HTTP parser drops such a request before the engine sees it.
PARSES_OTHER_METHODS = int(websockets.__version__.split(".")[0]) >= 17


async def test_only_get(http: httpx.AsyncClient) -> None:
    if PARSES_OTHER_METHODS:
        answer = await http.delete("/agent", params={"id": "agent-echo"})
        assert answer.status_code == 405 and "GET" in answer.json()["error"]
    else:
        with pytest.raises(httpx.RemoteProtocolError):  # refused all the same
            await http.delete("/agent", params={"id": "agent-echo"})


async def test_session_endpoint_over_plain_http(http: httpx.AsyncClient) -> None:
    answer = await http.get("/ws/session")
    assert answer.status_code == 426 and "WebSocket" in answer.json()["error"]


async def test_official_client_fetches_agents_and_chatbots(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    vectorshift = pytest.importorskip("vectorshift")
    monkeypatch.setattr(vectorshift.request.request_client, "base_url", engine.base_url)
    monkeypatch.setattr(vectorshift, "api_key", "unused")

    # The official client uses blocking ``requests``: run it off the loop that serves it.
    agent = await asyncio.to_thread(vectorshift.Agent.fetch, id="agent-demo")
    assert (agent.id, agent.name) == ("agent-demo", "demo")
    chatbot = await asyncio.to_thread(vectorshift.Chatbot.fetch, name="echo")
    assert chatbot.id == "chatbot-echo"
