"""The session protocol over real sockets, with a plain ``websockets`` client."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from typing import Any

import pytest
from websockets.client import ClientProtocol
from websockets.uri import parse_uri

from tests.engine._helpers import Raw, kinds, raw_client, text_of
from vectorshift_sessions.engine import LocalEngine, Turn


def approval_answer(session_id: str, request_id: str, confirm: Any = None, deny: Any = None) -> Any:
    answer = {"deny": deny} if deny is not None else {"confirm": confirm or {}}
    return {
        "type": "post_message",
        "session_id": session_id,
        "parent_message_id": request_id,
        "content": {"type_string": "response_message", "value": {"tool_call_approval": answer}},
    }


async def test_echo_turn_is_exactly_the_protocol(engine: LocalEngine) -> None:
    async with raw_client(engine) as client:
        sid = await client.new_session("agent-echo")
        await client.send(type="post_message", session_id=sid, content="hello local engine")
        ack = await client.recv()
        assert ack == {"type": "post_message", "session_id": sid, "success": True, "error": None}
        frames = await client.until_idle()

    assert frames[0] == {
        "type": "participant_status",
        "session_id": sid,
        "message": {"status": "Processing"},
    }
    deltas = [f for f in frames if f["type"] == "message_delta"]
    assert len(deltas) == 3  # several deltas, one per word
    assert [d["index"] for d in deltas] == [0, 1, 2]
    (message_id,) = {d["message_id"] for d in deltas}
    complete = frames[-2]
    assert complete["type"] == "message_notification"
    assert complete["message"]["id"] == message_id
    assert complete["message"]["sender"] == {"object_id": "agent-echo", "object_type": "agent"}
    assert complete["message"]["content"] == {
        "type": "data_type_message",
        "value": "hello local engine",
        "status": "Complete",
    }
    assert text_of(frames) == "hello local engine"
    # No notification for the user's own message: only the agent's answer is notified.
    assert kinds(frames) == ["status:Processing"] + ["message_delta"] * 3 + [
        "notification:data_type_message",
        "status:Idle",
    ]


async def test_history_holds_user_and_agent_messages(engine: LocalEngine) -> None:
    async with raw_client(engine) as client:
        sid = await client.new_session()
        for text in ("one", "two words"):
            await client.send(type="post_message", session_id=sid, content=text)
            assert (await client.recv())["success"] is True
            await client.until_idle()
        history = await client.history(sid)

    assert [(m["sender"], m["content"]["value"]) for m in history] == [
        ({"user_id": "local-user"}, "one"),
        ({"object_id": "agent-echo", "object_type": "agent"}, "one"),
        ({"user_id": "local-user"}, "two words"),
        ({"object_id": "agent-echo", "object_type": "agent"}, "two words"),
    ]
    assert all(m["session_id"] == sid for m in history)
    assert len({m["id"] for m in history}) == 4


async def test_history_after_a_message_holds_only_what_was_stored_after_it(
    engine: LocalEngine,
) -> None:
    """The extension: ``get_messages`` with ``after`` answers the rest of the history, and
    says ``after`` in the answer; an id not in the session's history is refused by name."""
    async with raw_client(engine) as client:
        sid = await client.new_session()
        for text in ("one", "two", "three"):
            await client.send(type="post_message", session_id=sid, content=text)
            assert (await client.recv())["success"] is True
            await client.until_idle()
        history = await client.history(sid)
        second_answer = history[3]["id"]
        await client.send(type="get_messages", session_id=sid, after=second_answer)
        rest = await client.recv()
        await client.send(type="get_messages", session_id=sid, after=history[-1]["id"])
        nothing = await client.recv()
        await client.send(type="get_messages", session_id=sid, after="no-such-message")
        refused = await client.recv()
    assert rest == {
        "type": "get_messages",
        "session_id": sid,
        "messages": history[4:],
        "after": second_answer,
    }
    assert [m["content"]["value"] for m in rest["messages"]] == ["three", "three"]
    assert nothing["messages"] == []
    assert refused["type"] == "error" and refused["request_type"] == "get_messages"
    assert "'no-such-message'" in refused["error"] and "without 'after'" in refused["error"]


async def test_an_engine_without_extensions_says_nothing_of_them_and_refuses_after() -> None:
    """``extensions=False`` behaves as an engine without them: the connect ack is the
    official one, and ``after`` is refused (as an engine that does not know it may)."""
    async with LocalEngine(db=":memory:", extensions=False) as engine, raw_client(engine) as client:
        sid = await client.create()
        ack = await client.connect(sid)
        await client.send(type="get_messages", session_id=sid, after="m1")
        refused = await client.recv()
        everything = await client.history(sid)
    assert ack == {"type": "connect_session", "session_id": sid, "success": True, "error": None}
    assert refused["type"] == "error" and "does not page" in refused["error"]
    assert everything == []


