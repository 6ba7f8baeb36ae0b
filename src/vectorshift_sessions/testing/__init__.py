"""Test your own code against the local engine: scripted agents, faults, recorded sessions.

Installing the package installs a pytest plugin (fixtures ``vectorshift_engine``,
``vectorshift_faults``, ``vectorshift_rogue_engine`` and ``vectorshift_cassette``). This
module holds what those fixtures hand out, for use with or without pytest. Its names are
imported when first used, so importing it (as the plugin does) costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names

if TYPE_CHECKING:
    from .._cassette import Recorder
    from ._cassette import (
        Cassette,
        CassetteError,
        CassetteMismatch,
        Owner,
        RecordedFrame,
        RecordedSession,
        RecordedTurn,
        ReplayAgent,
    )
    from ._engine import TEST_API_KEY, EngineFixture
    from ._faults import GARBAGE, FaultyProxy, RogueEngine
    from ._mismatch import Mismatch
    from ._plugin import CassetteFixture
    from ._script import Conversation, Exchange, user
    from ._steps import (
        ScriptMismatch,
        Step,
        approval,
        error,
        pause,
        reauth,
        say,
        search,
        status,
        task,
        thinking,
        tool,
    )

_LAZY: dict[str, str] = {
    "Recorder": ".._cassette",
    **dict.fromkeys(
        (
            "Cassette",
            "CassetteError",
            "CassetteMismatch",
            "Owner",
            "RecordedFrame",
            "RecordedSession",
            "RecordedTurn",
            "ReplayAgent",
        ),
        "._cassette",
    ),
    **dict.fromkeys(("EngineFixture", "TEST_API_KEY"), "._engine"),
    **dict.fromkeys(("FaultyProxy", "GARBAGE", "RogueEngine"), "._faults"),
    "Mismatch": "._mismatch",
    "CassetteFixture": "._plugin",
    **dict.fromkeys(("Conversation", "Exchange", "user"), "._script"),
    **dict.fromkeys(
        (
            "ScriptMismatch",
            "Step",
            "approval",
            "error",
            "pause",
            "reauth",
            "say",
            "search",
            "status",
            "task",
            "thinking",
            "tool",
        ),
        "._steps",
    ),
}


__getattr__, __dir__ = lazy_names(__name__, globals(), _LAZY)


__all__ = [
    "GARBAGE",
    "TEST_API_KEY",
    "Cassette",
    "CassetteError",
    "CassetteFixture",
    "CassetteMismatch",
    "Conversation",
    "EngineFixture",
    "Exchange",
    "FaultyProxy",
    "Mismatch",
    "Owner",
    "RecordedFrame",
    "RecordedSession",
    "RecordedTurn",
    "Recorder",
    "ReplayAgent",
    "RogueEngine",
    "ScriptMismatch",
    "Step",
    "approval",
    "error",
    "pause",
    "reauth",
    "say",
    "search",
    "status",
    "task",
    "thinking",
    "tool",
    "user",
]
