"""Sessions and their complete messages in SQLite (stdlib ``sqlite3``).

Only complete messages are stored, never deltas, so a 100,000-delta answer is one row. Rows are
small and SQLite runs in WAL mode with ``synchronous=NORMAL``, so a write costs microseconds
and is done inline, which keeps "stored before it is sent" trivially true.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

__all__ = ["SessionRow", "Store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id          TEXT PRIMARY KEY,
    object_type TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    owner       TEXT NOT NULL,
    created_at  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    session_id TEXT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_session ON messages (session_id, seq);
"""


@attrs.frozen
class SessionRow:
    id: str
    object_type: str
    object_id: str
    owner: str


class Store:
    """One SQLite connection, used from the engine's event loop thread only."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: every statement is its own short transaction.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    # --- sessions ---

    def create_session(self, session_id: str, object_type: str, object_id: str, owner: str) -> None:
        self._db.execute(
            "INSERT INTO sessions (id, object_type, object_id, owner, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (session_id, object_type, object_id, owner, time.time()),
        )

    def get_session(self, session_id: str) -> SessionRow | None:
        row = self._db.execute(
            "SELECT id, object_type, object_id, owner FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()
        return None if row is None else SessionRow(*row)

    def session_ids(self) -> list[str]:
        """Every session's id, oldest first."""
        rows = self._db.execute("SELECT id FROM sessions ORDER BY created_at, rowid")
        return [session_id for (session_id,) in rows]

    def count_sessions(self) -> int:
        count: int = self._db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
        return count

    def delete_session(self, session_id: str) -> None:
        with self._db:  # one transaction: the session and its messages go together
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))
            self._db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    # --- messages ---

    def add_message(self, message: Mapping[str, Any]) -> int:
        """Store one complete message (a stored-message dict); returns its sequence number."""
        cursor = self._db.execute(
            "INSERT INTO messages (id, session_id, body) VALUES (?, ?, ?)",
            (
                message["id"],
                message["session_id"],
                json.dumps(message, separators=(",", ":"), ensure_ascii=False),
            ),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def count_messages(self, session_id: str) -> int:
        count: int = self._db.execute(
            "SELECT COUNT(*) FROM messages WHERE session_id = ?", (session_id,)
        ).fetchone()[0]
        return count

    def history(
        self, session_id: str, before_seq: int | None = None, after_seq: int = 0
    ) -> list[dict[str, Any]]:
        """The session's messages in order: those stored after ``after_seq`` and (if given)
        before ``before_seq``."""
        if before_seq is None:
            rows = self._db.execute(
                "SELECT body FROM messages WHERE session_id = ? AND seq > ? ORDER BY seq",
                (session_id, after_seq),
            )
        else:
            rows = self._db.execute(
                "SELECT body FROM messages WHERE session_id = ? AND seq > ? AND seq < ? "
                "ORDER BY seq",
                (session_id, after_seq, before_seq),
            )
        return [json.loads(body) for (body,) in rows]

    def history_after(self, session_id: str, message_id: str) -> list[dict[str, Any]] | None:
        """The session's messages stored after ``message_id``, in order; ``None`` when that
        message is not in the session's history."""
        row = self._db.execute(
            "SELECT seq FROM messages WHERE id = ? AND session_id = ?", (message_id, session_id)
        ).fetchone()
        if row is None:
            return None
        return self.history(session_id, after_seq=row[0])
