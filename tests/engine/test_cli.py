"""The ``vectorshift-sessions`` command line: ``engine`` as a real process, and ``--help``."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest

from tests.engine._helpers import TIMEOUT, raw_client, text_of
from vectorshift_sessions._cli import build_parser, main


async def start_engine(
    *args: str, preexec_fn: Callable[[], None] | None = None
) -> tuple[asyncio.subprocess.Process, list[str]]:
    """``python -m vectorshift_sessions engine ARGS``, and its banner up to the stop hint."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vectorshift_sessions",
        "engine",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=preexec_fn,
    )
    assert process.stdout is not None
    banner = []
    while not banner or not banner[-1].startswith("Press Ctrl-C"):
        line = await asyncio.wait_for(process.stdout.readline(), TIMEOUT)
        if not line:
            _, err = await process.communicate()
            raise AssertionError(f"the engine exited early: {err.decode()}")
        banner.append(line.decode().rstrip("\n"))
    return process, banner


def value(banner: list[str], label: str) -> str:
    return next(line.split(label, 1)[1].strip() for line in banner if label in line)


async def stop(process: asyncio.subprocess.Process) -> tuple[str, str]:
    process.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    return out.decode(), err.decode()


@pytest.mark.skipif(sys.platform == "win32", reason="open-file limits are POSIX")
async def test_engine_raises_its_open_files_limit_for_many_sessions() -> None:
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard <= 256:
        pytest.skip(f"the hard limit ({hard}) leaves nothing to raise")

    def low_soft_limit() -> None:  # as many machines start: a soft limit far below the hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    process, _ = await start_engine("--port", "0", "--db", ":memory:", preexec_fn=low_soft_limit)
    try:
        soft, _ = psutil.Process(process.pid).rlimit(psutil.RLIMIT_NOFILE)
    finally:
        await stop(process)
    assert soft == hard


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
async def test_engine_serves_prints_urls_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    db = tmp_path / "cli.sqlite3"
    process, banner = await start_engine("--port", "0", "--db", str(db))
    try:
        base_url = value(banner, "export VECTORSHIFT_BASE_URL=")
        ws_url = value(banner, "export VECTORSHIFT_WS_URL=")
        assert value(banner, "REST API:") == base_url
        assert value(banner, "WebSocket:") == ws_url + "/ws/session"
        assert value(banner, "Database:") == str(db)
        assert "echo (agent-echo)" in value(banner, "Agents:")
        assert "VECTORSHIFT_API_KEY" not in "\n".join(banner)
        async with httpx.AsyncClient() as http:
            assert (await http.get(base_url + "/health")).json()["status"] == "ok"

        async with raw_client(ws_url + "/ws/session") as client:
            sid = await client.new_session()
            await client.send(type="post_message", session_id=sid, content="over the cli")
            await client.recv()
            assert text_of(await client.until_idle()) == "over the cli"
            out, err = await stop(process)  # with a client still connected
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    assert "Traceback" not in err and "Traceback" not in out
    assert out.strip().endswith("engine stopped")
    assert db.exists()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
async def test_engine_with_keys_does_not_print_them() -> None:
    process, banner = await start_engine(
        "--port", "0", "--db", ":memory:", "--api-key", "sk-secret-1", "--api-key", "sk-secret-2"
    )
    try:
        text = "\n".join(banner)
        assert "export VECTORSHIFT_API_KEY=<one of the --api-key values>" in text
        assert "sk-secret" not in text
        base_url = value(banner, "export VECTORSHIFT_BASE_URL=")
        async with httpx.AsyncClient(base_url=base_url) as http:
            assert (await http.get("/agents")).status_code == 401
            ok = await http.get("/agents", headers={"Authorization": "Bearer sk-secret-2"})
            assert ok.status_code == 200
    finally:
        out, err = await stop(process)
    assert process.returncode == 0 and "Traceback" not in err
    assert "sk-secret" not in out + err


def test_port_in_use_is_a_clean_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["engine", "--port", str(port), "--db", ":memory:"]) == 1
    assert f"cannot serve on 127.0.0.1:{port}" in capsys.readouterr().err


def test_bad_config_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"agents": {"x": {"kind": "magic"}}}')
    assert main(["engine", "--port", "0", "--db", ":memory:", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "'kind' must be one of" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv", [["--help"], ["engine", "--help"], ["demo", "--help"], ["chat", "--help"]]
)
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: vectorshift-sessions")
    if argv == ["engine", "--help"]:
        for option in ("--host", "--port", "--db", "--api-key", "--config"):
            assert option in out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_parser_has_one_subcommand_per_function() -> None:
    parser = build_parser()
    args = parser.parse_args(["engine", "--port", "0"])
    assert args.run.__name__ == "run_engine" and args.port == 0 and args.host == "127.0.0.1"


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "vectorshift-sessions"
    if not script.exists():
        pytest.skip("console script not installed in this environment")
    assert os.access(script, os.X_OK)
