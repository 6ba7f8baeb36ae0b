"""The examples in examples/, run as tests (nox -s examples: once, on one Python)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: How to get what these tests need, for skip messages.
INSTALL_EXTRAS = "pip install -e '.[examples]'"


@pytest.fixture(autouse=True)
def _every_session_let_go(no_leaked_threads: None) -> None:
    """An example that leaves a blocking session connected fails its test (the session's
    thread is still running at the test's end)."""


def load_example(relative: str) -> ModuleType:
    """An example's module, loaded from its file (examples are not a package; several of them
    have an app.py)."""
    path = EXAMPLES / relative
    name = "example_" + relative.removesuffix(".py").replace("/", "_")
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def sse_messages(text: str) -> list[tuple[str, Any]]:
    """(event type, parsed data) of each Server-Sent Events message in ``text``; heartbeats
    (comment lines) are left out."""
    messages = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        kind, data = "message", []
        for line in block.split("\n"):
            field, _, value = line.partition(": ")
            if field == "event":
                kind = value
            elif field == "data":
                data.append(value)
        if data:
            messages.append((kind, json.loads("\n".join(data))))
    return messages