async def test_ping_answers_pong(engine: LocalEngine) -> None:
    async with raw_client(engine) as client:
        sid = await client.new_session()
        await client.send(type="ping_session", session_id=sid)
        assert await client.recv() == {"type": "pong", "session_id": sid}


async def test_disconnect_keeps_the_session_and_resume_sees_history(engine: LocalEngine) -> None:
    async with raw_client(engine) as client:
        sid = await client.new_session()
        await client.send(type="post_message", session_id=sid, content="remember me")
        await client.recv()
        await client.until_idle()
        await client.send(type="disconnect_session", session_id=sid)
        assert await client.recv() == {"type": "disconnect_session", "session_id": sid}
        # Detached: this connection may no longer use it...
        await client.send(type="get_messages", session_id=sid)
        refused = await client.recv()
        assert refused["type"] == "error" and refused["request_type"] == "get_messages"

    async with raw_client(engine) as client:  # ...but it lives on, and resumes by id
        assert (await client.connect(sid))["success"] is True
        history = await client.history(sid)
    assert [m["content"]["value"] for m in history] == ["remember me", "remember me"]


async def test_terminate_deletes_and_refuses_resume(engine: LocalEngine) -> None:
    async with raw_client(engine) as client:
        sid = await client.new_session()
        await client.send(type="terminate_session", session_id=sid)
        assert await client.recv() == {"type": "terminate_session", "session_id": sid}
        ack = await client.connect(sid)
    assert ack["type"] == "connect_session"
    assert ack["success"] is False
    assert ack["error"] == f"session {sid!r} not found (unknown, terminated, or not yours)"


async def test_connect_to_unknown_session_is_refused(engine: LocalEngine) -> None:
    async with raw_client(engine) as client:
        ack = await client.connect("no-such-session")
    assert ack["success"] is False and "'no-such-session'" in ack["error"]


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "post_message", "content": "hi"},
        {"type": "post_messages", "messages": ["hi"]},
        {"type": "get_messages"},
        {"type": "ping_session"},
        {"type": "disconnect_session"},
        {"type": "terminate_session"},
    ],
)
async def test_frames_for_a_session_not_connected_here_get_an_error(
    engine: LocalEngine, frame: dict[str, Any]
) -> None:
    async with raw_client(engine) as owner, raw_client(engine) as other:
        sid = await owner.create()  # exists, but `other` never connected it
        await other.send(**frame, session_id=sid)
        error = await other.recv()
        assert error["type"] == "error"
        assert error["request_type"] == frame["type"]
        assert error["session_id"] == sid
        assert "not connected" in error["error"] and sid in error["error"]
        # Nothing happened to the session: its owner can still use it.
        assert (await owner.connect(sid))["success"] is True
        assert await owner.history(sid) == []


@pytest.mark.parametrize(
    ("object_type", "object_id", "expected"),
    [
        ("agent", "agent-nope", "agent 'agent-nope' not found"),
        ("chatbot", "chatbot-nope", "chatbot 'chatbot-nope' not found"),
        ("pipeline", "agent-echo", "object_type must be 'agent' or 'chatbot'"),
        ("agent", "agent-summarize", "functional agent"),
    ],
)
async def test_create_session_refusals(
    engine: LocalEngine, object_type: str, object_id: str, expected: str
) -> None:
    async with raw_client(engine) as client:
        await client.send(type="create_session", object_type=object_type, object_id=object_id)
        error = await client.recv()
    assert error["type"] == "error"
    assert error["request_type"] == "create_session"
    assert expected in error["error"]


async def test_chatbot_session_speaks_as_the_chatbot(engine: LocalEngine) -> None:
    async with raw_client(engine) as client:
        sid = await client.new_session("chatbot-echo", "chatbot")
        await client.send(type="post_message", session_id=sid, content="hi bot")
        await client.recv()
        frames = await client.until_idle()
    assert frames[-2]["message"]["sender"] == {
        "object_id": "chatbot-echo",
        "object_type": "chatbot",
    }
    assert frames[-2]["message"]["content"]["value"] == "hi bot"


async def test_agents_can_be_named_by_name(engine: LocalEngine) -> None:
    async with raw_client(engine) as client:
        sid = await client.new_session("echo")
        await client.send(type="post_message", session_id=sid, content="by name")
        await client.recv()
        frames = await client.until_idle()
    assert frames[-2]["message"]["sender"]["object_id"] == "agent-echo"


