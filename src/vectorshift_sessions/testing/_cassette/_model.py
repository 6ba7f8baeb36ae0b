"""What a loaded cassette holds: owners, frames, recordings and turns (and their wording)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import attrs

from ..._content import DecodedContent, WireContent
from ...engine._turn import ApprovalAnswer
from ._steps import Step

__all__ = [
    "Owner",
    "RecordedFrame",
    "RecordedSession",
    "RecordedTurn",
    "describe_answer",
    "describe_post",
]

_QUOTE_LIMIT = 200


@attrs.frozen
class Owner:
    """The agent or chatbot a recorded session belonged to. ``name`` (when the recording
    says) is its name in the catalogue; owners are the same when type and id are.

    Attributes:
        object_type: ``"agent"`` or ``"chatbot"``.
        object_id: Its id.
        name: Its name, when the recording says.
    """

    object_type: str
    object_id: str
    name: str | None = attrs.field(default=None, eq=False)


@attrs.frozen
class RecordedFrame:
    """One recorded frame: ``t`` seconds after its recording began, ``direction`` ``"sent"``
    or ``"received"``, the ``frame`` (a dict; ``None`` for a received text that was not a
    JSON object, then kept in ``text``), and the cassette ``line`` it is on.

    Attributes:
        t: Seconds after its recording began.
        direction: ``"sent"`` or ``"received"``.
        frame: The frame, or ``None`` for a received text that was not a JSON object.
        text: That text, when ``frame`` is ``None``.
        line: The cassette line it is on (from 1).
    """

    t: float
    direction: str
    frame: dict[str, Any] | None = attrs.field(eq=False)
    text: str | None = attrs.field(default=None, eq=False)
    line: int = 0


@attrs.frozen
class RecordedSession:
    """One recording: a session's connection, from ``connect()`` to its disconnect.

    ``rec`` is its id in the cassette, ``owner`` the agent or chatbot (from the header, else
    from the create request, another recording of the session or the senders of its
    messages; ``None`` when none says), ``session_id`` the session (the header's, else the one
    the engine created or the client connected to), ``version`` the package version that
    wrote it, ``started`` when (ISO 8601 UTC), ``line`` its header's line, ``frames`` every
    frame in order (of ``t``: a sent frame is written once sent, maybe after its answer), and
    ``joined`` whether the engine created or connected its session (a refused one defines no
    owner).

    Attributes:
        rec: Its id in the cassette.
        owner: The agent or chatbot, or ``None`` when nothing says.
        session_id: The session, when known.
        version: The package version that wrote it.
        started: When it began (ISO 8601 UTC).
        line: Its header's line.
        frames: Every frame, in order of ``t``.
        joined: Whether the engine created or connected its session.
    """

    rec: str
    owner: Owner | None
    session_id: str | None
    version: str | None
    started: str | None
    line: int
    frames: tuple[RecordedFrame, ...] = attrs.field(repr=lambda f: f"<{len(f)} frames>")
    joined: bool = True


@attrs.frozen(eq=False)
class RecordedTurn:
    """One recorded turn: a post, and what the engine sent for it.

    ``post`` is the posted content as sent (one value, or several for ``post_messages``),
    ``frames`` the engine frames of the turn, from every recording of its session (without
    the answers to the client's own requests and the ``Processing`` / ``Idle`` the engine
    shows around every turn; a message the client only found in the history after a
    reconnection is there as a ``message_notification`` on the history's line),
    ``approvals`` the recorded answers to its approval requests, in order (``None``: never
    answered). ``session_id`` is its session, ``rec`` and ``owner`` name the recording of its
    post, ``t`` and ``line`` its post.

    Attributes:
        rec: The recording of its post.
        owner: The agent or chatbot, or ``None`` when nothing says.
        t: When it was posted, in seconds after its recording began.
        line: The cassette line of its post.
        post: The posted content values, as sent.
        frames: The engine frames of the turn.
        approvals: The recorded answers to its approval requests, in order (``None``: never
            answered).
        session_id: Its session, when known.
    """

    rec: str
    owner: Owner | None
    t: float
    line: int
    post: tuple[WireContent, ...]
    frames: tuple[RecordedFrame, ...] = attrs.field(repr=lambda f: f"<{len(f)} frames>")
    approvals: tuple[ApprovalAnswer | None, ...]
    session_id: str | None
    _decoded: tuple[DecodedContent, ...] = attrs.field(repr=False)
    _steps: tuple[Step, ...] = attrs.field(repr=False)
    _session: str = attrs.field(repr=False)  # its session's key (the id, else the recording)
    _order: int = attrs.field(repr=False)  # its place among its session's turns

    @property
    def text(self) -> str:
        """The posted texts, joined by newlines (as the agent's ``turn.text``)."""
        return "\n".join(d.text for d in self._decoded if d.text is not None)

    def describe(self) -> str:
        """The post, in words (for messages): its texts quoted, its files named.

        Returns:
            Such as ``"hi" + file 'a.pdf' (application/pdf, 1,024 bytes)``.
        """
        return describe_post(self._decoded)


def _quote(text: str) -> str:
    if len(text) <= _QUOTE_LIMIT:
        return json.dumps(text, ensure_ascii=False)
    cut = json.dumps(text[:_QUOTE_LIMIT], ensure_ascii=False)
    return f"{cut}...(+{len(text) - _QUOTE_LIMIT} chars)"


def describe_post(decoded: Sequence[DecodedContent]) -> str:
    """A post in words: ``"hi" + file 'a.pdf' (application/pdf, 1,024 bytes)``."""
    parts: list[str] = []
    for item in decoded:
        if item.data is not None:
            parts.append(f"file {item.filename!r} ({item.mime_type}, {len(item.data):,} bytes)")
        else:
            typed = f" ({item.mime_type})" if item.mime_type else ""
            parts.append(_quote(item.text or "") + typed)
    return " + ".join(parts) if parts else "an empty post"


def describe_answer(answer: ApprovalAnswer | None) -> str:
    """An approval answer in words: ``approved``, ``denied ('No.')``..."""
    if answer is None:
        return "no approval answer"
    if answer.approved:
        confirm = dict(answer.confirm)
        return f"approved with confirm {confirm!r}" if confirm else "approved"
    return f"denied ({answer.deny_reason!r})"
