"""The `demo` and `chat` commands, run for real: a subprocess, or main() with real stdin text."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator

import pytest

from vectorshift_sessions._cli import main
from vectorshift_sessions.engine import LocalEngine

KEY = "sk-chat-test-key-123"


def test_demo_runs_end_to_end_and_shows_every_event_type() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vectorshift_sessions", "demo", "--turn-delay", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Event types shown: 16 of 16" in done.stdout
    assert "AsyncSession" in done.stdout and "Session (blocking" in done.stdout
    assert "Traceback" not in done.stderr


def chat(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], typed: str, *args: str
) -> tuple[int, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(typed))
    code = main(["chat", *args])
    return code, capsys.readouterr().out


def test_chat_with_the_embedded_engine_streams_and_asks_for_approval(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = chat(monkeypatch, capsys, "file a ticket please\ny\n/history\n/quit\n")
    assert code == 0
    assert "embedded local engine" in out
    assert "approve create_ticket? [y/N]" in out
    assert "filed ticket DEMO-1042" in out  # the approval went through
    assert "you   [data_type_message] file a ticket please" in out  # /history
    assert out.rstrip().endswith("bye")


def test_chat_denied_approval_and_end_of_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = chat(monkeypatch, capsys, "file a ticket please\nn\n")  # then Ctrl-D
    assert code == 0
    assert "declined the ticket" in out


@pytest.fixture(scope="module")
def keyed_engine() -> Iterator[LocalEngine]:
    with LocalEngine(db=":memory:", api_keys=[KEY]) as running:
        yield running


def test_chat_with_a_key_and_an_agent_talks_to_that_engine(
    keyed_engine: LocalEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    urls = ["--base-url", keyed_engine.base_url, "--ws-url", keyed_engine.ws_url]
    code, out = chat(
        monkeypatch, capsys, "hello echo\n/quit\n", "--agent", "echo", "--api-key", KEY, *urls
    )
    assert code == 0
    assert f"chatting through {keyed_engine.base_url}" in out
    assert "hello echo" in out
    assert KEY not in out


def test_chat_with_a_wrong_key_says_so(
    keyed_engine: LocalEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    urls = ["--base-url", keyed_engine.base_url, "--ws-url", keyed_engine.ws_url]
    code, out = chat(monkeypatch, capsys, "", "--chatbot", "echo", "--api-key", "sk-wrong", *urls)
    assert code == 1
    assert "error:" in out and "401" in out
    assert "sk-wrong" not in out