def file_content(name: str, mime: str, data: bytes) -> dict[str, Any]:
    return {
        "type_string": "file",
        "value": {
            "raw_bytes": base64.b64encode(data).decode(),
            "metadata": {"name": name, "mime_type": mime},
        },
    }


async def test_post_messages_batch_with_files_is_one_turn_and_described(
    engine: LocalEngine,
) -> None:
    async with raw_client(engine) as client:
        sid = await client.new_session("agent-demo")
        await client.send(
            type="post_messages",
            session_id=sid,
            messages=[
                "please read these",
                file_content("notes.txt", "text/plain", b"hello"),
                file_content("chart.png", "image/png", b"\x89PNG" + bytes(996)),
            ],
        )
        ack = await client.recv()
        assert ack == {"type": "post_messages", "session_id": sid, "success": True, "error": None}
        frames = await client.until_idle()
        history = await client.history(sid)

    answer = frames[-2]["message"]["content"]["value"]
    assert answer == text_of(frames)
    assert "3 items" in answer
    assert "notes.txt (text/plain, 5 bytes)" in answer
    assert "chart.png (image/png, 1,000 bytes)" in answer
    # Each posted item is stored (files as metadata), then the agent's messages.
    assert [m["content"] for m in history[:3]] == [
        {"type": "data_type_message", "value": "please read these", "status": "Complete"},
        {"type": "file", "name": "notes.txt", "mime_type": "text/plain", "size": 5},
        {"type": "file", "name": "chart.png", "mime_type": "image/png", "size": 1000},
    ]
    assert kinds(frames).count("status:Processing") == 1  # one turn


async def test_bad_content_is_refused_in_the_ack(engine: LocalEngine) -> None:
    async with raw_client(engine) as client:
        sid = await client.new_session()
        bad_file = {"type_string": "file", "value": {"raw_bytes": "%%%", "metadata": {}}}
        await client.send(type="post_messages", session_id=sid, messages=["ok", bad_file])
        ack = await client.recv()
        assert ack["type"] == "post_messages" and ack["success"] is False
        assert "base64" in ack["error"]
        assert "'messages[].value.raw_bytes'" in ack["error"]  # the field, as the codec names it
        await client.send(type="post_messages", session_id=sid, messages=[])
        ack = await client.recv()
        assert ack["success"] is False and "at least one" in ack["error"]
        assert await client.history(sid) == []  # nothing of a refused post is stored


async def run_demo_until_approval(client: Raw, sid: str, text: str) -> list[dict[str, Any]]:
    await client.send(type="post_message", session_id=sid, content=text)
    assert (await client.recv())["success"] is True
    return await client.until("message_notification", "tool_call_approval")


async def test_demo_turn_with_approval_confirmed(engine: LocalEngine) -> None:
    async with raw_client(engine) as client:
        sid = await client.new_session("agent-demo")
        before = await run_demo_until_approval(client, sid, "reset my password")
        request = before[-1]["message"]
        await client.send(**approval_answer(sid, request["id"], confirm={"priority": "high"}))
        assert await client.recv() == {
            "type": "post_message",
            "session_id": sid,
            "success": True,
            "error": None,
        }
        after = await client.until_idle()
        history = await client.history(sid)

    assert kinds(before) == [
        "status:Processing",
        "notification:thinking",
        "notification:agent_task",
        "notification:tool_call",
        "notification:tool_result",
        "notification:search_message",
        "notification:tool_call",
        "status:AwaitingApproval",
        "notification:tool_call_approval",
    ]
    search_result = before[4]["message"]["content"]
    assert set(search_result) == {"type", "tool_name", "tool_id", "status", "output"}
    assert search_result["tool_id"] == before[3]["message"]["content"]["tool_id"]
    assert request["content"]["tool_name"] == "create_ticket"
    assert kinds(after)[:2] == ["status:Processing", "notification:tool_result"]
    assert after[1]["message"]["content"]["output"]["priority"] == "high"
    assert kinds(after)[-2:] == ["notification:data_type_message", "status:Idle"]
    answer = after[-2]["message"]["content"]["value"]
    assert answer == text_of(after) and "DEMO-1042 (priority high)" in answer
    # The approval answer is stored as the user's message.
    answers = [m for m in history if m["content"]["type"] == "response_message"]
    assert answers == [
        {
            "id": answers[0]["id"],
            "session_id": sid,
            "sender": {"user_id": "local-user"},
            "content": {
                "type": "response_message",
                "tool_call_approval": {"confirm": {"priority": "high"}},
            },
        }
    ]


