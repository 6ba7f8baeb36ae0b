"""The cassette writer on its own (``_cassette.py``): what each line holds for any text, the API
key, errors, closing. Plus what only one flavour or a whole process can show: a send cancelled
on asyncio, and the interpreter exiting while a blocking session records. The rest (real
sessions in both flavours) is in ``tests/_async/test_recording.py``."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from vectorshift_sessions import AsyncSession
from vectorshift_sessions._cassette import REDACTED, Recorder, Recording
from vectorshift_sessions.engine import LocalEngine

KEY = "sk-writer-secret-8c1f"


def start(secret: str | None = None, **options: Any) -> tuple[io.StringIO, Recording]:
    stream = io.StringIO()
    recorder = Recorder(stream, **options)
    return stream, recorder.start(owner_type="agent", owner_id="agent-echo", secret=secret)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Every line of the cassette, decoded: each must be one JSON object."""
    text = stream.getvalue()
    assert text.endswith("\n") and text.isascii()
    return [json.loads(line) for line in text.split("\n")[:-1]]


def frames(stream: io.StringIO) -> list[dict[str, Any]]:
    """The frame lines (the header left out)."""
    return lines(stream)[1:]


# --- what a received text becomes -----------------------------------------------------------


def test_an_ascii_object_on_one_line_is_written_as_it_came() -> None:
    stream, recording = start()
    text = '{"type": "message_delta" ,"value":"x\\n\\"y\\"","index":1}'  # its own spacing
    recording.received([text])
    (line,) = stream.getvalue().splitlines()[1:]
    assert line.endswith(',"dir":"received","frame":' + text + "}")
    assert frames(stream)[0]["frame"] == json.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"type":"message_delta","value":',  # cut short
        '{"type":"pong"}}',  # one brace too many
        '{"type":"pong"} {"type":"pong"}',  # two objects
        '{"type":"pong"}\n{"type":"pong"}',  # two lines
        '{"type":"pong","value":"\x01"}',  # a raw control character in a string
        '{"type":"pong",}',
        "{not json at all",
        "[1, 2]",
        '"a string"',
        "",
        "{}x",
    ],
)
def test_a_text_that_is_not_one_json_object_is_kept_as_text(text: str) -> None:
    stream, recording = start()
    recording.received([text, '{"type":"pong"}'])
    first, second = frames(stream)
    assert first["text"] == text and "frame" not in first
    assert second["frame"] == {"type": "pong"}


@pytest.mark.parametrize(
    "text",
    [
        '{\n  "type": "pong",\r\n  "value": 1\n}',  # an object over several lines
        '{"type":"message_delta","value":"héllo ☃ 🎉"}',  # not ASCII
        '  {"type":"pong"}  ',  # blanks around it
    ],
)
def test_an_object_that_cannot_be_written_as_it_came_is_encoded_again(text: str) -> None:
    stream, recording = start()
    recording.received([text])
    (line,) = frames(stream)  # one line, ASCII (checked by frames)
    assert line["frame"] == json.loads(text)


def test_a_batch_is_one_time_and_sent_frames_keep_their_time() -> None:
    stream, recording = start()
    recording.sent('{"type":"ping_session","session_id":"s"}', 0.25)
    recording.received(['{"type":"pong"}', "garbage", '{"type":"pong"}'])
    sent, *received = frames(stream)
    assert sent["t"] == 0.25 and sent["dir"] == "sent"
    assert len({line["t"] for line in received}) == 1
    assert [line["dir"] for line in received] == ["received"] * 3


# --- the API key ------------------------------------------------------------------------------


