"""A chat page whose answers stream in from a VectorShift agent: FastAPI and the AsyncSession.

    pip install vectorshift-sessions fastapi uvicorn itsdangerous
    python examples/fastapi_app/app.py          # then open http://127.0.0.1:8000

With no VectorShift variables set, it embeds a local engine (its demo agent asks for approval
before filing a ticket); with VECTORSHIFT_API_KEY (and VECTORSHIFT_AGENT, an agent's name) it
talks to the hosted engine.

The conversation lives in the engine. The browser keeps only its session id, in Starlette's
signed session cookie, and every request resumes the session by that id, sends (or answers an
approval), streams the turn as Server-Sent Events and detaches. One event loop serves every
stream: a quiet turn holds no thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import anyio
import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, StrictBool, StrictStr, field_validator
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import Receive, Scope, Send

from vectorshift_sessions import (
    AsyncAgent,
    AsyncSession,
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


class ChatRequest(BaseModel):
    """``POST /chat``: the user's message."""

    message: StrictStr

    @field_validator("message")
    @classmethod
    def _not_blank(cls, message: str) -> str:
        if not message.strip():
            raise ValueError("the message is empty")
        return message


class ApproveRequest(BaseModel):
    """``POST /approve``: the approval request event as the page parsed it from the stream
    (``to_sse``'s ``data:``), and the user's answer."""

    event: dict[str, Any]
    approved: StrictBool


class Said(BaseModel):
    role: Literal["user", "agent"]
    text: str


class History(BaseModel):
    """``GET /history``: what was said, without the tool calls and thinking between."""

    messages: list[Said]


class TurnStream(StreamingResponse):
    """A turn's events as Server-Sent Events, from a connected session that this response
    detaches once it is over, however it ends: at the turn's end, when the browser went away
    (Starlette then cancels the stream, maybe before its first event), or on an error."""

    def __init__(self, session: AsyncSession, events: AsyncIterator[SessionEvent | None]):
        super().__init__(sse(events), media_type="text/event-stream", headers=SSE_HEADERS)
        self.session = session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Shielded: a cancelled stream (the browser left) still says goodbye to the engine.
            # The turn goes on there, and its messages are in the history for the next request.
            with anyio.CancelScope(shield=True):
                await self.session.disconnect()


def create_app(
    agent_name: str | None = None, *, heartbeat: float = 15.0, turn_timeout: float = 300.0
) -> FastAPI:
    """The app. ``heartbeat``: seconds of quiet before a keep-alive comment goes out (it keeps
    proxies from closing the response); ``turn_timeout``: the longest a turn may stream.
    Connects nowhere until a request comes."""
    app = FastAPI(title="VectorShift chat")
    app.add_middleware(
        SessionMiddleware,
        # Set it in production: the same for every worker, and across restarts.
        secret_key=os.environ.get("SESSION_SECRET_KEY") or secrets.token_hex(32),
        https_only=os.environ.get("SESSION_HTTPS_ONLY") == "1",  # the cookie only over HTTPS
    )
    name = agent_name or os.environ.get("VECTORSHIFT_AGENT", "demo")
    agent_ids: dict[str, str] = {}

    async def agent_id() -> str:  # looked up once, on first use
        if name not in agent_ids:
            agent_ids[name] = (await AsyncAgent.fetch(name=name)).id
        return agent_ids[name]

    async def conversation(request: Request) -> AsyncSession:
        """This browser's session, resumed by the id in its cookie, or a new one."""
        session_id = request.session.get("session_id")
        if session_id:
            try:
                return await AsyncSession(session_id=session_id).connect()
            except SessionNotFoundError:
                pass  # gone from the engine (a local engine in memory restarted): start anew
        session = await AsyncSession(owner_type="agent", owner_id=await agent_id()).connect()
        request.session["session_id"] = session.session_id
        return session

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        """A body that is not what the route takes: 400, with what is wrong, for the page."""
        wrong = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'][1:]) or 'body'}: {error['msg']}"
            for error in exc.errors()
        )
        return problem(400, wrong)

    @app.exception_handler(VectorShiftError)
    async def engine_failed(request: Request, exc: VectorShiftError) -> JSONResponse:
        """The engine could not be reached, or refused (before the stream began)."""
        return problem(502, str(exc))

    @app.get("/")
    async def page() -> FileResponse:
        return FileResponse(PAGE)

    @app.post("/chat")
    async def chat(body: ChatRequest, request: Request) -> Response:
        session = await conversation(request)
        try:  # checked before anything is sent
            events = session.stream(body.message, heartbeat=heartbeat, timeout=turn_timeout)
        except (TypeError, ValueError) as exc:
            await session.disconnect()
            return problem(400, str(exc))
        return TurnStream(session, events)

    @app.post("/approve")
    async def approve(body: ApproveRequest, request: Request) -> Response:
        session_id = request.session.get("session_id")
        if not session_id:
            return problem(409, "no conversation yet: send a message first")
        try:
            event = event_from_json(body.event)
        except ValueError as exc:
            return problem(400, f"not an approval request: {exc}")
        session = AsyncSession(session_id=session_id)
        try:  # checked before anything is sent: an approval request of this session
            events = session.respond_stream(
                event,
                approved=body.approved,
                deny_reason=None if body.approved else "denied in the page",
                heartbeat=heartbeat,
                timeout=turn_timeout,
            )
        except (TypeError, ValueError) as exc:
            return problem(400, str(exc))
        try:
            await session.connect()
        except SessionNotFoundError:
            return problem(409, "the conversation is gone from the engine: start a new one")
        return TurnStream(session, events)

    @app.get("/history")
    async def history(request: Request) -> History:
        session_id = request.session.get("session_id")
        if not session_id:
            return History(messages=[])
        try:
            async with AsyncSession(session_id=session_id) as session:
                messages = await session.get_messages()
        except SessionNotFoundError:
            return History(messages=[])
        return History(
            messages=[
                Said(role="user" if m.is_user else "agent", text=m.text)
                for m in messages
                if m.content_type == "data_type_message" and m.text
            ]
        )

    @app.post("/reset", status_code=204)
    async def reset(request: Request) -> Response:
        request.session.pop("session_id", None)
        return Response(status_code=204)

    return app


async def sse(events: AsyncIterator[SessionEvent | None]) -> AsyncIterator[str]:
    """The turn as Server-Sent Events; ``None`` (a quiet moment) becomes a heartbeat."""
    try:
        async for event in events:
            yield to_sse(event)
    except VectorShiftError as exc:  # the turn cannot go on (timeout, engine gone): say so
        yield f"event: failure\ndata: {json.dumps({'error': str(exc)})}\n\n"


def problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def configured() -> bool:
    """True when the environment names an engine (the hosted one, or one you run yourself)."""
    return bool(os.environ.get("VECTORSHIFT_API_KEY") or os.environ.get("VECTORSHIFT_BASE_URL"))


#: For ``uvicorn app:app`` (and gunicorn's uvicorn workers), with the engine in the environment.
app = create_app()


def main() -> None:
    with contextlib.ExitStack() as stack:
        if not configured():
            engine = stack.enter_context(LocalEngine(db=":memory:", turn_delay=0.05))
            os.environ.update(engine.env())
            print(f"an embedded local engine at {engine.base_url}")
        # One process, one event loop: it serves every stream at once.
        uvicorn.run(create_app(), host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))


if __name__ == "__main__":
    main()
