"""Helpers for the local engine's tests: a plain ``websockets`` client speaking JSON frames."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from vectorshift_sessions.engine import LocalEngine

#: Upper bound for any single wait in these tests (a bound, never a synchronisation).
TIMEOUT = 10.0


class Raw:
    """A plain ``websockets`` client that speaks the protocol's JSON frames, nothing more."""

    def __init__(self, ws: ClientConnection):
        self.ws = ws

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), TIMEOUT))
        return frame

    async def create(self, object_id: str = "agent-echo", object_type: str = "agent") -> str:
        await self.send(type="create_session", object_type=object_type, object_id=object_id)
        created = await self.recv()
        assert created["type"] == "session_created", created
        session_id: str = created["session_id"]
        return session_id

    async def connect(self, session_id: str) -> dict[str, Any]:
        await self.send(type="connect_session", session_id=session_id)
        return await self.recv()

    async def new_session(self, object_id: str = "agent-echo", object_type: str = "agent") -> str:
        session_id = await self.create(object_id, object_type)
        ack = await self.connect(session_id)
        assert ack == {
            "type": "connect_session",
            "session_id": session_id,
            "success": True,
            "error": None,
            "participant_status": "Idle",  # extension: the session's status, for returning clients
            "history_after": True,  # extension: get_messages takes "after"
        }
        return session_id

    async def until_idle(self) -> list[dict[str, Any]]:
        """Frames up to and including the next ``Idle`` status."""
        frames = []
        while True:
            frame = await self.recv()
            frames.append(frame)
            if frame["type"] == "participant_status" and frame["message"]["status"] == "Idle":
                return frames

    async def until(self, frame_type: str, content_type: str | None = None) -> list[dict[str, Any]]:
        """Frames up to and including the next of ``frame_type`` (with that content type)."""
        frames = []
        while True:
            frame = await self.recv()
            frames.append(frame)
            if frame["type"] == frame_type and (
                content_type is None or frame["message"]["content"]["type"] == content_type
            ):
                return frames

    async def history(self, session_id: str) -> list[dict[str, Any]]:
        await self.send(type="get_messages", session_id=session_id)
        answer = await self.recv()
        assert answer["type"] == "get_messages", answer
        messages: list[dict[str, Any]] = answer["messages"]
        return messages


@asynccontextmanager
async def raw_client(
    where: LocalEngine | str, headers: Mapping[str, str] | None = None
) -> AsyncIterator[Raw]:
    """A connection to an engine's session endpoint (or to the WebSocket URL ``where``)."""
    url = where if isinstance(where, str) else where.session_url
    async with connect(
        url, additional_headers=dict(headers or {}), open_timeout=TIMEOUT, max_size=None
    ) as ws:
        yield Raw(ws)


def kinds(frames: list[dict[str, Any]]) -> list[str]:
    """A readable summary of frames: the type, with the content type or status."""
    out = []
    for frame in frames:
        if frame["type"] == "message_notification":
            out.append(f"notification:{frame['message']['content']['type']}")
        elif frame["type"] == "participant_status":
            out.append(f"status:{frame['message']['status']}")
        else:
            out.append(frame["type"])
    return out


def text_of(frames: list[dict[str, Any]]) -> str:
    """The deltas of frames, joined."""
    return "".join(f["value"] for f in frames if f["type"] == "message_delta")
