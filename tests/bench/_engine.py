"""The local engine in its own process, started once per run (port 0, in-memory database)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

_WS_LINE = re.compile(r"WebSocket:\s+(ws://\S+)/ws/session")
_CUT_LINE = re.compile(r"^cut (\d+)$")
_NOFILE_LINE = re.compile(r"^nofile (\d+)$")
ROOT = Path(__file__).resolve().parents[2]


class EngineProcess:
    """The engine as ``vectorshift-sessions engine --port 0 --db :memory:`` runs it, in a
    subprocess (``_engine_host``: the same engine, with its open-file limit raised and
    ``SIGUSR1`` to cut every connection).

    ``ws_base`` is the WebSocket base URL (``ws://127.0.0.1:PORT/v1``): clients add
    ``/ws/session``; ``env()`` gives the variables the official client reads.
    """

    def __init__(self, max_sessions: int = 1_000_000) -> None:
        self.max_sessions = max_sessions
        self.ws_base = ""
        self._proc: subprocess.Popen[str] | None = None
        self._output: list[str] = []

    def __enter__(self) -> EngineProcess:
        cmd = [sys.executable, "-m", "tests.bench._engine_host", str(self.max_sessions)]
        self._proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self._proc.stdout is not None
        deadline = time.monotonic() + 30
        for line in self._proc.stdout:
            self._output.append(line)
            match = _WS_LINE.search(line)
            if match:
                self.ws_base = match.group(1)
                break
            if time.monotonic() > deadline:
                break
        if not self.ws_base:
            self.__exit__(None, None, None)
            raise RuntimeError("the engine did not start:\n" + "".join(self._output))
        # Keep draining its output so a chatty engine never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            self._output.append(line)

    @property
    def session_url(self) -> str:
        return self.ws_base + "/ws/session"

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    @property
    def nofile(self) -> int | None:
        """The engine process's open-file limit, as it reported it at start."""
        for line in self._output:
            if match := _NOFILE_LINE.match(line.strip()):
                return int(match.group(1))
        return None

    def cuts(self) -> list[int]:
        """How many connections each cut so far dropped (``SIGUSR1``; the engine's answers)."""
        return [int(m.group(1)) for line in list(self._output) if (m := _CUT_LINE.match(line))]

    def listen_backlog(self) -> int | None:
        """The listening socket's accept backlog as the kernel holds it (``ss``: a listening
        socket's Send-Q), or None where ``ss`` cannot tell."""
        port = self.ws_base.rsplit(":", 1)[-1].split("/", 1)[0]
        try:
            out = subprocess.run(
                ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, timeout=10
            ).stdout.split()
            return int(out[2])
        except (OSError, subprocess.SubprocessError, IndexError, ValueError):
            return None

    def env(self) -> dict[str, str]:
        http_base = self.ws_base.replace("ws://", "http://", 1)
        return {"VECTORSHIFT_WS_URL": self.ws_base, "VECTORSHIFT_BASE_URL": http_base}

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
