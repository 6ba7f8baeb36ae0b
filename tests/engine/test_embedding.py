"""Embedding the engine: both forms, clean start and stop, restarts, configuration, plug-ins."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as sync_connect

import vectorshift_sessions
from tests.engine._helpers import TIMEOUT, raw_client, text_of
from vectorshift_sessions import engine as engine_package
from vectorshift_sessions._content import encode_content
from vectorshift_sessions.engine import (
    AgentFunction,
    AgentSpec,
    ChatbotSpec,
    LocalEngine,
    ReceivedFile,
    Turn,
    default_db_path,
    load_config,
)


def engine_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "vectorshift-sessions-engine"]


def sync_turn(url: str, object_id: str, text: str) -> tuple[str, str]:
    """One echo turn with the blocking ``websockets`` client; returns (session id, answer)."""
    with sync_connect(url, open_timeout=TIMEOUT) as ws:
        ws.send(
            json.dumps({"type": "create_session", "object_type": "agent", "object_id": object_id})
        )
        sid = json.loads(ws.recv(TIMEOUT))["session_id"]
        ws.send(json.dumps({"type": "connect_session", "session_id": sid}))
        ws.send(json.dumps({"type": "post_message", "session_id": sid, "content": text}))
        while True:
            frame = json.loads(ws.recv(TIMEOUT))
            if frame["type"] == "message_notification":
                return sid, frame["message"]["content"]["value"]


def test_blocking_form_runs_in_its_own_thread_and_stops_clean() -> None:
    before = len(engine_threads())
    with LocalEngine(db=":memory:") as engine:
        assert len(engine_threads()) == before + 1
        assert engine.base_url == f"http://127.0.0.1:{engine.port}/v1"
        assert engine.ws_url == f"ws://127.0.0.1:{engine.port}/v1"
        assert engine.session_url == f"ws://127.0.0.1:{engine.port}/v1/ws/session"
        assert engine.env() == {
            "VECTORSHIFT_BASE_URL": engine.base_url,
            "VECTORSHIFT_WS_URL": engine.ws_url,
        }
        assert httpx.get(engine.base_url + "/health").json()["status"] == "ok"
        assert sync_turn(engine.session_url, "agent-echo", "from blocking code")[1] == (
            "from blocking code"
        )
        port = engine.port
    assert len(engine_threads()) == before
    assert not engine.is_running
    process = psutil.Process()
    sockets = getattr(process, "net_connections", process.connections)("tcp")  # psutil < 6
    ours = [c for c in sockets if c.laddr and c.laddr.port == port]
    assert ours == []  # no listening or connected socket left behind
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health")


async def test_blocking_form_works_inside_a_running_loop() -> None:
    # E.g. a notebook cell: the calling thread's loop is running; the engine brings its own.
    with LocalEngine(db=":memory:") as engine:
        async with raw_client(engine) as client:
            sid = await client.new_session()
            await client.send(type="post_message", session_id=sid, content="nested loops")
            await client.recv()
            assert text_of(await client.until_idle()) == "nested loops"


def test_blocking_form_reports_start_errors() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        before = len(engine_threads())
        with pytest.raises(OSError), LocalEngine(port=port, db=":memory:"):
            pass
        assert len(engine_threads()) == before


async def test_stop_closes_client_connections_and_leaves_no_task() -> None:
    tasks_before = asyncio.all_tasks()
    engine = await LocalEngine(db=":memory:").start()
    async with raw_client(engine) as client:
        sid = await client.new_session("agent-demo")
        await client.send(type="post_message", session_id=sid, content="hello")
        await client.recv()
        await client.until("message_notification", "tool_call_approval")  # a turn is waiting
        await engine.stop()
        with pytest.raises(ConnectionClosed) as closed:
            await client.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert asyncio.all_tasks() == tasks_before
    await engine.stop()  # idempotent


async def test_restart_on_the_same_port_and_file(tmp_path: Path) -> None:
    db = tmp_path / "state" / "engine.sqlite3"
    with LocalEngine(db=db) as first:
        port = first.port
        sid, _ = sync_turn(first.session_url, "agent-echo", "kept")
    assert db.exists()
    async with LocalEngine(port=port, db=db) as second, raw_client(second) as client:
        assert (await client.connect(sid))["success"] is True
        assert [m["content"]["value"] for m in await client.history(sid)] == ["kept", "kept"]


def test_default_db_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VECTORSHIFT_SESSIONS_HOME", str(tmp_path / "home"))
    assert default_db_path() == tmp_path / "home" / "engine.sqlite3"
    with LocalEngine() as engine:
        assert engine.db_path == tmp_path / "home" / "engine.sqlite3"
        sync_turn(engine.session_url, "agent-echo", "stored in the default place")
    assert (tmp_path / "home" / "engine.sqlite3").exists()
    monkeypatch.delenv("VECTORSHIFT_SESSIONS_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_db_path() == tmp_path / "xdg" / "vectorshift-sessions" / "engine.sqlite3"


async def test_plugged_in_agents_callable_class_and_spec() -> None:
    class Shouter:
        def __init__(self) -> None:
            self.seen: list[str] = []

        async def __call__(self, turn: Turn) -> None:
            self.seen.append(turn.text)
            await turn.thinking("loud", summary="shouting")
            await turn.say_stream(word.upper() + " " for word in turn.text.split())

    async def counter(turn: Turn) -> None:
        await turn.say(f"{len(turn.history)} earlier messages")

    shouter = Shouter()
    agents = [
        AgentSpec("shout", shouter, id="agent-loud", description="Shouts."),
        AgentSpec("count", counter),
    ]
    async with LocalEngine(
        db=":memory:", agents=agents, chatbots=[ChatbotSpec("loudbot", "shout")]
    ) as engine:
        async with httpx.AsyncClient(base_url=engine.base_url) as http:
            agent = (await http.get("/agent", params={"name": "shout"})).json()["object"]
            bot = (await http.get("/chatbot", params={"name": "loudbot"})).json()["object"]
        assert (agent["_id"], agent["instructions"]) == ("agent-loud", "Shouts.")
        assert bot["agent_id"] == "agent-loud"
        async with raw_client(engine) as client:
            sid = await client.new_session("chatbot-loudbot", "chatbot")
            await client.send(type="post_message", session_id=sid, content="be loud")
            await client.recv()
            frames = await client.until_idle()
            assert text_of(frames) == "BE LOUD "
            assert frames[1]["message"]["content"]["summary"] == "shouting"

            sid = await client.new_session("agent-count")
            for expected in ("0 earlier messages", "2 earlier messages"):
                await client.send(type="post_message", session_id=sid, content="?")
                await client.recv()
                assert text_of(await client.until_idle()) == expected
    assert shouter.seen == ["be loud"]


CONFIG = {
    "agents": {
        "support": {"kind": "demo", "description": "Support desk"},
        "parrot": {"kind": "echo", "id": "agent-polly"},
    },
    "chatbots": {"helpdesk": {"agent": "support"}},
}


@pytest.mark.parametrize("suffix", [".json", ".toml"])
async def test_config_file(tmp_path: Path, suffix: str) -> None:
    if suffix == ".toml":
        if sys.version_info < (3, 11):
            pytest.skip("TOML needs tomllib (3.11+)")
        text = """