async def test_demo_turn_with_approval_denied(engine: LocalEngine) -> None:
    async with raw_client(engine) as client:
        sid = await client.new_session("agent-demo")
        before = await run_demo_until_approval(client, sid, "reset my password")
        await client.send(**approval_answer(sid, before[-1]["message"]["id"], deny="not now"))
        assert (await client.recv())["success"] is True
        after = await client.until_idle()
    assert "notification:tool_result" not in kinds(after)
    answer = after[-2]["message"]["content"]["value"]
    assert "declined the ticket (not now)" in answer and answer == text_of(after)


async def test_approval_can_come_from_another_connection(engine: LocalEngine) -> None:
    async with raw_client(engine) as first:
        sid = await first.new_session("agent-demo")
        before = await run_demo_until_approval(first, sid, "hello")
    # The turn waits for its session, not for the connection that started it.
    async with raw_client(engine) as second:
        ack = await second.connect(sid)
        # Extension: the ack tells a returning client the session is mid-turn.
        assert ack["success"] is True and ack["participant_status"] == "AwaitingApproval"
        await second.send(**approval_answer(sid, before[-1]["message"]["id"]))
        assert (await second.recv())["success"] is True
        after = await second.until_idle()
    assert "DEMO-1042" in after[-2]["message"]["content"]["value"]


async def test_approval_answer_without_a_waiting_turn_is_refused(engine: LocalEngine) -> None:
    async with raw_client(engine) as client:
        sid = await client.new_session("agent-demo")
        await client.send(**approval_answer(sid, "not-a-request"))
        ack = await client.recv()
        assert ack["type"] == "post_message" and ack["success"] is False
        assert "'not-a-request'" in ack["error"]
        # An approval answer with no parent_message_id cannot resume anything either.
        frame = approval_answer(sid, "x")
        del frame["parent_message_id"]
        await client.send(**frame)
        ack = await client.recv()
        assert ack["success"] is False and "parent_message_id" in ack["error"]


async def test_demo_reauth(engine: LocalEngine) -> None:
    async with raw_client(engine) as client:
        sid = await client.new_session("agent-demo")
        await client.send(type="post_message", session_id=sid, content="please reauth me")
        await client.recv()
        frames = await client.until_idle()
    assert kinds(frames)[:2] == ["status:Processing", "notification:reauthorization_request"]
    assert frames[1]["message"]["content"]["provider"] == "google_drive"
    assert kinds(frames)[-1] == "status:Idle"


async def test_demo_fail(engine: LocalEngine) -> None:
    async with raw_client(engine) as client:
        sid = await client.new_session("agent-demo")
        await client.send(type="post_message", session_id=sid, content="now fail please")
        await client.recv()
        frames = await client.until_idle()
    assert kinds(frames) == [
        "status:Processing",
        "notification:thinking",
        "notification:error_message",
        "status:Idle",
    ]
    assert "failed on purpose" in frames[2]["message"]["content"]["error"]


async def test_every_attached_connection_receives_the_stream(engine: LocalEngine) -> None:
    async with raw_client(engine) as a, raw_client(engine) as b, raw_client(engine) as c:
        sid = await a.new_session()
        assert (await b.connect(sid))["success"] is True
        assert (await c.connect(sid))["success"] is True
        await c.send(type="disconnect_session", session_id=sid)
        await c.recv()
        await a.send(type="post_message", session_id=sid, content="to everyone here")
        assert (await a.recv())["type"] == "post_message"  # the ack goes to the poster only
        seen_by_a = await a.until_idle()
        seen_by_b = await b.until_idle()
        await c.send(type="ping_session", session_id=sid)  # c detached: it got nothing
        assert (await c.recv())["type"] == "error"
    assert seen_by_a == seen_by_b
    assert text_of(seen_by_b) == "to everyone here"


async def test_turn_finishes_and_is_stored_when_its_connection_drops() -> None:
    gate = asyncio.Event()

    async def slow(turn: Turn) -> None:
        await turn.say_stream(["first "])
        await gate.wait()  # the test lets it go on once the poster is gone
        await turn.say_stream(["after ", "the drop"])

    async with (
        LocalEngine(db=":memory:", agents={"slow": slow}) as engine,
        raw_client(engine) as poster,
    ):
        sid = await poster.new_session("agent-slow")
        await poster.send(type="post_message", session_id=sid, content="go")
        await poster.recv()
        await poster.until("message_notification", "data_type_message")
        # The poster's connection is closed, the turn is still running.
        async with raw_client(engine) as watcher:
            assert (await watcher.connect(sid))["success"] is True
            gate.set()
            rest = await watcher.until_idle()
            history = await watcher.history(sid)
    assert text_of(rest) == "after the drop"
    assert [m["content"].get("value") for m in history] == ["go", "first ", "after the drop"]


