"""The pytest plugin in real pytest runs (pytester, in subprocesses): the fixtures as a user's
project meets them, isolation between tests, options and markers, and the cost of loading it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.timeout(120)

#: Checks, around every test of the temporary project, that a test leaves nothing behind: the
#: environment as it was, no thread of the engine, the proxy or a session, no socket.
ISOLATION_CONFTEST = """
import os, threading
import psutil, pytest

SENTINEL = {"VECTORSHIFT_BASE_URL": "http://sentinel.invalid/v1",
            "VECTORSHIFT_WS_URL": "ws://sentinel.invalid/v1"}

def ours():
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("vectorshift"))

def sockets():
    return [c for c in psutil.Process().net_connections(kind="inet") if c.status != "TIME_WAIT"]

@pytest.fixture(autouse=True)
def nothing_left_behind(monkeypatch):
    for name, value in SENTINEL.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("VECTORSHIFT_API_KEY", raising=False)
    before = len(sockets())
    yield
    assert {name: os.environ.get(name) for name in SENTINEL} == SENTINEL
    assert "VECTORSHIFT_API_KEY" not in os.environ
    assert ours() == []
    assert len(sockets()) == before, sockets()
"""

USER_TESTS = """
import os
import pytest
from vectorshift_sessions import Agent, AsyncSession, ReconnectPolicy, Session
from vectorshift_sessions.engine import Turn

FAST = ReconnectPolicy(initial_delay=0.005, max_delay=0.05, deadline=30)
PORTS = []

async def greeter(turn: Turn) -> None:
    await turn.say(f"Hello, {turn.text}!")

def wait_reconnected(listener):
    for event in listener:
        if event.data.get("source") == "client" and event.data.get("status") == "Connected":
            return

def test_sync(vectorshift_engine):
    vectorshift_engine.add_agent("greeter", greeter)
    PORTS.append(vectorshift_engine.port)
    with Agent.fetch(name="greeter").create_session() as session:
        assert session.ask("Ada").text == "Hello, Ada!"
        sid = session.session_id
    assert [m.text for m in vectorshift_engine.messages(sid)] == ["Ada", "Hello, Ada!"]

def test_a_second_test_gets_a_fresh_engine(vectorshift_engine):
    PORTS.append(vectorshift_engine.port)
    assert PORTS[0] != PORTS[1]
    assert vectorshift_engine.engine.catalog.agent("greeter") is None

@pytest.mark.asyncio
async def test_pytest_asyncio(vectorshift_engine):
    vectorshift_engine.add_agent("greeter", greeter)
    async with AsyncSession(owner_type="agent", owner_id="agent-greeter") as session:
        assert (await session.ask("Bob")).text == "Hello, Bob!"

@pytest.mark.anyio
async def test_anyio(vectorshift_engine):
    async with AsyncSession(owner_type="agent", owner_id="agent-echo") as session:
        assert (await session.ask("via anyio")).text == "via anyio"

def test_recovery_through_cut_and_restart(vectorshift_engine):
    with Session(owner_type="agent", owner_id="agent-echo", reconnect=FAST) as session:
        listener = session.listen()
        assert session.ask("one").text == "one"
        vectorshift_engine.cut_connections()
        wait_reconnected(listener)
        assert session.ask("two").text == "two"
        vectorshift_engine.restart()
        wait_reconnected(listener)
        assert session.ask("three").text == "three"

def test_faults(vectorshift_faults):
    with Session(owner_type="agent", owner_id="agent-echo", reconnect=FAST) as session:
        listener = session.listen()
        vectorshift_faults.cut()
        wait_reconnected(listener)
        assert session.ask("through the proxy").text == "through the proxy"

def test_rogue(vectorshift_rogue_engine):
    with Session(owner_type="agent", owner_id="agent-x") as session:
        assert session.ask("hi").text == "fine"
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", *args)