def test_the_key_is_replaced_in_every_string_value_and_nowhere_else() -> None:
    stream, recording = start(KEY)
    recording.sent(json.dumps({"type": "post_message", "content": f"my key: {KEY}!"}))
    nested = {"type": "message_notification", "message": {"content": {"items": ["a", KEY]}}}
    recording.received(
        [
            json.dumps(nested),
            json.dumps({"type": "message_delta", "value": KEY}).replace("w", "\\u0077"),
            json.dumps({"type": "message_delta", "value": f"é {KEY}"}, ensure_ascii=False),
            f"not json, but {KEY} in it",
        ]
    )
    assert KEY not in stream.getvalue()
    sent, notification, escaped, accented, raw = frames(stream)
    assert sent["frame"]["content"] == f"my key: {REDACTED}!"
    assert notification["frame"]["message"]["content"]["items"] == ["a", REDACTED]
    assert escaped["frame"]["value"] == REDACTED  # spelled with \u escapes, found all the same
    assert accented["frame"]["value"] == f"é {REDACTED}"
    assert raw["text"] == f"not json, but {REDACTED} in it"


def test_a_key_in_a_member_name_or_the_protocols_words_changes_no_structure() -> None:
    secret = "essage_id"  # in "message_id": a member name is never touched
    stream, recording = start(secret)
    recording.received([json.dumps({"type": "message_delta", "message_id": "m", "value": secret})])
    (line,) = frames(stream)
    assert line["frame"] == {"type": "message_delta", "message_id": "m", "value": REDACTED}


def test_a_key_shorter_than_eight_characters_is_never_looked_for() -> None:
    for secret, replaced in (("sk-1234", False), ("sk-12345", True)):
        stream, recording = start(secret)
        recording.received([json.dumps({"type": "message_delta", "value": f"{secret} echo"})])
        recording.received([f"raw {secret}"])
        delta, raw = frames(stream)
        assert (delta["frame"]["value"] == f"{REDACTED} echo") is replaced
        assert (raw["text"] == f"raw {REDACTED}") is replaced


def test_the_key_stays_out_whatever_redact_returns() -> None:
    def add_key(frame: dict[str, Any], direction: str) -> dict[str, Any]:
        return {**frame, "note": f"added {KEY}"}

    stream, recording = start(KEY, redact=add_key)
    recording.received(['{"type":"pong"}'])
    (line,) = frames(stream)
    assert line["frame"] == {"type": "pong", "note": f"added {REDACTED}"}


# --- errors -----------------------------------------------------------------------------------


def test_the_first_error_is_kept_on_the_recorder_and_logged_without_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    raised: list[Exception] = []

    def failing(frame: dict[str, Any], direction: str) -> dict[str, Any]:
        error = LookupError(f"no rule for {frame['type']}")
        raised.append(error)
        raise error

    stream = io.StringIO()
    recorder = Recorder(stream, redact=failing)
    assert recorder.error is None
    first = recorder.start(secret=KEY)
    second = recorder.start(secret=KEY)
    with caplog.at_level(logging.ERROR, logger="vectorshift_sessions.cassette"):
        first.received(['{"type":"pong"}'])
        first.received(['{"type":"pong"}'])  # stopped: nothing more, no second error
        second.received([json.dumps({"type": KEY})])
    assert first.closed and second.closed
    assert recorder.error is raised[0]  # the first one, as it was raised (no key in it)
    assert len(raised) == 2 and len(caplog.records) == 2
    assert all(r.levelno == logging.ERROR for r in caplog.records)
    assert "stopped recording" in caplog.records[0].getMessage()
    assert "LookupError: no rule for pong" in caplog.records[0].getMessage()
    assert f"no rule for {REDACTED}" in caplog.records[1].getMessage()
    assert KEY not in caplog.text
    with pytest.raises(AttributeError):
        recorder.error = None


def test_an_error_holding_the_key_is_kept_as_a_runtime_error_without_it() -> None:
    def failing(frame: dict[str, Any], direction: str) -> dict[str, Any]:
        try:
            raise KeyError(KEY)
        except KeyError as exc:
            raise ValueError("redaction failed") from exc  # the key is in its cause

    stream = io.StringIO()
    recorder = Recorder(stream, redact=failing)
    recorder.start(secret=KEY).received(['{"type":"pong"}'])
    error = recorder.error
    assert type(error) is RuntimeError
    assert str(error) == "ValueError: redaction failed"
    assert error.__cause__ is None and error.__context__ is None


