"""The pytest plugin (entry point ``pytest11``): installing the package is enough.

Fixtures: ``vectorshift_engine`` (a fresh local engine per test, the environment pointing at
it), ``vectorshift_faults`` (a fault-injecting proxy in front of it), ``vectorshift_rogue_engine``
(an engine that sends garbage) and ``vectorshift_cassette`` (replay or record a cassette).
Options: ``--vectorshift-turn-delay`` and ``--vectorshift-record-mode``. Markers:
``vectorshift_engine(turn_delay=..., extensions=..., api_key=...)`` and
``vectorshift_cassette(path=None, *, redact=None)``.

This module imports nothing of the package at import time: a test run that uses none of the
fixtures pays for nothing but this file.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pluggy import Result

    from ._cassette import Cassette
    from ._engine import EngineFixture
    from ._faults import FaultyProxy, RogueEngine

RECORD_MODES = ("none", "once", "rewrite")
_ENV = ("VECTORSHIFT_BASE_URL", "VECTORSHIFT_WS_URL", "VECTORSHIFT_API_KEY")
_ENGINE_OPTIONS = ("turn_delay", "extensions", "api_key")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vectorshift", "vectorshift-sessions test doubles")
    group.addoption(
        "--vectorshift-turn-delay",
        type=float,
        default=None,
        metavar="SECONDS",
        help="pause this long before each delta and event of the vectorshift_engine fixture's "
        "turns (default 0: instant), to test code that races a stream",
    )
    group.addoption(
        "--vectorshift-record-mode",
        choices=RECORD_MODES,
        default="none",
        help="vectorshift_cassette: 'none' replays only (a missing cassette fails), 'once' "
        "records a missing cassette, 'rewrite' records every cassette afresh",
    )


def pytest_configure(config: pytest.Config) -> None:
    delay = config.getoption("--vectorshift-turn-delay")
    if delay is not None and not delay >= 0:  # also refuses nan
        raise pytest.UsageError(f"--vectorshift-turn-delay must be >= 0 seconds, got {delay}")
    config.addinivalue_line(
        "markers",
        "vectorshift_engine(turn_delay=0.0, extensions=True, api_key=...): options of "
        "the vectorshift_engine fixture's engine for this test",
    )
    config.addinivalue_line(
        "markers",
        "vectorshift_cassette(path=None, *, redact=None, speed=None, approval_timeout=10.0): "
        "replay (or record) this cassette (relative to the test file's cassettes/ folder); "
        "redact(frame, direction) -> frame is applied before frames are written and to what "
        "a replay compares; speed=1.0 replays at the recorded pace",
    )


@pytest.fixture(autouse=True)
def _vectorshift_markers(request: pytest.FixtureRequest) -> None:
    """A test marked ``vectorshift_cassette`` or ``vectorshift_engine`` gets the fixture even
    when it does not ask for it by name (as ``@pytest.mark.vcr`` does)."""
    for name in ("vectorshift_cassette", "vectorshift_engine"):
        if request.node.get_closest_marker(name) is not None:
            request.getfixturevalue(name)


def _engine_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    options: dict[str, Any] = {}
    delay = request.config.getoption("--vectorshift-turn-delay")
    if delay is not None:
        options["turn_delay"] = delay
    options.update(_marker_options(request, "vectorshift_engine", _ENGINE_OPTIONS))
    return options


def _marker_options(
    request: pytest.FixtureRequest, name: str, known: tuple[str, ...], positional: str = ""
) -> dict[str, Any]:
    """The keywords of every ``name`` marker on the test (module, class, test: the closest
    wins, keyword by keyword); a positional argument, where one is allowed, stands for the
    keyword ``positional``."""
    options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers(name))):
        if len(marker.args) > (1 if positional else 0):
            allowed = f"one {positional} at most" if positional else "keywords only"
            raise pytest.UsageError(f"@pytest.mark.{name} takes {allowed}")
        unknown = sorted(set(marker.kwargs) - set(known))
        if unknown:
            raise pytest.UsageError(
                f"@pytest.mark.{name}: unknown option(s) {', '.join(unknown)}; "
                f"known: {', '.join(known)}"
            )
        options.update(marker.kwargs)
        if marker.args:
            options[positional] = marker.args[0]
    return options


@pytest.fixture
def vectorshift_engine(request: pytest.FixtureRequest) -> Iterator[EngineFixture]:
    """A fresh local engine (in-memory store, own thread) for this test, with
    ``VECTORSHIFT_BASE_URL``, ``VECTORSHIFT_WS_URL`` and ``VECTORSHIFT_API_KEY`` pointing at it
    (restored afterwards). Serves sync and async tests alike. Fails the test at its end if a
    scripted agent or a cassette added to it saw something it did not expect."""
    from ._engine import EngineFixture

    with EngineFixture(**_engine_options(request)) as engine, pytest.MonkeyPatch.context() as mp:
        for name in _ENV:
            mp.delenv(name, raising=False)
        for name, value in engine.env().items():
            mp.setenv(name, value)
        yield engine
    problem = engine.problem(finished=_test_passed(request))
    if problem is not None:
        pytest.fail(f"{type(problem).__name__}: {problem}", pytrace=False)


@pytest.fixture
def vectorshift_faults(
    vectorshift_engine: EngineFixture,
) -> Iterator[FaultyProxy]:
    """A proxy in front of ``vectorshift_engine`` that cuts, stalls, slows or refuses
    connections on demand; ``VECTORSHIFT_BASE_URL`` / ``VECTORSHIFT_WS_URL`` go through it."""
    from ._faults import FaultyProxy

    with FaultyProxy(vectorshift_engine.port) as proxy, pytest.MonkeyPatch.context() as mp:
        for name, value in proxy.env().items():
            mp.setenv(name, value)
        yield proxy


@pytest.fixture
def vectorshift_rogue_engine() -> Iterator[RogueEngine]:
    """An engine that acknowledges posts, then sends garbage among good frames;
    ``VECTORSHIFT_WS_URL`` and ``VECTORSHIFT_BASE_URL`` point at it."""
    from ._faults import RogueEngine

    with RogueEngine() as rogue, pytest.MonkeyPatch.context() as mp:
        for name in _ENV:
            mp.delenv(name, raising=False)
        for name, value in rogue.env().items():
            mp.setenv(name, value)
        yield rogue


class CassetteFixture:
    """What the ``vectorshift_cassette`` fixture hands out.

    ``path``: the cassette file. ``recording``: whether this test records it (else it is
    replayed). ``cassette``: the loaded `Cassette` when replaying, else ``None``.

    Args:
        path: The cassette file.
        recording: Whether this test records it.
        cassette: The loaded cassette when replaying, else ``None``.

    Attributes:
        path: The cassette file.
        recording: Whether this test records it (else it is replayed).
        cassette: The loaded cassette when replaying, else ``None``.
    """

    def __init__(self, path: Path, recording: bool, cassette: Cassette | None):
        self.path = path
        self.recording = recording
        self.cassette = cassette

    def __repr__(self) -> str:
        mode = "recording" if self.recording else "replaying"
        return f"<CassetteFixture {mode} {str(self.path)!r}>"


_CASSETTE_OPTIONS = ("path", "redact", "speed", "approval_timeout")


def _cassette_options(request: pytest.FixtureRequest) -> tuple[Path, dict[str, Any]]:
    """The cassette's path and its options, merged from every ``vectorshift_cassette``
    marker (module, class, test: the closest wins, keyword by keyword)."""
    options = _marker_options(request, "vectorshift_cassette", _CASSETTE_OPTIONS, "path")
    name = options.pop("path", None)
    folder = Path(request.path).parent / "cassettes"
    if name is not None:
        return folder / name, options
    # cassettes/<module>/<Class.test[params]>.jsonl, as pytest-recording names them
    test = ".".join(request.node.nodeid.split("::")[1:])
    return folder / Path(request.path).stem / f"{_UNSAFE.sub('-', test)}.jsonl", options


_UNSAFE = re.compile(r"[^\w.\[\]-]+")
_OUTCOMES = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Result[pytest.TestReport], None]:
    """Keep each phase's report on the test, for the fixtures' teardown to read."""
    outcome = yield
    report = outcome.get_result()
    item.stash.setdefault(_OUTCOMES, {})[report.when] = report


def _test_passed(request: pytest.FixtureRequest) -> bool:
    report = request.node.stash.get(_OUTCOMES, {}).get("call")
    return report is not None and report.passed


@pytest.fixture
def vectorshift_cassette(request: pytest.FixtureRequest) -> Iterator[CassetteFixture]:
    """Replay a recorded cassette through ``vectorshift_engine``, or record one.

    The cassette is named by ``@pytest.mark.vectorshift_cassette("name.jsonl")`` (in the test
    file's ``cassettes/`` folder; by default ``cassettes/<module>/<Class.test>.jsonl``). With
    ``--vectorshift-record-mode=none`` (the default) it is replayed: its recorded agents and
    chatbots are served under their recorded ids (and names, when recorded), and anything
    unrecorded fails; an agent the test adds under one of those ids leaves the replay in
    place, so a test that adds its own agent to record against the local engine replays
    unchanged. ``once`` records a missing cassette, ``rewrite`` records afresh: every session
    the test opens is recorded, against the hosted engine when ``VECTORSHIFT_API_KEY`` was set
    before the test, else against the local engine. A recording replaces the cassette only
    when the test passes.
    """
    path, options = _cassette_options(request)
    redact = options.get("redact")
    mode = request.config.getoption("--vectorshift-record-mode")
    if mode == "rewrite" or (mode == "once" and not path.exists()):
        yield from _record(request, path, redact)
        return
    if not path.exists():
        pytest.fail(
            f"cassette {path} not found; record it with --vectorshift-record-mode=once",
            pytrace=False,
        )
    from ._cassette import Cassette

    cassette = Cassette.load(path)
    engine: EngineFixture = request.getfixturevalue("vectorshift_engine")
    engine._replay(cassette, cassette.agent(**options))
    yield CassetteFixture(path, False, cassette)


def _record(request: pytest.FixtureRequest, path: Path, redact: Any) -> Iterator[CassetteFixture]:
    from .. import _cassette

    hosted = bool(os.environ.get("VECTORSHIFT_API_KEY")) and "vectorshift_engine" not in (
        request.fixturenames
    )
    engine: EngineFixture | None = None
    if not hosted:
        engine = request.getfixturevalue("vectorshift_engine")
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(path.name + ".recording")
    draft.unlink(missing_ok=True)
    recorder = _cassette.Recorder(draft, redact=redact)
    try:
        with _cassette.recording(recorder):
            yield CassetteFixture(path, True, None)
    finally:
        # A test that passed, but whose scripted agents saw what they did not expect, must
        # not leave a cassette that replays green.
        passed = _test_passed(request) and (engine is None or engine.problem() is None)
        if passed and recorder.error is None:
            draft.replace(path)
        else:
            draft.unlink(missing_ok=True)
    if recorder.error is not None:
        pytest.fail(
            f"the recording of {path} stopped: {recorder.error}; the cassette was left as it was",
            pytrace=False,
        )
    if not passed:
        warnings.warn(
            f"the test failed while recording {path}: the cassette was left as it was",
            stacklevel=1,
        )
