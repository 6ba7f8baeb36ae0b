"""Malformed frames, limits, and many connections: the engine answers and keeps serving."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.engine._helpers import TIMEOUT, raw_client, text_of
from vectorshift_sessions.engine import LocalEngine


@pytest.mark.parametrize(
    ("raw", "request_type", "expected"),
    [
        ("not json", None, "not valid JSON"),
        ("[1, 2]", None, "must be a JSON object, got an array"),
        ('{"no": "type"}', None, "missing (field 'type')"),
        ('{"type": "shout"}', "shout", "unknown client frame type"),
        ('{"type": "post_message", "content": "x"}', "post_message", "field 'session_id'"),
        (
            '{"type": "post_message", "session_id": 5, "content": "x"}',
            "post_message",
            "expected a string, got a number",
        ),
        (
            '{"type": "post_messages", "session_id": "s", "messages": "x"}',
            "post_messages",
            "field 'messages'",
        ),
        ('{"type": "create_session", "object_type": "agent"}', "create_session", "object_id"),
    ],
)
async def test_malformed_frames_get_an_error_and_the_connection_lives_on(
    engine: LocalEngine, raw: str, request_type: str | None, expected: str
) -> None:
    async with raw_client(engine) as client:
        sid = await client.new_session()
        await client.ws.send(raw)
        error = await client.recv()
        assert error["type"] == "error"
        assert error["request_type"] == request_type
        assert expected in error["error"]
        await client.send(type="post_message", session_id=sid, content="still here")
        await client.recv()
        assert text_of(await client.until_idle()) == "still here"


async def test_binary_frames_are_read_as_json_text(engine: LocalEngine) -> None:
    async with raw_client(engine) as client:
        await client.ws.send(
            b'{"type": "create_session", "object_type": "agent", "object_id": "echo"}'
        )
        assert (await client.recv())["type"] == "session_created"


async def test_oversize_frame_closes_only_that_connection_with_1009() -> None:
    async with (
        LocalEngine(db=":memory:", max_frame_bytes=1024) as engine,
        raw_client(engine) as bystander,
        raw_client(engine) as offender,
    ):
        sid = await bystander.new_session()
        await offender.send(type="create_session", object_type="agent", object_id="x" * 2000)
        with pytest.raises(ConnectionClosed) as closed:
            await offender.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        await bystander.send(type="post_message", session_id=sid, content="unaffected")
        await bystander.recv()
        assert text_of(await bystander.until_idle()) == "unaffected"


async def test_max_sessions() -> None:
    async with (
        LocalEngine(db=":memory:", max_sessions=2) as engine,
        raw_client(engine) as client,
    ):
        first = await client.create()
        await client.create()
        await client.send(type="create_session", object_type="agent", object_id="agent-echo")
        error = await client.recv()
        assert error["type"] == "error" and error["request_type"] == "create_session"
        assert "maximum of 2 sessions" in error["error"]
        # Terminating one makes room again.
        await client.connect(first)
        await client.send(type="terminate_session", session_id=first)
        await client.recv()
        await client.create()


async def test_max_history() -> None:
    async with (
        LocalEngine(db=":memory:", max_history=3) as engine,
        raw_client(engine) as client,
    ):
        sid = await client.new_session()
        await client.send(type="post_message", session_id=sid, content="one")
        await client.recv()
        await client.until_idle()  # 2 messages stored
        await client.send(type="post_messages", session_id=sid, messages=["a", "b"])
        ack = await client.recv()
        assert ack["type"] == "post_messages" and ack["success"] is False
        assert "maximum history of 3 messages" in ack["error"]
        assert len(await client.history(sid)) == 2
        await client.send(type="post_message", session_id=sid, content="fits")
        assert (await client.recv())["success"] is True


async def test_unknown_websocket_path_is_404(engine: LocalEngine) -> None:
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as refused:
        async with raw_client(f"ws://127.0.0.1:{engine.port}/ws/other"):
            pass
    assert refused.value.response.status_code == 404


@pytest.mark.parametrize("prefix", ["", "/v1"])
async def test_session_endpoint_with_and_without_v1(engine: LocalEngine, prefix: str) -> None:
    url = f"ws://127.0.0.1:{engine.port}{prefix}/ws/session"
    async with raw_client(url) as client:
        await client.new_session()


async def test_200_concurrent_connections(engine: LocalEngine) -> None:
    async def one(n: int) -> tuple[str, list[dict[str, Any]]]:
        async with raw_client(engine) as client:
            sid = await client.new_session()
            await client.send(type="post_message", session_id=sid, content=f"client {n} says hi")
            assert (await client.recv())["success"] is True
            return sid, await client.until_idle()

    results = await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(200))), 4 * TIMEOUT)
    assert len({sid for sid, _ in results}) == 200
    for n, (sid, frames) in enumerate(results):
        assert text_of(frames) == f"client {n} says hi"
        assert all(f["session_id"] == sid for f in frames)  # nothing from other sessions