def test_sync_and_async_user_tests_in_isolation(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(ISOLATION_CONFTEST)
    pytester.makepyfile(test_user=USER_TESTS)
    pytester.makeini("[pytest]\nanyio_backends = asyncio\n")
    result = run(pytester, "-p", "anyio", "-v")
    result.assert_outcomes(passed=7)


def test_the_turn_delay_option_and_the_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_delay="""
        import pytest

        def test_option(vectorshift_engine):
            assert vectorshift_engine.engine.turn_delay == 0.25

        @pytest.mark.vectorshift_engine(turn_delay=0.5)
        def test_marker_wins(vectorshift_engine):
            assert vectorshift_engine.engine.turn_delay == 0.5

        @pytest.mark.vectorshift_engine(colour="blue")
        def test_unknown_option(vectorshift_engine):
            pass
        """
    )
    result = run(pytester, "--vectorshift-turn-delay=0.25")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*unknown option(s) colour; known: turn_delay*"])


def test_the_options_and_markers_are_documented(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--help")
    result.stdout.fnmatch_lines(
        ["*--vectorshift-turn-delay=SECONDS*", "*--vectorshift-record-mode=*"]
    )
    result = run(pytester, "--markers")
    result.stdout.fnmatch_lines(["*@pytest.mark.vectorshift_engine(*", "*vectorshift_cassette*"])


def test_loading_the_plugin_costs_nothing_until_a_fixture_is_used(
    pytester: pytest.Pytester,
) -> None:
    heavy = ("websockets", "websocket", "httpx", "attrs", "cattrs", "sqlite3")
    code = (
        "import sys, vectorshift_sessions.testing._plugin\n"
        f"print(' '.join(m for m in {heavy!r} if m in sys.modules))\n"
        "print(' '.join(m for m in sys.modules if m.startswith('vectorshift_sessions')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, ours = out.stdout.splitlines()
    assert loaded == ""
    assert set(ours.split()) == {
        "vectorshift_sessions",
        "vectorshift_sessions._errors",
        "vectorshift_sessions._lazy",
        "vectorshift_sessions.testing",
        "vectorshift_sessions.testing._plugin",
    }
    # And in a real run, a test that uses no fixture never loads the engine.
    pytester.makepyfile(
        test_plain=textwrap.dedent(
            """
            import sys

            def test_plain():
                assert "vectorshift_sessions.engine" not in sys.modules
                assert "vectorshift_sessions.testing._plugin" in sys.modules
            """
        )
    )
    run(pytester).assert_outcomes(passed=1)


def test_a_scripted_agents_mismatch_fails_the_test_that_ignored_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_script="""
        from vectorshift_sessions import Session
        from vectorshift_sessions.testing import Conversation, say, user

        def test_the_code_sends_the_wrong_text(vectorshift_engine):
            bot = Conversation(user("hi").replies(say("hello")))
            agent_id = vectorshift_engine.add_agent("bot", bot)
            with Session(owner_type="agent", owner_id=agent_id) as session:
                result = session.ask("bye")
            assert result.error is not None  # the session saw an error, and did not hang

        def test_the_code_sends_the_right_text(vectorshift_engine):
            bot = Conversation(user("hi").replies(say("hello")))
            agent_id = vectorshift_engine.add_agent("bot", bot)
            with Session(owner_type="agent", owner_id=agent_id) as session:
                assert session.ask("hi").text == "hello"
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_the_code_sends_the_wrong_text*",
            "*ScriptMismatch: exchange 1 of 1 expected the text 'hi', but the user sent 'bye'*",
        ]
    )


CASSETTE_TESTS = """
import json
import pytest
from vectorshift_sessions import Session

def no_secrets(frame, direction):  # personal data out of the cassette
    return json.loads(json.dumps(frame).replace("my secret", "[personal]"))

@pytest.mark.vectorshift_cassette("echo.jsonl", redact=no_secrets)
def test_echo(vectorshift_cassette):
    with Session(owner_type="agent", owner_id="agent-echo") as session:
        assert session.ask("recorded words").text == "recorded words"
"""


def test_cassettes_are_recorded_once_then_replayed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_cassette=CASSETTE_TESTS)
    cassette = pytester.path / "cassettes" / "echo.jsonl"
    # none (the default): an unrecorded cassette fails and says how to record it
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*echo.jsonl not found; record it with --vectorshift-record-mode=once*"]
    )
    # once: recorded (no key set: against the local engine)
    run(pytester, "--vectorshift-record-mode=once").assert_outcomes(passed=1)
    recorded = cassette.read_text()
    assert '"dir": "received"' in recorded or '"dir":"received"' in recorded
    assert "recorded words" in recorded
    # once, again: the cassette exists, so it is replayed and left alone
    run(pytester, "--vectorshift-record-mode=once").assert_outcomes(passed=1)
    assert cassette.read_text() == recorded
    # none: replayed by the cassette's agent, which fails on a post it has not recorded
    run(pytester).assert_outcomes(passed=1)
    pytester.makepyfile(
        test_cassette=CASSETTE_TESTS.replace(
            'assert session.ask("recorded words").text == "recorded words"',
            'assert session.ask("other words").error is not None',
        )
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*CassetteMismatch*other words*recorded words*"])
    # rewrite: recorded afresh, the redaction hook applied before anything is written
    pytester.makepyfile(test_cassette=CASSETTE_TESTS.replace("recorded words", "my secret words"))
    run(pytester, "--vectorshift-record-mode=rewrite").assert_outcomes(passed=1)
    rewritten = cassette.read_text()
    assert "my secret" not in rewritten and "[personal]" in rewritten
    assert "recorded words" not in rewritten


def test_recording_goes_to_the_engine_the_environment_names_when_a_key_is_set(
    pytester: pytest.Pytester,
) -> None:
    # A stand-in for the hosted engine: an engine with a key of its own, set in the
    # environment before the test runs (as a developer recording against the real one would).
    pytester.makeconftest(
        """
        import os, pytest
        from vectorshift_sessions.engine import LocalEngine

        @pytest.fixture(scope="session", autouse=True)
        def hosted():
            with LocalEngine(db=":memory:", api_keys=["real-key"]) as engine:
                os.environ.update(engine.env())
                yield engine

        def test_recorded_against_the_hosted_engine(hosted, vectorshift_cassette):
            from vectorshift_sessions import Session
            assert os.environ["VECTORSHIFT_WS_URL"] == hosted.ws_url
            with Session(owner_type="agent", owner_id="agent-echo") as session:
                assert session.ask("hi").text == "hi"
                sid = session.session_id
            assert [m.text for m in hosted.messages(sid)] == ["hi", "hi"]
        """
    )
    pytester.makepyfile(test_hosted="from conftest import test_recorded_against_the_hosted_engine")
    result = run(pytester, "--vectorshift-record-mode=rewrite")
    result.assert_outcomes(passed=1)
    recorded = (pytester.path / "cassettes" / "test_hosted").glob("*.jsonl")
    (path,) = list(recorded)
    assert "real-key" not in path.read_text()


OWN_AGENT_TESTS = """
import pytest
from vectorshift_sessions import Session
from vectorshift_sessions.testing import Conversation, say, user

ANSWER = "v1"

@pytest.mark.vectorshift_cassette("own.jsonl")
def test_own_agent(vectorshift_engine, vectorshift_cassette):
    bot = Conversation(user("hi").replies(say(ANSWER)))
    agent_id = vectorshift_engine.add_agent("own", bot)
    with Session(owner_type="agent", owner_id=agent_id) as session:
        assert session.ask("hi").text == "v1"
    assert FAIL is False
"""


def test_a_recording_replaces_the_cassette_only_when_the_test_passes(
    pytester: pytest.Pytester,
) -> None:
    cassette = pytester.path / "cassettes" / "own.jsonl"
    pytester.makepyfile(test_own=OWN_AGENT_TESTS + "FAIL = False\n")
    run(pytester, "--vectorshift-record-mode=once").assert_outcomes(passed=1)
    recorded = cassette.read_text()
    # replayed: the test's own agent (now answering otherwise) leaves the replay in place
    pytester.makepyfile(
        test_own=OWN_AGENT_TESTS.replace('ANSWER = "v1"', 'ANSWER = "v2"') + "FAIL = False\n"
    )
    run(pytester).assert_outcomes(passed=1)
    # a test that fails while recording leaves the cassette as it was, and no draft behind
    pytester.makepyfile(test_own=OWN_AGENT_TESTS + "FAIL = True\n")
    result = run(pytester, "--vectorshift-record-mode=rewrite")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the test failed while recording*own.jsonl*left as it was*"])
    assert cassette.read_text() == recorded
    assert [p.name for p in cassette.parent.iterdir()] == ["own.jsonl"]


def test_a_recording_that_stops_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_broken="""
        import pytest
        from vectorshift_sessions import Session

        def broken(frame, direction):
            raise KeyError("no such field")

        @pytest.mark.vectorshift_cassette("broken.jsonl", redact=broken)
        def test_broken_hook(vectorshift_cassette):
            with Session(owner_type="agent", owner_id="agent-echo") as session:
                assert session.ask("hi").text == "hi"
        """
    )
    result = run(pytester, "--vectorshift-record-mode=rewrite")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*the recording of *broken.jsonl stopped: *no such field*"])
    assert not (pytester.path / "cassettes" / "broken.jsonl").exists()


def test_default_cassette_names_tell_classes_and_parameters_apart(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_names="""
        import pytest
        from vectorshift_sessions import Session

        def ask(text):
            with Session(owner_type="agent", owner_id="agent-echo") as session:
                return session.ask(text).text

        class TestEnglish:
            def test_greet(self, vectorshift_cassette):
                assert ask("hello") == "hello"

        class TestFrench:
            def test_greet(self, vectorshift_cassette):
                assert ask("bonjour") == "bonjour"

        @pytest.mark.parametrize("word", ["a/b", "c?d"])
        def test_words(vectorshift_cassette, word):
            assert ask(word) == word
        """
    )
    run(pytester, "--vectorshift-record-mode=once").assert_outcomes(passed=4)
    names = sorted(p.name for p in (pytester.path / "cassettes" / "test_names").iterdir())
    assert names == [
        "TestEnglish.test_greet.jsonl",
        "TestFrench.test_greet.jsonl",
        "test_words[a-b].jsonl",
        "test_words[c-d].jsonl",
    ]
    run(pytester).assert_outcomes(passed=4)


def test_a_recording_whose_script_went_wrong_is_not_kept(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_wrong="""
        import pytest
        from vectorshift_sessions import Session
        from vectorshift_sessions.testing import Conversation, say, user

        @pytest.mark.vectorshift_cassette("wrong.jsonl")
        def test_wrong(vectorshift_engine):
            agent_id = vectorshift_engine.add_agent("bot", Conversation(user("hi").replies(say("hello"))))
            with Session(owner_type="agent", owner_id=agent_id) as session:
                session.ask("bye")
        """
    )
    result = run(pytester, "--vectorshift-record-mode=once")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*ScriptMismatch: exchange 1 of 1 expected the text 'hi'*"])
    assert not (pytester.path / "cassettes" / "wrong.jsonl").exists()


def test_a_replay_serves_only_what_was_recorded_and_markers_alone_suffice(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_only="""
        import json
        import pytest
        from vectorshift_sessions import Session

        def no_secrets(frame, direction):
            return json.loads(json.dumps(frame).replace("secret", "[personal]"))

        pytestmark = pytest.mark.vectorshift_cassette(redact=no_secrets, speed=1.0)

        def ask(owner, text):
            with Session(owner_type="agent", owner_id=owner) as session:
                return session.ask(text)

        @pytest.mark.vectorshift_cassette("only.jsonl")
        def test_recorded():  # the marker alone brings the fixture
            assert ask("agent-echo", "a secret word").text.endswith(" word")  # redacted in replay

        @pytest.mark.vectorshift_cassette("only.jsonl")
        def test_unrecorded_agent():
            assert ask("agent-demo", "hello").error is not None
        """,
        test_engine_marker="""
        import os
        import pytest

        @pytest.mark.vectorshift_engine(turn_delay=0.001)
        def test_engine_marker_alone():  # the marker alone brings the fixture
            assert os.environ["VECTORSHIFT_WS_URL"].startswith("ws://127.0.0.1:")
        """,
    )
    run(pytester, "--vectorshift-record-mode=once", "-k", "test_recorded").assert_outcomes(passed=1)
    recorded = (pytester.path / "cassettes" / "only.jsonl").read_text()
    assert "secret" not in recorded and "[personal]" in recorded  # the module's redact=
    result = run(pytester)
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        ["*CassetteMismatch: cassette *only.jsonl holds no session with agent-demo*"]
    )


def test_bad_option_values_are_usage_errors(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--vectorshift-turn-delay=-1")
    result.stderr.fnmatch_lines(["*--vectorshift-turn-delay must be >= 0 seconds, got -1.0*"])
    pytester.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.vectorshift_engine(turn_delay="fast")
        def test_bad(vectorshift_engine):
            pass
        """
    )
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*TypeError: turn_delay must be a number of seconds, got 'fast'*"])
