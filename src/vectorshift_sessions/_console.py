"""How the command line shows events: one short line per event, deltas inline as they stream."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from ._types import SessionEvent, SessionEventType

__all__ = ["EventPrinter"]

ET = SessionEventType

_LABELS = {
    ET.SESSION_CREATED: "session created",
    ET.SESSION_CONNECTED: "session connected",
    ET.MESSAGE_POSTED: "message posted",
    ET.MESSAGES_POSTED: "messages posted",
    ET.PARTICIPANT_STATUS: "status",
    ET.THINKING: "thinking",
    ET.TOOL_CALL: "tool call",
    ET.TOOL_RESULT: "tool result",
    ET.SEARCH_RESULT: "search result",
    ET.APPROVAL_REQUEST: "approval request",
    ET.REAUTH_REQUEST: "re-auth request",
    ET.MESSAGE_STREAMING: "streaming",
    ET.MESSAGE_COMPLETE: "complete",
    ET.ERROR: "error",
    ET.PONG: "pong",
}


def _brief(value: Any, limit: int = 100) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _detail(event: SessionEvent) -> str:
    data = event.data
    if event.type == ET.PARTICIPANT_STATUS:
        return str(data.get("status"))
    if event.type == ET.THINKING:
        return _brief(data.get("content") or data.get("text") or data)
    if event.type in (ET.TOOL_CALL, ET.TOOL_RESULT):
        extra = f" -> {_brief(data.get('output'))}" if event.type == ET.TOOL_RESULT else ""
        return f"{data.get('tool_name')} [{data.get('status')}]{extra}"
    if event.type == ET.ERROR:
        return str(event.error)
    if event.type in (ET.MESSAGE_COMPLETE, ET.MESSAGE_STREAMING):
        return _brief(data.get("text"))
    if event.type in (ET.SESSION_CREATED, ET.SESSION_CONNECTED, ET.PONG):
        return event.session_id
    if event.type in (ET.MESSAGE_POSTED, ET.MESSAGES_POSTED):
        return "ok"
    return _brief({k: v for k, v in data.items() if k != "type"})


class EventPrinter:
    """Prints events; consecutive deltas are written inline, as the text streams."""

    def __init__(self, out: TextIO | None = None, *, show_complete_text: bool = False):
        self._out = out or sys.stdout
        self._streaming = False
        self._show_complete_text = show_complete_text
        self.seen: set[SessionEventType] = set()

    def __call__(self, event: SessionEvent) -> None:
        self.seen.add(event.type)
        out = self._out
        if event.type == ET.MESSAGE_DELTA:
            if not self._streaming:
                out.write("  [delta]".ljust(22))
                self._streaming = True
            out.write(event.delta or "")
            out.flush()
            return
        if self._streaming:
            out.write("\n")
            self._streaming = False
        if event.type == ET.MESSAGE_COMPLETE and not self._show_complete_text:
            detail = f"{len(event.text or '')} characters"
        else:
            detail = _detail(event)
        out.write(f"  [{_LABELS.get(event.type, str(event.type))}]".ljust(22) + f"{detail}\n")
        out.flush()

    def end_line(self) -> None:
        if self._streaming:
            self._out.write("\n")
            self._streaming = False