# --- closing ----------------------------------------------------------------------------------


def test_frames_after_the_close_are_dropped_silently(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "closed.jsonl"
    recorder = Recorder(path)
    recording = recorder.start()
    recording.received(['{"type":"pong"}'])
    # What the interpreter's exit does to a recording still open: its finalizer closes the file.
    finalizer = recording._finalizer
    assert finalizer is not None
    finalizer()
    assert recording.closed
    with caplog.at_level(logging.DEBUG, logger="vectorshift_sessions.cassette"):
        recording.received(['{"type":"pong"}'])
        recording.sent('{"type":"ping_session","session_id":"s"}')
        recording.close()
    assert caplog.records == [] and recorder.error is None
    assert len(path.read_text(encoding="utf-8").splitlines()) == 2


# --- a send cancelled on asyncio --------------------------------------------------------------


async def test_a_send_cancelled_after_its_bytes_went_out_is_recorded(tmp_path: Path) -> None:
    path = tmp_path / "cancelled.jsonl"
    # 12 MiB: more than a socket takes at once, so the send then waits for its buffer to drain.
    # The bench agent reads "0 1" (no deltas) and ignores the rest.
    big = "0 1 " + "x" * (12 * 1024 * 1024)
    async with LocalEngine(db=":memory:") as engine:
        session = AsyncSession(
            owner_type="agent",
            owner_id="agent-bench",
            ws_url=engine.ws_url,
            ping_interval=None,
            record_to=path,
        )
        async with session:
            sending = asyncio.ensure_future(session.send(big))
            await asyncio.sleep(0)  # one step: it runs up to its first wait
            # ... which is the transport's, for the write buffer to drain: the frame's bytes
            # are written already (without this, the test would prove nothing).
            transport = session._conn._transport
            assert transport is not None and transport._drained is not None
            sending.cancel()
            with pytest.raises(asyncio.CancelledError):
                await sending
            # Asked after it: answered once the engine has it.
            history = await session.get_messages()
            assert [(m.text or "")[:4] for m in history if m.is_user] == ["0 1 "]
    recorded = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    posts = [
        line["frame"]
        for line in recorded
        if line.get("dir") == "sent" and line["frame"]["type"] == "post_message"
    ]
    assert len(posts) == 1 and posts[0]["content"] == big


# --- the interpreter exits while a blocking session records --------------------------------


def test_an_interpreter_exit_while_a_reader_thread_records_is_quiet(tmp_path: Path) -> None:
    path = tmp_path / "exit.jsonl"
    with LocalEngine(db=":memory:") as engine:
        script = textwrap.dedent(
            f"""
            import atexit
            import weakref

            # Exit handlers run last registered first: this one, registered before the first
            # finalizer, runs after the finalizers closed the files of what is left open. The
            # session still streams meanwhile: its reader thread keeps recording.
            assert not weakref.finalize._registered_with_atexit

            def at_exit():
                listener = session.listen(event_types=["message_delta"], maxsize=0)
                for seen, _ in enumerate(listener):
                    if seen == 20_000:  # past what waited unread: new frames, recorded first
                        break
                print("left", flush=True)

            atexit.register(at_exit)

            from vectorshift_sessions import Session

            session = Session(
                owner_type="agent",
                owner_id="agent-bench",
                ws_url={engine.ws_url!r},
                ping_interval=None,
                record_to={str(path)!r},
            ).connect()
            session.send("1000000")  # a long stream, recorded as the interpreter exits
            for event in session.listen(event_types=["message_delta"]):
                break  # under way
            print("exiting", flush=True)
            """
        )
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["exiting", "left"]
    assert done.stderr == "", done.stderr
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    recorded = [json.loads(line) for line in text.splitlines()]  # no line cut short
    assert any(line.get("frame", {}).get("type") == "message_delta" for line in recorded)
