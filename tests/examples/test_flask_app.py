"""examples/flask_app: Flask's test client reads the stream as it comes; a real server shows
that a browser going away detaches the session."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from vectorshift_sessions.testing import EngineFixture

from .._agents import HeldAgent
from .conftest import INSTALL_EXTRAS, load_example, sse_messages
from .waiting import engine_connections, wait_until

pytest.importorskip("flask", reason=INSTALL_EXTRAS)
from werkzeug.serving import make_server

flask_example = load_example("flask_app/app.py")


def turn(client: Any, path: str, body: dict[str, Any]) -> list[tuple[str, Any]]:
    """A streamed turn's SSE messages, read whole; the response is then closed, as a WSGI
    server closes it (which detaches the session)."""
    with client.post(path, json=body) as response:
        return sse_messages(response.get_data(as_text=True))


def events_of(response: Any) -> Iterator[tuple[str, Any]]:
    """Each SSE message of a streamed test-client response, as it arrives."""
    buffer = ""
    for chunk in response.response:
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        *complete, buffer = buffer.split("\n\n")
        for block in complete:
            yield from sse_messages(block + "\n\n")


def test_the_first_events_arrive_while_the_turn_still_runs(
    vectorshift_engine: EngineFixture,
) -> None:
    held = HeldAgent()
    vectorshift_engine.add_agent("held", held)
    client = flask_example.create_app("held").test_client()
    response = client.post("/chat", json={"message": "hi"}, buffered=False)
    try:
        assert response.mimetype == "text/event-stream"
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["X-Accel-Buffering"] == "no"
        seen = []
        for kind, event in events_of(response):
            seen.append(kind)
            if kind == "message_complete" and event["data"]["text"] == "working":
                break  # the agent holds its turn: it cannot have ended
        assert "participant_status" in seen and seen[0] == "message_posted"
        held.release.set()
        rest = list(events_of(response))
    finally:
        held.release.set()
        response.close()
    assert [e["data"]["text"] for k, e in rest if k == "message_complete"] == ["done"]
    assert rest[-1][1]["data"] == {"status": "Idle"}


def test_an_approval_is_answered_in_a_second_request(vectorshift_engine: EngineFixture) -> None:
    client = flask_example.create_app().test_client()
    first = turn(client, "/chat", {"message": "hello"})
    kind, request = first[-1]
    assert kind == "approval_request"
    assert request["data"]["tool_name"] == "create_ticket"

    rest = turn(client, "/approve", {"event": request, "approved": True})
    kinds = [k for k, _ in rest]
    assert "tool_result" in kinds and kinds[-1] == "participant_status"
    (answer,) = [e["data"]["text"] for k, e in rest if k == "message_complete"]
    assert "DEMO-1042" in answer

    history = client.get("/history").get_json()["messages"]  # the cookie names the session
    assert history[0] == {"role": "user", "text": "hello"}
    assert history[-1] == {"role": "agent", "text": answer}
    assert vectorshift_engine.sessions() == [request["session_id"]]


def test_a_denied_approval_ends_the_turn_without_the_ticket(
    vectorshift_engine: EngineFixture,
) -> None:
    client = flask_example.create_app().test_client()
    (*_, (_, request)) = turn(client, "/chat", {"message": "hi"})
    rest = turn(client, "/approve", {"event": request, "approved": False})
    (answer,) = [e["data"]["text"] for k, e in rest if k == "message_complete"]
    assert "You declined the ticket (denied in the page)" in answer


def test_bad_input_is_refused_before_anything_is_sent(vectorshift_engine: EngineFixture) -> None:
    client = flask_example.create_app().test_client()
    refused = client.post("/chat", json={"message": "  "})
    assert refused.status_code == 400 and "your question" in refused.get_json()["error"]
    assert client.post("/approve", json={"event": {}, "approved": True}).status_code == 409
    refused = client.post("/chat", json={"message": "broken \ud800"})  # what the SDK refuses
    assert refused.status_code == 400 and "lone surrogate" in refused.get_json()["error"]
    assert not engine_connections(vectorshift_engine.port)  # the session was let go

    (*_, (_, request)) = turn(client, "/chat", {"message": "hi"})
    session_id = request["session_id"]
    posted = len(vectorshift_engine.messages(session_id))
    for body, complaint in [
        ({"event": request, "approved": "yes"}, "approved must be true or false"),
        ({"event": {"type": "bogus"}, "approved": True}, "not an approval request"),
        ({"event": {**request, "type": "message_delta"}, "approved": True}, "cannot respond"),
        ({"event": {**request, "session_id": "other"}, "approved": True}, "belongs to session"),
    ]:
        answer = client.post("/approve", json=body)
        assert answer.status_code == 400, body
        assert complaint in answer.get_json()["error"]
    assert len(vectorshift_engine.messages(session_id)) == posted  # nothing was posted
    rest = turn(client, "/approve", {"event": request, "approved": True})  # it still waits
    assert rest[-1][1]["data"] == {"status": "Idle"}


def test_a_browser_that_goes_away_detaches_the_session_and_the_turn_goes_on(
    vectorshift_engine: EngineFixture,
) -> None:
    import httpx

    held = HeldAgent()
    vectorshift_engine.add_agent("held", held)
    app = flask_example.create_app("held", heartbeat=0.05)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, name="flask-example-server")
    serving.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.server_port}") as browser:
            with browser.stream("POST", "/chat", json={"message": "hi"}) as response:
                text = ""
                for chunk in response.iter_text():
                    text += chunk
                    if '"text":"working"' in text:
                        break
                assert engine_connections(vectorshift_engine.port)  # attached while streaming
            # the browser went away: at the next heartbeat the server finds out and detaches
            wait_until(lambda: not engine_connections(vectorshift_engine.port), "detached")
            (session_id,) = vectorshift_engine.sessions()
            held.release.set()  # the turn goes on in the engine, with nobody attached
            wait_until(
                lambda: any(m.text == "done" for m in vectorshift_engine.messages(session_id)),
                "the turn to finish in the engine",
            )
            history = browser.get("/history").json()["messages"]  # the user comes back
    finally:
        held.release.set()
        server.shutdown()
        serving.join()
        server.server_close()
    assert [m["text"] for m in history] == ["hi", "working", "done"]


def test_the_web_examples_serve_the_same_page() -> None:
    from .conftest import EXAMPLES

    pages = {path.parent.name: path.read_bytes() for path in EXAMPLES.glob("*/chat.html")}
    assert {"flask_app", "django_app", "fastapi_app"} <= set(pages)
    assert len(set(pages.values())) == 1, "examples/*/chat.html differ: copy flask_app's"
