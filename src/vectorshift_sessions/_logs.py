"""The package's loggers: one hierarchy under ``vectorshift_sessions``, each named for what it
reports (``docs/logging.md`` says the same for users).

=====================================  =========================================================
logger                                 what it says, and at which level
=====================================  =========================================================
``vectorshift_sessions.session``       DEBUG: connecting, the session created or resumed,
                                       disconnected or terminated.
``vectorshift_sessions.connection``    WARNING: the connection lost, a silent connection
                                       dropped, a malformed frame dropped (its details, which
                                       may quote the engine, at DEBUG only). INFO: each
                                       reconnection attempt with its delay, an attempt that
                                       failed, reconnected. ERROR: recovery gave up, the reader
                                       failed (a bug). DEBUG: a frame of an unknown type.
``vectorshift_sessions.listener``      WARNING: a listener fell behind and lost events (an
                                       overflow notice).
``vectorshift_sessions.client``        INFO: a REST request retried. WARNING: a one-shot
                                       ``run()`` could not release its session.
``vectorshift_sessions.cassette``      ERROR: a cassette could not be written.
``vectorshift_sessions.telemetry``     WARNING: OpenTelemetry instrumentation failed (the
                                       session goes on without it).
``vectorshift_sessions.engine``        the local engine: listening, stopped, agents' failures.
=====================================  =========================================================

Every line about a session names it in the message (``session <id>: ...``) and carries it as
``record.session_id`` (``extra={"session_id": ...}``), so a handler or filter can select one
session's lines. No line carries an API key, a proxy's password or message content (user
text, deltas, tool arguments or results) above DEBUG.
"""

from __future__ import annotations

import logging
import re

__all__ = [
    "CASSETTE",
    "CLIENT",
    "CONNECTION",
    "ENGINE",
    "LISTENER",
    "SESSION",
    "TELEMETRY",
    "log",
    "scrub",
]

SESSION = logging.getLogger("vectorshift_sessions.session")
CONNECTION = logging.getLogger("vectorshift_sessions.connection")
LISTENER = logging.getLogger("vectorshift_sessions.listener")
CLIENT = logging.getLogger("vectorshift_sessions.client")
CASSETTE = logging.getLogger("vectorshift_sessions.cassette")
TELEMETRY = logging.getLogger("vectorshift_sessions.telemetry")
ENGINE = logging.getLogger("vectorshift_sessions.engine")

#: A URL's user information (``scheme://user:password@host``): a proxy's password, say.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")


def scrub(text: str) -> str:
    """``text`` without the user information of any URL in it (``scheme://***@host``)."""
    return _USERINFO.sub(r"\g<scheme>***@", text) if "@" in text else text


def log(
    logger: logging.Logger,
    level: int,
    session_id: str | None,
    message: str,
    *args: object,
    exc_info: bool = False,
) -> None:
    """One line about session ``session_id``: ``session <id>: <message % args>`` (``session
    (new)`` before the engine gave it an id), with the id as ``record.session_id``. Arguments that are not numbers are scrubbed of URLs' user
    information (see ``scrub``)."""
    if not logger.isEnabledFor(level):
        return
    shown = tuple(a if isinstance(a, (int, float)) else scrub(str(a)) for a in args)
    logger.log(
        level,
        "session %s: " + message,
        session_id or "(new)",
        *shown,
        extra={"session_id": session_id},
        exc_info=exc_info,
    )
