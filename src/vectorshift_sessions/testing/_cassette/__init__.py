"""Cassettes: sessions recorded once (``record_to=``), replayed offline by an agent.

A session made with ``record_to="chat.jsonl"`` writes every frame it sends and receives to a
JSON Lines cassette (the format is described in ``vectorshift_sessions._cassette``). Loaded
here, a cassette replays what the engine sent, turn by turn::

    from vectorshift_sessions.engine import LocalEngine
    from vectorshift_sessions.testing import Cassette

    cassette = Cassette.load("chat.jsonl")
    agent = cassette.agent()                       # replays the recorded turns
    with LocalEngine(db=":memory:") as engine:
        for owner in cassette.owners:              # under the recorded ids
            name = owner.name or owner.object_id
            if owner.object_type == "chatbot":
                engine.add_chatbot(name, agent, id=owner.object_id)
            else:
                engine.add_agent(name, agent, id=owner.object_id)
        ...                                        # run the same code against engine.env()
    agent.assert_done()

A recorded session's turns are read from all its recordings (a resume by id, another client
answering an approval, a reconnection, whose history fills in what the client missed). A
live session replays one recorded session: its first post picks the first recorded session
left that begins with that post (else one that has it later), and its later posts are taken
from that session only, in order (a turn skipped is never replayed: ``assert_done`` says
so). A post compares by what it holds (texts, MIME types, files' names, types and bytes:
the decoded content, not its JSON), after the ``redact`` hook the cassette was recorded with.

For each post the agent sends the frames the engine sent in that turn: deltas and messages
with new ids (the deltas of a message share its new id; a message keeps its recorded sender
and fields), participant statuses, the engine's ``error`` frames, and approval requests,
whose answer it waits for (``approval_timeout``) and compares with the recorded one. A post
or an answer that differs raises `CassetteMismatch`, naming what was recorded and what
came: the engine turns it into an ``ERROR`` event in the session (which never hangs, and
stays usable), and it is kept on the agent's ``mismatches``.

Layout: ``_reader`` (bytes -> checked recordings), ``_sessions`` and ``_turns`` (recordings
-> sessions -> turns), ``_history`` (what a reconnection's history says), ``_steps`` (what a
replay does), ``_replay`` and ``_play`` (the agent), ``_model`` and ``_errors`` (what callers
see).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..._cassette import Redactor
from ._errors import CassetteError, CassetteMismatch
from ._model import Owner, RecordedFrame, RecordedSession, RecordedTurn
from ._reader import read
from ._replay import DEFAULT_APPROVAL_TIMEOUT, ReplayAgent
from ._sessions import split

__all__ = [
    "Cassette",
    "CassetteError",
    "CassetteMismatch",
    "Owner",
    "RecordedFrame",
    "RecordedSession",
    "RecordedTurn",
    "ReplayAgent",
]


class Cassette:
    """A loaded cassette: its recordings, their owners and their turns, and an agent that
    replays them (`agent`). Load one with `load` (or `loads`).

    Args:
        name: The file it was loaded from, or the name errors call it.
        recordings: Every recording, in the order of their headers.
        turns: Every recorded turn, in the order they were posted.
    """

    def __init__(
        self, name: str, recordings: Sequence[RecordedSession], turns: Sequence[RecordedTurn]
    ):
        self.name = name
        """The file it was loaded from (or the name given to `loads`)."""
        self.recordings: tuple[RecordedSession, ...] = tuple(recordings)
        """Every recording (a session's connection), in the order of their headers."""
        self.turns: tuple[RecordedTurn, ...] = tuple(turns)
        """Every recorded turn, in the order they were posted."""

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Cassette:
        """Read the cassette at ``path``.

        Args:
            path: The cassette's path.

        Returns:
            The cassette.

        Raises:
            CassetteError: It is corrupt or written by a newer version (the error names the
                file and the line).
            OSError: It cannot be read.
        """
        return cls.loads(Path(path).read_bytes(), name=os.fspath(path))

    @classmethod
    def loads(cls, data: str | bytes, *, name: str = "<cassette>") -> Cassette:
        """Read a cassette's text.

        Args:
            data: The cassette's text (JSON Lines), as str or bytes.
            name: What errors call it.

        Returns:
            The cassette.

        Raises:
            CassetteError: It is corrupt or written by a newer version.
        """
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        recordings, turns = split(name, read(name, raw))
        return cls(name, recordings, turns)

    @property
    def owners(self) -> tuple[Owner, ...]:
        """The agents and chatbots of the sessions the engine created or connected, each once
        (by type and id, with the first name a recording gives), in order."""
        seen: dict[Owner, Owner] = {}
        for recording in self.recordings:
            owner = recording.owner
            if owner is None or not recording.joined:
                continue
            known = seen.get(owner)
            if known is None or (known.name is None and owner.name is not None):
                seen[owner] = owner
        return tuple(seen.values())

    def agent(
        self,
        *,
        owner: str | Owner | None = None,
        speed: float | None = None,
        redact: Redactor | None = None,
        approval_timeout: float | None = DEFAULT_APPROVAL_TIMEOUT,
    ) -> ReplayAgent:
        """An agent that replays this cassette's turns (see the module docstring).

        ``owner`` (an id, or an `Owner`) keeps only that agent's or chatbot's turns.
        Without it, a session gets the turns recorded for its own agent or chatbot (by id)
        when there are any, else any turn. ``speed``: ``None`` or ``0`` replays at once,
        ``1.0`` at the recorded pace, ``2.0`` twice as fast (the time the user took to answer
        an approval, and the time between recordings, are never waited). ``redact``: the
        ``redact(frame, direction)`` hook the cassette was recorded with, applied to the
        live post and approval answers (as ``"sent"`` frames) before they are compared.
        ``approval_timeout``: how many seconds to wait for the answer to an approval that was
        answered when recorded (default 10, shorter than the client's own 30 s timeouts;
        ``None``: no limit); then the turn ends with a `CassetteMismatch` naming the
        recorded answer. An approval never answered when recorded waits without a limit.

        Args:
            owner: Only this agent's or chatbot's turns (an id, or an `Owner`).
            speed: How fast to replay: ``None`` or ``0`` at once, ``1.0`` at the recorded pace.
            redact: The hook the cassette was recorded with, applied to live posts and
                approval answers before they are compared.
            approval_timeout: Seconds to wait for the answer to a recorded approval
                (``None``: no limit).

        Returns:
            The agent: give it to the engine as any agent function.

        Raises:
            TypeError: An argument is of a wrong type.
            ValueError: An argument is out of range.
        """
        if isinstance(owner, Owner):
            owner = owner.object_id
        if owner is not None and (not isinstance(owner, str) or not owner):
            raise TypeError(f"owner must be an id (a str) or an Owner, got {owner!r}")
        return ReplayAgent(
            self, owner=owner, speed=speed, redact=redact, approval_timeout=approval_timeout
        )

    def __repr__(self) -> str:
        return (
            f"<Cassette {self.name!r}: {len(self.recordings)} recordings, {len(self.turns)} turns>"
        )
