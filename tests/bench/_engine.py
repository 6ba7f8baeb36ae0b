"""The local engine in its own process, started once per run (port 0, in-memory database)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from types import TracebackType

_WS_LINE = re.compile(r"WebSocket:\s+(ws://\S+)/ws/session")


class EngineProcess:
    """``vectorshift-sessions engine --port 0 --db :memory:`` as a subprocess.

    ``ws_base`` is the WebSocket base URL (``ws://127.0.0.1:PORT/v1``): clients add
    ``/ws/session``; ``env()`` gives the variables the official client reads.
    """

    def __init__(self, max_sessions: int = 1_000_000) -> None:
        self.max_sessions = max_sessions
        self.ws_base = ""
        self._proc: subprocess.Popen[str] | None = None
        self._output: list[str] = []

    def __enter__(self) -> EngineProcess:
        cmd = [
            sys.executable,
            "-m",
            "vectorshift_sessions",
            "engine",
            "--port",
            "0",
            "--db",
            ":memory:",
            "--max-sessions",
            str(self.max_sessions),
            "--log-level",
            "error",
        ]
        self._proc = subprocess.Popen(
            cmd,
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