[agents.support]
kind = "demo"
description = "Support desk"

[agents.parrot]
kind = "echo"
id = "agent-polly"

[chatbots.helpdesk]
agent = "support"
"""
    else:
        text = json.dumps(CONFIG)
    path = tmp_path / f"engine{suffix}"
    path.write_text(text)
    async with LocalEngine(db=":memory:", config=path) as engine:
        async with httpx.AsyncClient(base_url=engine.base_url) as http:
            agents = (await http.get("/agents")).json()["objects"]
            bots = (await http.get("/chatbots")).json()["objects"]
        assert {"agent-support", "agent-polly", "agent-echo", "agent-demo"} <= {
            a["_id"] for a in agents
        }
        assert ("chatbot-helpdesk", "agent-support") in {(b["_id"], b["agent_id"]) for b in bots}
        async with raw_client(engine) as client:
            sid = await client.new_session("agent-polly")
            await client.send(type="post_message", session_id=sid, content="pretty bird")
            await client.recv()
            assert text_of(await client.until_idle()) == "pretty bird"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"agents": {"x": {"kind": "magic"}}}, "'kind' must be one of"),
        ({"agents": {"x": {"kind": "openai"}}}, "needs an 'openai' table"),
        ({"agents": []}, "'agents' must be an object"),
        ({"chatbots": {"c": {"agent": "nobody"}}}, "no agent named or with id 'nobody'"),
        ({"chatbots": {"c": {"agent": "summarize"}}}, "is functional"),
        ({"openai": {"model": "m"}}, "'base_url' must be a non-empty string"),
        ({"plugins": {}}, "unknown keys ['plugins']"),
    ],
)
def test_bad_config_is_reported(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as error:
        LocalEngine(db=":memory:", config=config)
    assert message in str(error.value)


def test_unreadable_config_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read engine config"):
        load_config(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_config(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(ValueError, match="top level must be an object"):
        load_config(tmp_path / "list.json")


@pytest.mark.parametrize(
    "kwargs",
    [{"max_frame_bytes": 0}, {"max_sessions": 0}, {"max_history": 0}, {"turn_delay": -1}],
)
def test_bad_limits_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        LocalEngine(db=":memory:", **kwargs)


def test_port_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        _ = LocalEngine(db=":memory:").port


def test_engine_names_never_mean_what_a_client_name_means() -> None:
    assert {"AgentFunction", "ReceivedFile"} <= set(engine_package.__all__)
    assert not {"Agent", "Attachment"} & set(engine_package.__all__)
    assert not set(engine_package.__all__) & set(vectorshift_sessions.__all__)


async def test_an_agent_function_receives_files_and_typed_text() -> None:
    seen: list[tuple[str, list[ReceivedFile]]] = []

    async def reader(turn: Turn) -> None:
        seen.append((turn.text, list(turn.files)))
        await turn.say("read")

    agent: AgentFunction = reader
    posted = [
        encode_content("# notes", mime_type="text/markdown"),
        encode_content(b"\x00\x01data", filename="blob.bin"),
        encode_content("plain"),
    ]
    async with (
        LocalEngine(db=":memory:", agents={"reader": agent}) as engine,
        raw_client(engine) as client,
    ):
        sid = await client.new_session("agent-reader")
        await client.send(type="post_messages", session_id=sid, messages=posted)
        assert (await client.recv())["success"] is True
        assert text_of(await client.until_idle()) == "read"
        history = await client.history(sid)
    ((text, files),) = seen
    assert text == "# notes\nplain"
    assert files == [ReceivedFile("blob.bin", "application/octet-stream", b"\x00\x01data")]
    assert files[0].size == 6
    assert [m["content"] for m in history[:3]] == [
        {"type": "data_type_message", "value": "# notes", "status": "Complete"},
        {"type": "file", "name": "blob.bin", "mime_type": "application/octet-stream", "size": 6},
        {"type": "data_type_message", "value": "plain", "status": "Complete"},
    ]
