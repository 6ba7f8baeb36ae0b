"""A rogue engine: speaks just enough of the protocol, then sends garbage among good frames."""

from __future__ import annotations

import json
import threading
from typing import Any

from websockets.sync.server import ServerConnection, serve

from vectorshift_sessions import _codec as codec
from vectorshift_sessions.engine import _frames

#: What the rogue sends after acknowledging a post, in this order; only the last three are good.
GARBAGE = [
    "not json at all",
    "[1, 2, 3]",
    '{"type": 5}',
    '{"no_type": true}',
    '{"type": "message_delta", "value": 3}',
    '{"type": "message_notification", "message": "not an object"}',
    '{"type": "a_frame_from_the_future", "session_id": "s"}',
]


class RogueEngine:
    def __init__(self) -> None:
        self._server = serve(self._handle, "127.0.0.1", 0)
        self.port: int = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)

    def _handle(self, ws: ServerConnection) -> None:
        def send(frame: dict[str, Any]) -> None:
            ws.send(codec.dumps(frame))

        for text in ws:
            frame = json.loads(text)
            sid = frame.get("session_id", "rogue-session")
            if frame["type"] == "create_session":
                send(_frames.session_created("rogue-session"))
            elif frame["type"] == "connect_session":
                send(_frames.connect_ack(sid))
            elif frame["type"] == "post_message":
                send(_frames.post_ack("post_message", sid))
                send(_frames.participant_status(sid, "Processing"))
                for bad in GARBAGE:
                    ws.send(bad)
                message = _frames.stored_message(
                    "m1",
                    sid,
                    _frames.object_sender("agent-x", "agent"),
                    _frames.text_content("fine"),
                )
                send(_frames.message_delta(sid, "m1", "fine", 0))
                send(_frames.message_notification(message))
                send(_frames.participant_status(sid, "Idle"))
            elif frame["type"] == "get_messages":
                send(_frames.history(sid, []))
