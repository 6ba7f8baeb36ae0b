"""The ``chat`` command: an interactive terminal chat with an agent or chatbot.

Against the hosted engine (or any ``--base-url``) when given an API key and an agent or
chatbot; otherwise against an embedded local engine. Uses the blocking ``Session``. With
``--record FILE``, the session's frames are appended to a cassette (see ``_cassette.py``); an
existing file must be one.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

from ._config import OWNER_AGENT, OWNER_CHATBOT, resolve_api_key
from ._console import EventPrinter
from ._errors import VectorShiftError
from ._sync.session import Session
from ._turn import TurnWatcher
from ._types import SessionEventType

if TYPE_CHECKING:
    from ._cassette import Recorder

__all__ = ["run_chat"]

ET = SessionEventType
#: What the chat shows; acks, pongs and session bookkeeping stay quiet.
_SHOWN = frozenset(
    {
        ET.MESSAGE_DELTA,
        ET.THINKING,
        ET.TOOL_CALL,
        ET.TOOL_RESULT,
        ET.SEARCH_RESULT,
        ET.APPROVAL_REQUEST,
        ET.REAUTH_REQUEST,
        ET.MESSAGE_STREAMING,
        ET.ERROR,
    }
)
HELP = "Type a message and press Enter. /history shows the history, /quit (or Ctrl-D) leaves."
#: The most of a file's first line read to tell whether it is a cassette header.
_HEADER_MAX = 64 * 1024


def _is_other_file(path: Path) -> bool:
    """Whether ``path`` is a file holding something else than a cassette: not empty, and its
    first line no cassette header. Appending a cassette to it would spoil it. ``OSError``
    when it cannot be read."""
    try:
        with open(path, "rb") as file:
            first = file.readline(_HEADER_MAX)
    except FileNotFoundError:
        return False
    if not first:
        return False
    try:
        header = json.loads(first)
    except ValueError:  # not JSON, not UTF-8, or cut at _HEADER_MAX
        return True
    if type(header) is not dict:
        return True
    fields = cast("dict[str, Any]", header)
    return not (type(fields.get("cassette")) is int and isinstance(fields.get("rec"), str))


@contextlib.contextmanager
def _open_session(
    *,
    agent: str | None,
    chatbot: str | None,
    api_key: str | None,
    base_url: str | None,
    ws_url: str | None,
    out: TextIO,
    recorder: Recorder | None = None,
) -> Generator[Session, None, None]:
    from ._sync.client import Agent, Chatbot, Client

    key = resolve_api_key(api_key)
    with contextlib.ExitStack() as stack:
        if key and (agent or chatbot):
            client = stack.enter_context(Client(key, base_url=base_url, ws_url=ws_url))
            out.write(f"chatting through {client.base_url}\n")
        else:
            from .engine import LocalEngine

            engine = stack.enter_context(LocalEngine(db=":memory:"))
            client = stack.enter_context(Client(base_url=engine.base_url, ws_url=engine.ws_url))
            out.write(
                f"no API key and agent given: chatting with an embedded local engine ({engine.base_url})\n"
            )
            if not (agent or chatbot):
                agent = "demo"
        handle = (
            Chatbot.fetch(name=chatbot, client=client)
            if chatbot
            else Agent.fetch(name=agent, client=client)
        )
        kind = OWNER_CHATBOT if chatbot else OWNER_AGENT
        out.write(f"{kind} {handle.name!r} ({handle.id}). {HELP}\n")
        if recorder is not None:
            from ._cassette import recording

            with recording(recorder):  # the one session created here records
                session = handle.create_session()
        else:
            session = handle.create_session()
        yield stack.enter_context(session)


def _ask_yes_no(question: str, read: TextIO, out: TextIO) -> bool:
    out.write(f"{question} [y/N] ")
    out.flush()
    answer = read.readline()
    if not answer:
        raise EOFError
    return answer.strip().lower() in ("y", "yes")


def _turn(session: Session, text: str, read: TextIO, out: TextIO) -> None:
    """One exchange: send, stream the answer, ask the user when the agent needs an approval."""
    show = EventPrinter(out, show_complete_text=False)
    session.send(text)
    turn = TurnWatcher()
    for event in session.listen():
        if event.type in _SHOWN:
            show(event)
        if event.type == ET.APPROVAL_REQUEST:
            show.end_line()
            tool = event.data.get("tool_name", "a tool")
            approved = _ask_yes_no(f"  approve {tool}?", read, out)
            session.respond(event, approved=approved, deny_reason=None if approved else "No.")
        if turn.feed(event):
            break
    show.end_line()


def _history(session: Session, out: TextIO) -> None:
    for message in session.get_messages():
        who = "you  " if message.is_user else "agent"
        out.write(f"  {who} [{message.content_type}] {message.text or ''}\n")


def run_chat(
    *,
    agent: str | None = None,
    chatbot: str | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    ws_url: str | None = None,
    read: TextIO | None = None,
    out: TextIO | None = None,
    record: str | Path | None = None,
) -> int:
    """Chat until ``/quit``, Ctrl-D or Ctrl-C; the exit code (1 after an error).

    ``record``: a cassette file the session's frames are appended to (``--record``). Refused
    before anything starts: a path whose directory does not exist, and an existing file that
    is not a cassette (not empty, and its first line no cassette header).
    """
    read = read or cast(TextIO, sys.stdin)
    out = out or cast(TextIO, sys.stdout)
    recorder = None
    if record is not None:
        from ._cassette import Recorder

        try:
            recorder = Recorder(record)
            assert recorder.path is not None
            other = _is_other_file(recorder.path)
        except (OSError, TypeError, ValueError) as exc:
            out.write(f"error: cannot record to {str(record)!r}: {exc}\n")
            return 1
        if other:
            out.write(
                f"error: {record} exists and is not a cassette (its first line is not a "
                "cassette header); pick another file\n"
            )
            return 1
    try:
        with _open_session(
            agent=agent,
            chatbot=chatbot,
            api_key=api_key,
            base_url=base_url,
            ws_url=ws_url,
            out=out,
            recorder=recorder,
        ) as session:
            if recorder is not None:
                out.write(f"recording the session into {recorder.path}\n")
            while True:
                out.write("you> ")
                out.flush()
                line = read.readline()
                if not line:  # Ctrl-D / end of input
                    break
                text = line.strip()
                if not text:
                    continue
                if text in ("/quit", "/exit"):
                    break
                if text == "/history":
                    _history(session, out)
                elif text == "/help":
                    out.write(f"{HELP}\n")
                else:
                    _turn(session, text, read, out)
    except (KeyboardInterrupt, EOFError):
        pass
    except VectorShiftError as exc:
        out.write(f"\nerror: {exc}\n")
        return 1
    out.write("\nbye\n")
    return 0
