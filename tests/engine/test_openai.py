"""The ``openai`` agent against a real HTTP server (pytest-httpserver): streams, and failures."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.engine._helpers import TIMEOUT, kinds, raw_client, text_of
from vectorshift_sessions.engine import LocalEngine, OpenAIAgent

PATH = "/v1/chat/completions"


def sse(*chunks: Any, done: bool = True) -> str:
    """An OpenAI-style event stream: one ``data:`` line per chunk, then ``[DONE]``."""
    lines = [f"data: {c if isinstance(c, str) else json.dumps(c)}\n\n" for c in chunks]
    return "".join(lines) + ("data: [DONE]\n\n" if done else "")


def delta(text: str) -> dict[str, Any]:
    return {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": text}}],
    }


@pytest.fixture
def server(httpserver: HTTPServer) -> Iterator[HTTPServer]:
    yield httpserver
    httpserver.clear()


def config_for(server: HTTPServer, **extra: Any) -> dict[str, Any]:
    return {
        "openai": {
            "base_url": server.url_for("/v1"),
            "model": "tiny-model",
            "api_key": "sk-test-key",
            "system_prompt": "Be brief.",
            **extra,
        }
    }


async def run_turns(engine: LocalEngine, *texts: str) -> list[list[dict[str, Any]]]:
    turns = []
    async with raw_client(engine) as client:
        sid = await client.new_session("agent-openai")
        for text in texts:
            await client.send(type="post_message", session_id=sid, content=text)
            assert (await client.recv())["success"] is True
            turns.append(await client.until_idle())
    return turns


async def test_streams_the_answer_with_history_as_context(server: HTTPServer) -> None:
    server.expect_ordered_request(PATH, method="POST").respond_with_data(
        sse({"choices": [{"delta": {"role": "assistant"}}]}, delta("Hel"), delta("lo!")),
        content_type="text/event-stream",
    )
    server.expect_ordered_request(PATH, method="POST").respond_with_data(
        sse(delta("Again "), delta("hello."), {"choices": []}), content_type="text/event-stream"
    )
    async with LocalEngine(db=":memory:", config=config_for(server)) as engine:
        first, second = await run_turns(engine, "Say hello", "Once more")

    assert kinds(first) == [
        "status:Processing",
        "message_delta",
        "message_delta",
        "notification:data_type_message",
        "status:Idle",
    ]
    assert text_of(first) == first[-2]["message"]["content"]["value"] == "Hello!"
    assert text_of(second) == "Again hello."

    requests = [request for request, _ in server.log]
    assert all(r.headers["Authorization"] == "Bearer sk-test-key" for r in requests)
    body = requests[1].get_json()
    assert body["model"] == "tiny-model" and body["stream"] is True
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Once more"},
    ]


async def test_plugged_in_directly(server: HTTPServer) -> None:
    server.expect_request(PATH, method="POST").respond_with_data(
        sse(delta("direct")), content_type="text/event-stream"
    )
    agent = OpenAIAgent(server.url_for("/v1/"), "m")
    assert "key" not in repr(agent)
    async with LocalEngine(db=":memory:", agents={"openai": agent}) as engine:
        (turn,) = await run_turns(engine, "hi")
    assert text_of(turn) == "direct"
    (request, _) = server.log[0]
    assert "Authorization" not in request.headers


def error_of(turn: list[dict[str, Any]]) -> str:
    """The turn's error; deltas streamed before the failure may precede it, nothing else."""
    events = [f for f in turn if f["type"] != "message_delta"]
    assert kinds(events) == ["status:Processing", "notification:error_message", "status:Idle"]
    error: str = events[1]["message"]["content"]["error"]
    return error


@pytest.mark.parametrize(
    ("respond", "expected"),
    [
        (
            lambda r: r.respond_with_data("upstream exploded", status=500),
            "HTTP 500: upstream exploded",
        ),
        (lambda r: r.respond_with_data("data: {not json\n\n"), "malformed stream chunk"),
        (lambda r: r.respond_with_data("data: [1, 2]\n\n"), "malformed stream chunk"),
        (lambda r: r.respond_with_data(sse(delta("cut"), done=False)), "without [DONE]"),
        (lambda r: r.respond_with_data(sse({"error": {"message": "quota"}})), "quota"),
        (lambda r: r.respond_with_data("<html>not a stream</html>"), "without [DONE]"),
    ],
    ids=["500", "not-json", "not-object", "no-done", "error-chunk", "html"],
)
async def test_failures_become_error_messages(
    server: HTTPServer, respond: Any, expected: str
) -> None:
    respond(server.expect_request(PATH, method="POST"))
    async with LocalEngine(db=":memory:", config=config_for(server)) as engine:
        (turn,) = await run_turns(engine, "hi")
        # The engine is fine afterwards.
        async with raw_client(engine) as client:
            await client.new_session("agent-echo")
    assert expected in error_of(turn)


async def test_timeout_becomes_an_error_message(server: HTTPServer) -> None:
    release = threading.Event()

    def stall(request: Request) -> Response:
        release.wait(TIMEOUT)  # held until the engine has given up
        return Response(sse(delta("too late")), content_type="text/event-stream")

    server.expect_request(PATH, method="POST").respond_with_handler(stall)
    try:
        async with LocalEngine(db=":memory:", config=config_for(server, timeout=0.2)) as engine:
            (turn,) = await run_turns(engine, "hi")
    finally:
        release.set()
    assert "did not answer within 0.2 s" in error_of(turn)


async def test_unreachable_endpoint_becomes_an_error_message() -> None:
    import socket

    with socket.socket() as closed:  # a port with nothing listening
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    config = {"openai": {"base_url": f"http://127.0.0.1:{port}/v1", "model": "m"}}
    async with LocalEngine(db=":memory:", config=config) as engine:
        (turn,) = await run_turns(engine, "hi")
    assert "could not reach the model endpoint" in error_of(turn)


def test_api_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from vectorshift_sessions.engine import load_config

    monkeypatch.setenv("MY_MODEL_KEY", "sk-from-env")
    config = load_config(
        {"openai": {"base_url": "http://x/v1", "model": "m", "api_key_env": "MY_MODEL_KEY"}}
    )
    assert config.openai is not None and config.openai.api_key == "sk-from-env"
    assert "sk-from-env" not in repr(config)
