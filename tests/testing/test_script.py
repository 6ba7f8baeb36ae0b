"""Scripted agents (``Conversation``) against a real local engine, with real sessions of both
flavours; and their matchers, descriptions and input checks without sockets.

Each scenario runs once with ``AsyncSession`` and once with the blocking ``Session`` (driven
from a worker thread through ``asyncio.to_thread``), through the small ``Client`` adapter.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from vectorshift_sessions import (
    AsyncSession,
    ParticipantStatus,
    Session,
    SessionEvent,
    SessionEventType,
    SessionMessage,
    TurnResult,
    TurnStatus,
    TurnWatcher,
)
from vectorshift_sessions import testing as script_module
from vectorshift_sessions.engine import LocalEngine
from vectorshift_sessions.engine._agents import split_words
from vectorshift_sessions.testing import (
    Conversation,
    Exchange,
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
    user,
)
from vectorshift_sessions.testing._mismatch import Mismatch

ET = SessionEventType
NAME = "script"
AGENT_ID = f"agent-{NAME}"
TIMEOUT = 10.0

pytestmark = pytest.mark.timeout(30)


# --- one interface over both flavours ---------------------------------------------------------


class Client(abc.ABC):
    """A session as the tests drive it, whatever its flavour."""

    session_id: str

    @abc.abstractmethod
    async def ask(self, text: str) -> TurnResult:
        """Send ``text``; the turn up to its end, or to an approval / reauth request."""

    @abc.abstractmethod
    async def play(self, text: str) -> TurnResult:
        """Send ``text``; the whole turn, through any reauth request, to its end."""

    @abc.abstractmethod
    async def answer(
        self, request: SessionEvent, *, approved: bool, reason: str | None = None
    ) -> TurnResult:
        """Answer an approval request; the rest of the turn, to its end or the next request."""

    @abc.abstractmethod
    async def history(self) -> list[SessionMessage]:
        """The session's stored messages."""


class AsyncClient(Client):
    def __init__(self, session: AsyncSession):
        self.session = session
        self.session_id = session.session_id or ""

    async def _rest(self, watcher: TurnWatcher) -> TurnResult:
        async for event in self.session.listen():
            if watcher.feed(event):
                return watcher.result(self.session_id)
        raise AssertionError(f"listen() ended before the turn did: {watcher.events}")

    async def ask(self, text: str) -> TurnResult:
        return await self.session.ask(text, timeout=TIMEOUT)

    async def play(self, text: str) -> TurnResult:
        await self.session.send(text)
        return await self._rest(TurnWatcher())

    async def answer(
        self, request: SessionEvent, *, approved: bool, reason: str | None = None
    ) -> TurnResult:
        await self.session.respond(request, approved=approved, deny_reason=reason)
        return await self._rest(TurnWatcher(stop_for_action=True))

    async def history(self) -> list[SessionMessage]:
        return await self.session.get_messages()


class BlockingClient(Client):
    """Each call runs the blocking session in a worker thread, as a thread of a web server
    would."""

    def __init__(self, session: Session):
        self.session = session
        self.session_id = session.session_id or ""

    def _rest(self, watcher: TurnWatcher) -> TurnResult:
        for event in self.session.listen():
            if watcher.feed(event):
                return watcher.result(self.session_id)
        raise AssertionError(f"listen() ended before the turn did: {watcher.events}")

    async def ask(self, text: str) -> TurnResult:
        return await asyncio.to_thread(self.session.ask, text, timeout=TIMEOUT)

    async def play(self, text: str) -> TurnResult:
        def run() -> TurnResult:
            self.session.send(text)
            return self._rest(TurnWatcher())

        return await asyncio.to_thread(run)

    async def answer(
        self, request: SessionEvent, *, approved: bool, reason: str | None = None
    ) -> TurnResult:
        def run() -> TurnResult:
            self.session.respond(request, approved=approved, deny_reason=reason)
            return self._rest(TurnWatcher(stop_for_action=True))

        return await asyncio.to_thread(run)

    async def history(self) -> list[SessionMessage]:
        return await asyncio.to_thread(self.session.get_messages)


