"""Waiting for what a test cannot be told about: a condition polled up to a deadline."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

import psutil


def wait_until(condition: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    """Return once ``condition()`` is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout} s")
        time.sleep(0.01)


def engine_connections(port: int) -> list[object]:
    """This process's open TCP connections to the engine on ``port`` (sessions attached)."""
    return [
        c
        for c in psutil.Process(os.getpid()).net_connections("tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    ]


async def await_until(condition: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    """``wait_until`` for a test's event loop: the loop goes on serving while it waits."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout} s")
        await asyncio.sleep(0.01)
