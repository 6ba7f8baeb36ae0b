"""The logging helper: the session id on every line, URLs' user information scrubbed."""

from __future__ import annotations

import logging

import pytest

from vectorshift_sessions import _logs


def test_scrub_hides_a_urls_user_information() -> None:
    text = "could not reach http://user:s3cret@proxy.example:8080 (via socks5://bob@10.0.0.1)"
    assert _logs.scrub(text) == (
        "could not reach http://***@proxy.example:8080 (via socks5://***@10.0.0.1)"
    )
    assert _logs.scrub("no url here, just an @ sign") == "no url here, just an @ sign"


def test_a_line_names_its_session_and_carries_its_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="vectorshift_sessions")
    _logs.log(_logs.CONNECTION, logging.INFO, "s-1", "attempt %d via %s", 2, "ws://u:pw@h/x")
    _logs.log(_logs.SESSION, logging.INFO, None, "connecting")
    _logs.log(_logs.SESSION, logging.DEBUG, "s-1", "not shown at INFO")
    first, second = caplog.records
    assert first.getMessage() == "session s-1: attempt 2 via ws://***@h/x"
    assert first.session_id == "s-1"  # type: ignore[attr-defined]
    assert first.name == "vectorshift_sessions.connection"
    assert second.getMessage() == "session (new): connecting"
    assert second.session_id is None  # type: ignore[attr-defined]
