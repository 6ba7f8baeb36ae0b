"""A chat page whose answers stream in from a VectorShift agent: Flask and the blocking Session.

    pip install vectorshift-sessions flask
    python examples/flask_app/app.py            # then open http://127.0.0.1:5000

With no VectorShift variables set, it embeds a local engine (its demo agent asks for approval
before filing a ticket); with VECTORSHIFT_API_KEY (and VECTORSHIFT_AGENT, an agent's name) it
talks to the hosted engine.

The conversation lives in the engine. The browser keeps only its session id, in Flask's signed
session cookie, and every request resumes the session by that id, sends (or answers an
approval), streams the turn as Server-Sent Events and detaches.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask

from vectorshift_sessions import (
    Agent,
    Session,
    SessionEvent,
    SessionNotFoundError,
    VectorShiftError,
    event_from_json,
    to_sse,
)
from vectorshift_sessions.engine import LocalEngine

PAGE = Path(__file__).with_name("chat.html")
# Stop reverse proxies (nginx and others) from holding the stream back.
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def create_app(
    agent_name: str | None = None, *, heartbeat: float = 15.0, turn_timeout: float = 300.0
) -> flask.Flask:
    """The app. ``heartbeat``: seconds of quiet before a keep-alive comment goes out (it also
    finds out that a browser went away); ``turn_timeout``: the longest a turn may stream."""
    app = flask.Flask(__name__)
    app.secret_key = os.environ.get("FLASK_SECRET_KEY") or secrets.token_hex(32)
    app.config.from_mapping(
        MAX_CONTENT_LENGTH=1024 * 1024,  # a request body larger than this is refused (413)
        SESSION_COOKIE_SAMESITE="Lax",  # no cookie on cross-site POSTs (see the README)
    )
    agent_name = agent_name or os.environ.get("VECTORSHIFT_AGENT", "demo")

    @functools.cache
    def agent_id() -> str:  # looked up once, on first use
        return Agent.fetch(name=agent_name).id

    def conversation() -> Session:
        """This browser's session, resumed by the id in its cookie, or a new one."""
        session_id = flask.session.get("session_id")
        if session_id:
            try:
                return Session(session_id=session_id).connect()
            except SessionNotFoundError:
                pass  # gone from the engine (a local engine in memory restarted): start anew
        session = Session(owner_type="agent", owner_id=agent_id()).connect()
        flask.session["session_id"] = session.session_id
        return session

    def event_stream(session: Session, events: Iterator[SessionEvent | None]) -> flask.Response:
        response = flask.Response(sse(events), mimetype="text/event-stream", headers=SSE_HEADERS)
        # Detach when the response is closed: at the turn's end, or when the browser went away
        # (the server notices at the next write, a heartbeat at the latest). The turn goes on
        # in the engine, and its messages are in the history for the next request.
        response.call_on_close(session.disconnect)
        return response

    @app.get("/")
    def page() -> flask.Response:
        return flask.send_file(PAGE)

    @app.post("/chat")
    def chat() -> flask.Response | tuple[dict[str, str], int]:
        body: dict[str, Any] = flask.request.get_json(silent=True) or {}
        message = body.get("message")
        if not isinstance(message, str) or not message.strip():
            return {"error": 'post JSON {"message": "your question"}'}, 400
        session = conversation()
        try:  # checked before anything is sent (too long, not valid Unicode, ...)
            events = session.stream(message, heartbeat=heartbeat, timeout=turn_timeout)
        except (TypeError, ValueError) as exc:
            session.disconnect()
            return {"error": str(exc)}, 400
        return event_stream(session, events)

    @app.post("/approve")
    def approve() -> flask.Response | tuple[dict[str, str], int]:
        body: dict[str, Any] = flask.request.get_json(silent=True) or {}
        session_id = flask.session.get("session_id")
        if not session_id:
            return {"error": "no conversation yet: send a message first"}, 409
        approved = body.get("approved")
        if not isinstance(approved, bool):
            return {"error": "approved must be true or false"}, 400
        try:
            event = event_from_json(body.get("event"))
        except ValueError as exc:
            return {"error": f"not an approval request: {exc}"}, 400
        session = Session(session_id=session_id)
        try:  # checked before connecting: an approval request of this session
            events = session.respond_stream(
                event,
                approved=approved,
                deny_reason=None if approved else "denied in the page",
                heartbeat=heartbeat,
                timeout=turn_timeout,
            )
        except (TypeError, ValueError) as exc:
            return {"error": str(exc)}, 400
        try:
            session.connect()
        except SessionNotFoundError:
            return {"error": "the conversation is gone from the engine: start a new one"}, 409
        return event_stream(session, events)

    @app.get("/history")
    def history() -> dict[str, list[dict[str, str | None]]]:
        session_id = flask.session.get("session_id")
        if not session_id:
            return {"messages": []}
        try:
            with Session(session_id=session_id) as session:
                messages = session.get_messages()
        except SessionNotFoundError:
            return {"messages": []}
        return {
            "messages": [  # what was said, without the tool calls and thinking between
                {"role": "user" if m.is_user else "agent", "text": m.text}
                for m in messages
                if m.content_type == "data_type_message" and m.text
            ]
        }

    @app.post("/reset")
    def reset() -> tuple[str, int]:
        flask.session.pop("session_id", None)
        return "", 204

    return app


def sse(events: Iterator[SessionEvent | None]) -> Iterator[str]:
    """The turn as Server-Sent Events; ``None`` (a quiet moment) becomes a heartbeat."""
    try:
        for event in events:
            yield to_sse(event)
    except VectorShiftError as exc:  # the turn cannot go on (timeout, engine gone): say so
        yield f"event: failure\ndata: {json.dumps({'error': str(exc)})}\n\n"


def configured() -> bool:
    """True when the environment names an engine (the hosted one, or one you run yourself)."""
    return bool(os.environ.get("VECTORSHIFT_API_KEY") or os.environ.get("VECTORSHIFT_BASE_URL"))


def main() -> None:
    with contextlib.ExitStack() as stack:
        if not configured():
            engine = stack.enter_context(LocalEngine(db=":memory:", turn_delay=0.05))
            os.environ.update(engine.env())
            print(f"an embedded local engine at {engine.base_url}")
        # The development server, one thread per request: a stream holds its thread.
        create_app().run(port=int(os.environ.get("PORT", "5000")), threaded=True)


if __name__ == "__main__":
    main()