@pytest.fixture(params=["async", "blocking"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextlib.asynccontextmanager
async def connected(
    engine: LocalEngine, flavour: str, session_id: str | None = None
) -> AsyncIterator[Client]:
    """A new session with the scripted agent (or session ``session_id`` resumed), of the given
    flavour."""
    where: dict[str, Any] = (
        {"session_id": session_id} if session_id else {"owner_type": "agent", "owner_id": AGENT_ID}
    )
    if flavour == "async":
        async with AsyncSession(**where, ws_url=engine.ws_url) as s:
            yield AsyncClient(s)
        return
    session = Session(**where, ws_url=engine.ws_url)
    await asyncio.to_thread(session.connect)
    try:
        yield BlockingClient(session)
    finally:
        await asyncio.to_thread(session.disconnect)


@contextlib.asynccontextmanager
async def talk(conversation: Conversation, flavour: str) -> AsyncIterator[Client]:
    """A local engine (in its thread) serving ``conversation``, and a session with it."""
    with LocalEngine(db=":memory:", agents={NAME: conversation}) as engine:
        async with connected(engine, flavour) as client:
            yield client


NOT_THE_AGENTS = (
    ET.PARTICIPANT_STATUS,
    ET.SESSION_CREATED,
    ET.SESSION_CONNECTED,
    ET.MESSAGE_POSTED,
    ET.PONG,
)


def kinds(result: TurnResult) -> list[str]:
    """The agent's event types in the turn (no statuses, acks or pongs), a run of deltas as
    one."""
    out: list[str] = []
    for event in result.events:
        if event.type in NOT_THE_AGENTS:
            continue
        if event.type == ET.MESSAGE_DELTA and out and out[-1] == ET.MESSAGE_DELTA:
            continue
        out.append(event.type)
    return out


def of_type(result: TurnResult, kind: ET) -> list[SessionEvent]:
    return [event for event in result.events if event.type == kind]


def deltas(result: TurnResult) -> list[str]:
    return [event.delta or "" for event in of_type(result, ET.MESSAGE_DELTA)]


# --- whole conversations ----------------------------------------------------------------------


async def test_a_full_conversation_plays_in_the_scripted_order(flavour: str) -> None:
    results = [{"title": "Paris weather", "url": "https://weather.example/paris"}]
    weather = Conversation(
        user("What's the weather in Paris?").replies(
            thinking("The user wants the weather in Paris.", summary="Weather"),
            task("Plan: 1. look it up  2. answer"),
            tool("get_weather", {"city": "Paris"}, result={"celsius": 18}),
            search("Paris weather", results),
            say("It is 18 °C in Paris."),
        ),
        user(re.compile(r"thanks", re.I)).replies(
            say("You are welcome!", chunks=["You are", " wel", "come!"]),
        ),
    )
    async with talk(weather, flavour) as client:
        first = await client.ask("  What's the weather in Paris?\n")
        second = await client.ask("Thanks a lot")
        history = await client.history()

    assert first.status == TurnStatus.COMPLETE and first.text == "It is 18 °C in Paris."
    assert kinds(first) == [
        ET.THINKING,
        ET.MESSAGE_STREAMING,  # the task
        ET.TOOL_CALL,
        ET.TOOL_RESULT,
        ET.SEARCH_RESULT,
        ET.MESSAGE_DELTA,
        ET.MESSAGE_COMPLETE,
    ]
    (thought,) = of_type(first, ET.THINKING)
    assert thought.data == {"content": "The user wants the weather in Paris.", "summary": "Weather"}
    (call,) = of_type(first, ET.TOOL_CALL)
    (output,) = of_type(first, ET.TOOL_RESULT)
    assert call.tool_name == "get_weather" and call.data["status"] == "running"
    assert output.data["tool_id"] == call.data["tool_id"]
    assert output.data["output"] == {"celsius": 18} and output.data["status"] == "completed"
    (found,) = of_type(first, ET.SEARCH_RESULT)
    assert found.data["query"] == "Paris weather" and found.data["results"] == results
    assert deltas(first) == split_words("It is 18 °C in Paris.")
    assert "".join(deltas(first)) == first.text

    assert deltas(second) == ["You are", " wel", "come!"] and second.text == "You are welcome!"

    (stored_call,) = [m for m in history if m.content_type == "tool_call"]
    assert stored_call.raw["content"]["arguments"] == {"city": "Paris"}
    assert weather.mismatches == [] and weather.remaining == ()
    weather.assert_done()


async def test_approvals_approved_denied_and_nested(flavour: str) -> None:
    booking = Conversation(
        user(re.compile(r"book .* flight", re.I)).replies(
            approval(
                "book_flight",
                {"to": "Paris"},
                approved=[
                    say("Booked."),
                    approval("pay", approved=say("Paid."), denied=[say("Not paid.")]),
                ],
                denied=[say("Not booked.")],
            ),
        ),
        ordered=False,
    )
    async with talk(booking, flavour) as client:
        asked = await client.ask("Please book a flight to Paris")
        assert asked.status == TurnStatus.AWAITING_APPROVAL
        request = asked.action_event
        assert request is not None and request.data["tool_name"] == "book_flight"
        assert request.data["arguments"] == {"to": "Paris"}

        booked = await client.answer(request, approved=True)
        assert booked.status == TurnStatus.AWAITING_APPROVAL and booked.text == "Booked."
        pay = booked.action_event
        assert pay is not None and pay.data["tool_name"] == "pay"
        unpaid = await client.answer(pay, approved=False)
        assert unpaid.status == TurnStatus.COMPLETE and unpaid.text == "Not paid."

        again = await client.ask("book another flight")
        assert again.action_event is not None
        denied = await client.answer(again.action_event, approved=False)
        assert denied.status == TurnStatus.COMPLETE and denied.text == "Not booked."
        assert ET.APPROVAL_REQUEST not in kinds(denied)
    booking.assert_done()


async def test_reauth_error_status_and_pause_steps(flavour: str) -> None:
    script = Conversation(
        user("open my drive").replies(
            reauth("google_drive"),
            error("the drive is not reachable"),
            status(ParticipantStatus.TYPING),
            pause(0.01),
            say("Still here."),
        )
    )
    async with talk(script, flavour) as client:
        result = await client.play("open my drive")
    assert kinds(result) == [
        ET.REAUTH_REQUEST,
        ET.ERROR,
        ET.MESSAGE_DELTA,
        ET.MESSAGE_COMPLETE,
    ]
    (request,) = of_type(result, ET.REAUTH_REQUEST)
    assert request.requires_action and request.data["provider"] == "google_drive"
    assert result.error == "the drive is not reachable"
    statuses = [e.participant_status for e in of_type(result, ET.PARTICIPANT_STATUS)]
    assert ParticipantStatus.TYPING in statuses
    assert result.text == "Still here."
    script.assert_done()


async def test_an_unexpected_post_is_an_error_event_and_the_session_goes_on(flavour: str) -> None:
    script = Conversation(
        user("hi").replies(say("hello")),
        user("bye").replies(say("goodbye")),
    )
    async with talk(script, flavour) as client:
        wrong = await client.ask("bye")
        assert wrong.status == TurnStatus.ERROR
        (mismatch,) = script.mismatches
        assert str(mismatch) == "exchange 1 of 2 expected the text 'hi', but the user sent 'bye'"
        assert wrong.error is not None and str(mismatch) in wrong.error
        assert isinstance(mismatch, Mismatch)

        assert (await client.ask(" hi ")).text == "hello"  # still expected next
        assert (await client.ask("bye")).text == "goodbye"
    assert script.remaining == ()
    with pytest.raises(ScriptMismatch, match="expected the text 'hi', but the user sent 'bye'"):
        script.assert_done()


async def test_a_post_after_the_last_exchange_is_a_mismatch(flavour: str) -> None:
    script = Conversation(user().replies(say("only once")))
    async with talk(script, flavour) as client:
        assert (await client.ask("anything")).text == "only once"
        over = await client.ask("once more")
    assert over.status == TurnStatus.ERROR and over.error is not None
    assert "the script has no exchange left (1 played), but the user sent 'once more'" in (
        over.error
    )
    assert len(script.mismatches) == 1


async def test_unordered_rules_are_reusable_and_say_can_echo(flavour: str) -> None:
    def is_echo(text: str) -> bool:
        return text.startswith("echo ")

    rules = Conversation(
        user(re.compile(r"\bweather\b")).replies(say("Sunny.")),
        user(is_echo).replies(say(lambda text: text.removeprefix("echo ").upper())),
        user("unused").replies(say("never")),
        ordered=False,
    )
    async with talk(rules, flavour) as client:
        echoed = await client.ask("echo hello there")
        assert echoed.text == "HELLO THERE"
        assert "".join(deltas(echoed)) == "HELLO THERE" and len(deltas(echoed)) == 2
        assert (await client.ask("the weather today?")).text == "Sunny."
        assert (await client.ask("weather again")).text == "Sunny."
        lost = await client.ask("something else")
    assert lost.status == TurnStatus.ERROR and lost.error is not None
    (mismatch,) = rules.mismatches
    assert str(mismatch) in lost.error
    assert "rule 1 of 3 expected a text matching re.compile('\\\\bweather\\\\b')" in str(mismatch)
    assert "rule 2 of 3 expected a text for which is_echo(text) is true" in str(mismatch)
    assert str(mismatch).endswith("but the user sent 'something else'")
    assert rules.remaining == (rules.exchanges[2],)


async def test_an_approval_can_be_answered_from_another_connection() -> None:
    script = Conversation(user().replies(approval("deploy", approved=[say("Deployed.")])))
    with LocalEngine(db=":memory:", agents={NAME: script}) as engine:
        async with connected(engine, "async") as client:
            asked = await client.ask("deploy it")
            assert asked.action_event is not None
            other = Session(session_id=client.session_id, ws_url=engine.ws_url)
            with other:
                await asyncio.to_thread(other.respond, asked.action_event, approved=True)
            assert isinstance(client, AsyncClient)
            rest = await client._rest(TurnWatcher())
    assert rest.text == "Deployed."
    script.assert_done()


async def test_sessions_share_the_conversation_state() -> None:
    script = Conversation(user("one").replies(say("1")), user("two").replies(say("2")))
    with LocalEngine(db=":memory:", agents={NAME: script}) as engine:
        async with connected(engine, "async") as first, connected(engine, "blocking") as second:
            assert (await first.ask("one")).text == "1"
            assert (await second.ask("two")).text == "2"
            assert first.session_id != second.session_id
    script.assert_done()


def test_blocking_code_with_no_event_loop() -> None:
    echo = Conversation(user().replies(say(str.upper)), ordered=False)
    with (
        LocalEngine(db=":memory:", agents={"shout": echo}) as engine,
        Session(owner_type="agent", owner_id="agent-shout", ws_url=engine.ws_url) as session,
    ):
        assert session.ask("quiet words", timeout=TIMEOUT).text == "QUIET WORDS"
        assert session.ask("again", timeout=TIMEOUT).text == "AGAIN"
    echo.assert_done()


class Broken(Step):
    async def run(self, turn: Any) -> None:
        raise RuntimeError("out of order")

    def __repr__(self) -> str:
        return "Broken()"


def picky(text: str) -> bool:
    if text == "boom":
        raise ValueError("cannot judge 'boom'")
    return True


def nothing(text: str) -> Any:
    return None


async def test_a_matcher_or_step_that_raises_is_a_mismatch(flavour: str) -> None:
    script = Conversation(
        user(picky).replies(say("first"), say(nothing)),
        user().replies(Broken()),
    )
    async with talk(script, flavour) as client:
        results = [await client.ask(text) for text in ("boom", "fine", "again")]
    expected = [
        "exchange 1 of 2: user(picky) raised ValueError: cannot judge 'boom', when the user "
        "sent 'boom'",
        "exchange 1 of 2: say(nothing) raised TypeError: say(nothing) returned NoneType None, "
        "not a str",
        "exchange 2 of 2: Broken() raised RuntimeError: out of order",
    ]
    assert [str(m) for m in script.mismatches] == expected
    causes = [type(m.__cause__) for m in script.mismatches]
    assert causes == [ValueError, TypeError, RuntimeError]
    for result, message in zip(results, expected, strict=True):
        assert result.status == TurnStatus.ERROR
        assert result.error is not None and message in result.error
    assert results[1].text == "first"  # the steps before the failing one ran
    assert script.played == 2 and script.remaining == ()
    with pytest.raises(ScriptMismatch) as raised:
        script.assert_done()
    assert str(raised.value).splitlines() == [
        "the conversation did not go as scripted:",
        *(f"- {message}" for message in expected),
    ]


async def test_an_approval_answered_against_its_expect_is_a_mismatch(flavour: str) -> None:
    script = Conversation(
        user("refund").replies(approval("refund", expect=True, approved=[say("Refunded.")])),
        user("keep").replies(approval("cancel", expect=False, denied=[say("Kept.")])),
        user("refund").replies(approval("refund", {"amount": 5}, expect=True)),
    )
    answers: list[tuple[str, bool, str | None]] = [
        ("refund", True, None),
        ("keep", True, None),
        ("refund", False, "too late"),
    ]
    results = []
    async with talk(script, flavour) as client:
        for text, approved, reason in answers:
            asked = await client.ask(text)
            assert asked.action_event is not None
            results.append(
                await client.answer(asked.action_event, approved=approved, reason=reason)
            )
    assert results[0].status == TurnStatus.COMPLETE and results[0].text == "Refunded."
    expected = [
        "exchange 2 of 3: approval of 'cancel' expected to be denied, but the user approved it",
        "exchange 3 of 3: approval of 'refund' expected to be approved, but the user denied it "
        "(reason: 'too late')",
    ]
    assert [str(m) for m in script.mismatches] == expected
    assert all(m.__cause__ is None for m in script.mismatches)
    for result, message in zip(results[1:], expected, strict=True):
        assert result.status == TurnStatus.ERROR and result.text is None
        assert result.error is not None and message in result.error


async def test_a_turn_cut_by_a_restart_is_played_again(flavour: str) -> None:
    script = Conversation(
        user("refund").replies(say("Checking."), approval("refund", approved=[say("Refunded.")])),
        user("thanks").replies(say("Bye.")),
    )
    async with LocalEngine(db=":memory:", agents={NAME: script}) as engine:
        async with connected(engine, flavour) as first:
            asked = await first.ask("refund")
            assert asked.status == TurnStatus.AWAITING_APPROVAL and script.played == 1
            await engine.restart()  # the turn, waiting for the answer, is cancelled
        assert script.played == 0 and script.remaining == script.exchanges
        with pytest.raises(ScriptMismatch, match=r"\(the text 'refund'; its turn was cancelled\)"):
            script.assert_done()

        async with connected(engine, flavour, first.session_id) as again:
            retried = await again.ask("refund")  # the same exchange again
            assert retried.status == TurnStatus.AWAITING_APPROVAL and retried.text == "Checking."
            assert retried.action_event is not None
            done = await again.answer(retried.action_event, approved=True)
            assert done.status == TurnStatus.COMPLETE and done.text == "Refunded."
            assert (await again.ask("thanks")).text == "Bye."
    assert script.mismatches == [] and script.played == 2
    script.assert_done()


async def test_a_cut_turn_stays_played_once_a_later_exchange_was() -> None:
    script = Conversation(
        user("deploy").replies(approval("deploy", approved=[say("Deployed.")])),
        user("status").replies(say("All green.")),
    )
    async with (
        LocalEngine(db=":memory:", agents={NAME: script}) as engine,
        connected(engine, "async") as first,
        connected(engine, "async") as second,
    ):
        assert (await first.ask("deploy")).status == TurnStatus.AWAITING_APPROVAL
        assert (await second.ask("status")).text == "All green."
        await engine.restart()
    assert script.played == 2 and script.remaining == () and script.mismatches == []
    script.assert_done()


async def test_reset_forgets_progress_and_mismatches(flavour: str) -> None:
    script = Conversation(user("hi").replies(say("hello")), user("bye").replies(say("goodbye")))
    async with talk(script, flavour) as client:
        assert (await client.ask("hi")).text == "hello"
        assert (await client.ask("hi")).status == TurnStatus.ERROR
        assert script.played == 1 and len(script.mismatches) == 1
        mismatches = script.mismatches
        script.reset()
        assert script.played == 0 and mismatches == [] and script.remaining == script.exchanges
        assert (await client.ask("hi")).text == "hello"  # from the start again
        assert (await client.ask("bye")).text == "goodbye"
    script.assert_done()


# --- without sockets: matching, descriptions, input checks -------------------------------------


@pytest.mark.parametrize(
    ("match", "text", "expected"),
    [
        ("hi", "hi", True),
        ("  hi\n", "\thi  ", True),
        ("hi", "hi there", False),
        ("hi", "Hi", False),
        (re.compile(r"book .* flight", re.I), "Please BOOK a flight", True),
        (re.compile(r"^book"), "please book", False),
        (lambda text: len(text) > 3, "long", True),
        (lambda text: len(text) > 3, "no", False),
        (None, "", True),
        (None, "whatever", True),
    ],
)
def test_matching(match: Any, text: str, expected: bool) -> None:
    assert user(match).replies().matches(text) is expected


def is_greeting(text: str) -> bool:
    return text in ("hi", "hello")


class Polite:
    def __call__(self, text: str) -> bool:
        return "please" in text

    def __repr__(self) -> str:
        return "Polite()"


@pytest.mark.parametrize(
    ("match", "expected", "shown"),
    [
        (" hi ", "the text 'hi'", "user(' hi ')"),
        (None, "any text", "user()"),
        (
            re.compile(r"book .* flight", re.I),
            "a text matching re.compile('book .* flight', re.IGNORECASE)",
            "user(re.compile('book .* flight', re.IGNORECASE))",
        ),
        (is_greeting, "a text for which is_greeting(text) is true", "user(is_greeting)"),
        (Polite(), "a text for which Polite()(text) is true", "user(Polite())"),
        ("x" * 300, f"the text {'x' * 200!r}...(+100 chars)", None),
    ],
)
def test_descriptions(match: Any, expected: str, shown: str | None) -> None:
    exchange = user(match).replies(say("ok"))
    assert isinstance(exchange, Exchange) and exchange.steps == (say("ok"),)
    assert exchange.expected == expected
    if shown is not None:
        assert repr(user(match)) == shown
        assert repr(exchange) == f"{shown}.replies(say('ok'))"


def test_steps_read_like_the_script() -> None:
    steps: list[Step] = [
        say("Hi there."),
        say(str.upper),
        say("ab", chunks=["a", "b"]),
        thinking("why", summary="Why"),
        thinking("why"),
        task("plan"),
        tool("get_weather", {"city": "Paris"}, result={"celsius": 18}),
        tool("ping", status="failed"),
        search("q", [1]),
        reauth("drive"),
        error("boom"),
        status("Typing"),
        pause(0.5),
        approval("pay", approved=[say("Paid.")]),
        approval("refund", {"amount": 5}, denied=say("No."), expect=False),
    ]
    assert [repr(step) for step in steps] == [
        "say('Hi there.')",
        "say(upper)",
        "say('ab', chunks=['a', 'b'])",
        "thinking('why', summary='Why')",
        "thinking('why')",
        "task('plan')",
        "tool('get_weather', {'city': 'Paris'}, result={'celsius': 18})",
        "tool('ping', status='failed')",
        "search('q', [1])",
        "reauth('drive')",
        "error('boom')",
        "status('Typing')",
        "pause(0.5)",
        "approval('pay', approved=[say('Paid.')])",
        "approval('refund', {'amount': 5}, denied=[say('No.')], expect=False)",
    ]
    assert all(isinstance(step, Step) for step in steps)


def test_a_new_conversation_is_not_done() -> None:
    script = Conversation(user("hi").replies(say("hello")), user().replies())
    assert script.remaining == script.exchanges and script.mismatches == []
    assert script.played == 0
    for _ in range(2):  # assert_done changes nothing
        with pytest.raises(ScriptMismatch) as raised:
            script.assert_done()
        assert str(raised.value) == (
            "the conversation did not go as scripted:\n"
            "- never reached: exchange 1 of 2 (the text 'hi'), exchange 2 of 2 (any text)"
        )
    Conversation(user("hi").replies(), ordered=False).assert_done()  # unused rules are fine
    Conversation().assert_done()
    assert "ordered, 2 exchanges, 2 remaining, 0 mismatches" in repr(script)


#: The public module, untyped: the calls below pass wrong types on purpose.
loose: Any = script_module


@pytest.mark.parametrize(
    ("make", "error_type", "message"),
    [
        (lambda: loose.user(42), TypeError, "user() takes the expected text (a str), a compiled"),
        (lambda: loose.user(re.compile(b"x")), TypeError, "must be a str pattern"),
        (lambda: loose.user("hi").replies("hello"), TypeError, "item 1 is str 'hello', not a step"),
        (lambda: loose.user("hi").replies(say("a"), None), TypeError, "item 2 is NoneType None"),
        (
            lambda: loose.Conversation(user("hi")),
            TypeError,
            "exchange 1 is user('hi') with no reply",
        ),
        (lambda: loose.Conversation("hi"), TypeError, "pass user(...).replies(...) for each"),
        (lambda: loose.Conversation(ordered="yes"), TypeError, "ordered must be a bool"),
        (lambda: loose.Exchange("hi", ["hello"]), TypeError, "item 1 is str 'hello', not a step"),
        (lambda: loose.say(42), TypeError, "text must be a str or a callable"),
        (lambda: loose.say("ab", chunks="ab"), TypeError, "chunks must be a list of str"),
        (lambda: loose.say("ab", chunks=["a", 2]), TypeError, "each chunk must be a str"),
        (lambda: loose.say("ab", chunks=["a", "c"]), ValueError, "chunks must join to the text"),
        (lambda: loose.say(str.upper, chunks=["a"]), TypeError, "chunks need a str text"),
        (lambda: loose.thinking(None), TypeError, "thinking(): content must be a str"),
        (lambda: loose.thinking("x", summary=3), TypeError, "summary must be a str or None"),
        (lambda: loose.task(b"x"), TypeError, "task(): content must be a str"),
        (lambda: loose.tool("t", ["city"]), TypeError, "tool(): args must be a mapping"),
        (lambda: loose.tool(None), TypeError, "tool(): name must be a str"),
        (lambda: loose.search("q", "results"), TypeError, "search(): results must be a list"),
        (lambda: loose.reauth(None), TypeError, "reauth(): provider must be a str"),
        (lambda: loose.error(ValueError("x")), TypeError, "error(): message must be a str"),
        (lambda: loose.status(""), ValueError, "status(): value must not be empty"),
        (lambda: loose.pause(-1), ValueError, "seconds must be a finite number >= 0"),
        (lambda: loose.pause(float("nan")), ValueError, "seconds must be a finite number >= 0"),
        (lambda: loose.pause("1"), TypeError, "seconds must be a number"),
        (
            lambda: loose.approval("t", approved="Booked."),
            TypeError,
            "approved must be a list of steps",
        ),
        (lambda: loose.approval("t", denied=[say("a"), "no"]), TypeError, "denied: item 2 is str"),
        (lambda: loose.approval("t", {"a"}), TypeError, "approval(): args must be a mapping"),
        (lambda: loose.approval("t", expect="yes"), TypeError, "expect must be a bool or None"),
        (
            lambda: loose.approval("t", expect=True, denied=say("no")),
            ValueError,
            "with expect=True the denied steps never run",
        ),
        (
            lambda: loose.approval("t", expect=False, approved=[say("ok")]),
            ValueError,
            "with expect=False the approved steps never run",
        ),
    ],
)
def test_bad_input_is_refused_at_construction(
    make: Callable[[], object], error_type: type[Exception], message: str
) -> None:
    with pytest.raises(error_type, match=re.escape(message)):
        make()


def test_mismatch_is_an_assertion_error() -> None:
    assert issubclass(ScriptMismatch, Mismatch) and issubclass(ScriptMismatch, AssertionError)
