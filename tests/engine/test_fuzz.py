"""Whatever a client sends, the engine answers with well-formed frames and keeps serving."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from tests._frames import CLIENT_FRAME_TYPES, ENGINE_FRAME_TYPES, json_values
from tests.engine._helpers import TIMEOUT
from vectorshift_sessions.engine import LocalEngine

TYPES = CLIENT_FRAME_TYPES
ENGINE_TYPES = set(ENGINE_FRAME_TYPES)


def frames(session_id: str) -> st.SearchStrategy[Any]:
    """Frames near the protocol (right types, fields sometimes right) and plain garbage."""
    content = st.text(max_size=20) | json_values | st.just({"type_string": "file", "value": {}})
    near = st.fixed_dictionaries(
        {"type": st.sampled_from(TYPES) | st.text(max_size=6)},
        optional={
            "session_id": st.sampled_from([session_id, "unknown"]) | json_values,
            "content": content,
            "messages": st.lists(content, max_size=3) | json_values,
            "parent_message_id": st.text(max_size=6) | json_values,
            "object_type": st.sampled_from(["agent", "chatbot"]) | json_values,
            "object_id": st.sampled_from(["agent-echo", "chatbot-echo", "agent-summarize"])
            | json_values,
        },
    )
    return near | json_values


def test_random_frames_never_break_the_engine() -> None:
    with LocalEngine(db=":memory:") as engine, connect(engine.session_url, max_size=None) as ws:

        def request(frame: dict[str, Any]) -> dict[str, Any]:
            ws.send(json.dumps(frame))
            answer: dict[str, Any] = json.loads(ws.recv(TIMEOUT))
            return answer

        fuzzed = request({"type": "create_session", "object_type": "agent", "object_id": "echo"})
        control = request({"type": "create_session", "object_type": "agent", "object_id": "echo"})
        for session in (fuzzed, control):
            assert request({"type": "connect_session", "session_id": session["session_id"]})[
                "success"
            ]
        control_ping = {"type": "ping_session", "session_id": control["session_id"]}

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(frames(fuzzed["session_id"]))
        def check(frame: Any) -> None:
            ws.send(json.dumps(frame))
            ws.send(json.dumps(control_ping))  # the fuzz never touches the control session
            while True:  # everything up to the control's pong: answers, and any turn's frames
                answer = json.loads(ws.recv(TIMEOUT))
                assert isinstance(answer, dict) and answer.get("type") in ENGINE_TYPES, answer
                if answer["type"] == "error":
                    assert isinstance(answer["error"], str) and answer["error"]
                if answer == {"type": "pong", "session_id": control["session_id"]}:
                    return

        check()
        # Still serving, on this connection (past any turn's leftover frames) and on a new one.
        ws.send(json.dumps(control_ping))
        while json.loads(ws.recv(TIMEOUT)) != {"type": "pong", "session_id": control["session_id"]}:
            pass
        with connect(engine.session_url) as other:
            other.send(
                json.dumps({"type": "create_session", "object_type": "agent", "object_id": "echo"})
            )
            assert json.loads(other.recv(TIMEOUT))["type"] == "session_created"
