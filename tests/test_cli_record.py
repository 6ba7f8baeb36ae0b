"""`vectorshift-sessions chat --record FILE`, run for real (main() with real stdin text): the
chat's session becomes a cassette, which then replays the same chat offline."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from vectorshift_sessions._cli import main
from vectorshift_sessions.engine import AgentSpec, LocalEngine
from vectorshift_sessions.testing._cassette import Cassette

KEY = "sk-record-cli-key-5a1b"
TYPED = "file a ticket please\ny\n/history\n/quit\n"


def chat(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], typed: str, *args: str
) -> tuple[int, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(typed))
    code = main(["chat", *args])
    return code, capsys.readouterr().out


def test_chat_records_a_cassette_that_replays_the_chat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "chat.jsonl"
    code, recorded = chat(monkeypatch, capsys, TYPED, "--record", str(path))
    assert code == 0, recorded
    assert f"recording the session into {path}" in recorded
    assert "filed ticket DEMO-1042" in recorded

    cassette = Cassette.load(path)
    (turn,) = cassette.turns  # /history is no turn
    assert turn.text == "file a ticket please"
    assert [a.approved if a else None for a in turn.approvals] == [True]
    assert [o.object_id for o in cassette.owners] == ["agent-demo"]

    agent = cassette.agent()
    with LocalEngine(db=":memory:", api_keys=[KEY], agents=[AgentSpec("demo", agent)]) as engine:
        urls = ["--base-url", engine.base_url, "--ws-url", engine.ws_url]
        again = tmp_path / "again.jsonl"
        code, replayed = chat(
            monkeypatch,
            capsys,
            TYPED,
            *("--agent", "demo", "--api-key", KEY, "--record", str(again), *urls),
        )
    assert code == 0, replayed
    assert "filed ticket DEMO-1042" in replayed
    assert agent.mismatches == []
    agent.assert_done()
    assert KEY not in again.read_text(encoding="utf-8")
    assert [t.text for t in Cassette.load(again).turns] == ["file a ticket please"]


def test_chat_refuses_a_cassette_in_a_missing_directory_before_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "missing" / "chat.jsonl"
    code, out = chat(monkeypatch, capsys, "hello\n", "--record", str(path))
    assert code == 1
    assert "cannot record to" in out and "directory does not exist" in out
    assert "embedded local engine" not in out  # nothing started
    assert not path.parent.exists()


@pytest.mark.parametrize(
    "content",
    [
        "hello\n",
        "notes without a newline",
        '{"cassette": "one", "rec": "x"}\n',  # JSON, but no header
        '[1, 2]\n{"cassette": 1}\n',
        "\n",
        "\udcff",
    ],
)
def test_chat_refuses_to_append_to_a_file_that_is_not_a_cassette(
    content: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    code, out = chat(monkeypatch, capsys, "hello\n", "--record", str(path))
    assert code == 1
    assert out == (
        f"error: {path} exists and is not a cassette (its first line is not a cassette "
        "header); pick another file\n"
    )
    assert path.read_bytes() == content.encode("utf-8", "surrogateescape")  # untouched


def test_chat_appends_to_an_empty_file_and_to_a_cassette(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "chat.jsonl"
    path.touch()
    for typed in ("first\n/quit\n", "second\n/quit\n"):
        code, out = chat(monkeypatch, capsys, typed, "--record", str(path), "--agent", "echo")
        assert code == 0, out
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    headers = [r for r in records if "cassette" in r]
    assert len(headers) == 2
    assert all(h["owner"]["name"] == "echo" for h in headers)  # from the agent's handle
    posts = [
        r["frame"]["content"]
        for r in records
        if r.get("dir") == "sent" and r["frame"]["type"] == "post_message"
    ]
    assert posts == ["first", "second"]