async def test_turns_of_one_session_run_one_after_another(engine: LocalEngine) -> None:
    async with raw_client(engine) as client:
        sid = await client.new_session()
        await client.send(type="post_message", session_id=sid, content="first")
        await client.send(type="post_message", session_id=sid, content="second")
        frames = await client.until_idle()
        frames += await client.until_idle()
    acks = [f for f in frames if f["type"] == "post_message"]
    assert len(acks) == 2
    answers = [
        f["message"]["content"]["value"] for f in frames if f["type"] == "message_notification"
    ]
    assert answers == ["first", "second"]
    statuses = [k for k in kinds(frames) if k.startswith("status:")]
    assert statuses == ["status:Processing", "status:Idle"] * 2


async def test_agent_exception_becomes_an_error_message() -> None:
    async def broken(turn: Turn) -> None:
        raise RuntimeError("boom")

    async with (
        LocalEngine(db=":memory:", agents={"broken": broken}) as engine,
        raw_client(engine) as client,
    ):
        sid = await client.new_session("agent-broken")
        await client.send(type="post_message", session_id=sid, content="x")
        await client.recv()
        frames = await client.until_idle()
        # The engine keeps serving.
        await client.send(type="ping_session", session_id=sid)
        assert (await client.recv())["type"] == "pong"
    assert kinds(frames) == ["status:Processing", "notification:error_message", "status:Idle"]
    assert frames[1]["message"]["content"]["error"] == "agent 'broken' failed: RuntimeError: boom"


async def test_bench_streams_n_deltas(engine: LocalEngine) -> None:
    async with raw_client(engine) as client:
        sid = await client.new_session("agent-bench")
        await client.send(type="post_message", session_id=sid, content="10000 3")
        await client.recv()
        frames = await client.until_idle()
    deltas = frames[1:-2]
    assert len(deltas) == 10_000
    assert [d["index"] for d in deltas] == list(range(10_000))
    assert all(d["value"] == "xxx" and d["type"] == "message_delta" for d in deltas)
    assert frames[-2]["message"]["content"]["value"] == "xxx" * 10_000
    assert frames[-2]["message"]["id"] == deltas[0]["message_id"]


async def test_bench_rejects_bad_input(engine: LocalEngine) -> None:
    async with raw_client(engine) as client:
        sid = await client.new_session("agent-bench")
        await client.send(type="post_message", session_id=sid, content="lots")
        await client.recv()
        frames = await client.until_idle()
    assert kinds(frames)[1] == "notification:error_message"


def _post_then_close_in_one_write(engine: LocalEngine, session_id: str, text: str) -> None:
    """Connect to the session, then send a post and a close frame in one write: the engine reads
    both before it answers, so the post's acknowledgement finds the connection closing."""
    uri = parse_uri(engine.session_url)
    protocol = ClientProtocol(uri)
    protocol.send_request(protocol.connect())
    with socket.create_connection((uri.host, uri.port), timeout=10) as sock:

        def exchange(*frames: dict[str, Any]) -> None:
            for frame in frames:
                protocol.send_text(json.dumps(frame).encode())
            sock.sendall(b"".join(protocol.data_to_send()))

        def answer() -> None:  # the handshake's response, or the next frame
            while not protocol.events_received():
                protocol.receive_data(sock.recv(65536))

        sock.sendall(b"".join(protocol.data_to_send()))
        answer()
        exchange({"type": "connect_session", "session_id": session_id})
        answer()
        content = {"type_string": "string", "value": text}
        protocol.send_text(
            json.dumps(
                {"type": "post_message", "session_id": session_id, "content": content}
            ).encode()
        )
        protocol.send_close()
        sock.sendall(b"".join(protocol.data_to_send()))
        while sock.recv(65536):  # until the engine closes
            pass


async def test_a_post_whose_ack_cannot_be_sent_still_gets_its_turn(engine: LocalEngine) -> None:
    """Stored is posted: a post the engine stored gets its turn even when the connection went
    away before the acknowledgement (its sender finds it in the history and does not send it
    again)."""
    async with raw_client(engine) as first:
        sid = await first.new_session()
    await asyncio.to_thread(_post_then_close_in_one_write, engine, sid, "stored, then cut")
    async with raw_client(engine) as later:
        await later.connect(sid)
        history = await later.history(sid)
        if len(history) < 2:  # the turn still runs: it ends live
            await later.until_idle()
            history = await later.history(sid)
    assert [m["content"]["value"] for m in history] == ["stored, then cut"] * 2
