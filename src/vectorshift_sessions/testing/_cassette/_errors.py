"""What loading or replaying a cassette raises, and the advice its messages end with."""

from __future__ import annotations

from .._mismatch import Mismatch

__all__ = ["RERECORD", "CassetteError", "CassetteMismatch"]

#: How to get a cassette that matches the code again (the end of mismatch messages).
RERECORD = (
    "if the code changed on purpose, record the cassette again "
    "(pytest --vectorshift-record-mode=rewrite with the plugin, or a session with record_to=)"
)


class CassetteError(ValueError):
    """A cassette that cannot be loaded: not JSON Lines, a line without a required field, a
    frame before its recording's header, or a format newer than this package reads.

    ``path`` names the file (or the name given to `Cassette.loads`), ``line`` the line
    (from 1; ``None`` for the file as a whole); the message names both, and says what to do.

    Args:
        path: The file, or the name given to `Cassette.loads`.
        line: The line, from 1; ``None`` for the file as a whole.
        reason: What is wrong, and what to do.

    Attributes:
        path: The file, or the name given to `Cassette.loads`.
        line: The line, from 1, or ``None``.
        reason: What is wrong.
    """

    def __init__(self, path: str, line: int | None, reason: str):
        where = path if line is None else f"{path}, line {line}"
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


class CassetteMismatch(Mismatch):
    """The code under test did not do what the cassette recorded: a post that is not the
    one recorded next, an approval answered otherwise (or not at all), turns never replayed.
    The message names what was recorded and what came, and how to record again."""
