"""Scripted agents: a conversation written as data, to test your code against the local engine.

A `Conversation` is an agent: give it to `vectorshift_sessions.engine.LocalEngine`
like any agent function. Each exchange says what the user posts (``user(...)``) and what the
agent replies (the steps: ``say``, ``thinking``, ``task``, ``tool``, ``search``, ``approval``,
``reauth``, ``error``, ``status``, ``pause``)::

    import re
    from vectorshift_sessions.engine import LocalEngine
    from vectorshift_sessions.testing import Conversation, approval, say, thinking, tool, user

    weather = Conversation(
        user("What's the weather in Paris?").replies(
            thinking("The user wants the weather in Paris.", summary="Weather"),
            tool("get_weather", {"city": "Paris"}, result={"celsius": 18}),
            say("It is 18 °C in Paris."),
        ),
        user(re.compile(r"book .* flight", re.I)).replies(
            approval("book_flight", {"to": "Paris"},
                     approved=[say("Booked.")],
                     denied=[say("Not booked.")]),
        ),
    )
    with LocalEngine(db=":memory:", agents={"weather": weather}) as engine:  # "agent-weather"
        ...  # run the code under test against engine.env()
    weather.assert_done()

When a post is not what the script expects (or a step fails), the agent raises
`ScriptMismatch`: the engine turns it into an ``error_message``, so the code under test
sees an ``ERROR`` event and never hangs, and the mismatch is kept on
``conversation.mismatches`` for the test to fail with.

A conversation's state (which exchange comes next, the mismatches) belongs to the
``Conversation`` object and is shared by every session that talks to it: build one per test.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Union, cast

import attrs

from ._steps import ScriptMismatch, Step, _check_steps, _quote

if TYPE_CHECKING:
    from ..engine._turn import Turn

__all__ = ["Conversation", "Exchange", "user"]

#: What ``user()`` accepts: the exact text (whitespace around it ignored), a compiled pattern
#: (searched), a predicate on the text, or ``None`` for any text.
Match = Union[str, "re.Pattern[str]", Callable[[str], bool], None]

# --- what the user posts --------------------------------------------------------------------


def _check_match(match: object) -> None:
    if match is None or isinstance(match, str):
        return
    if isinstance(match, re.Pattern):
        if not isinstance(cast("re.Pattern[str] | re.Pattern[bytes]", match).pattern, str):
            raise TypeError(f"user(): the pattern must be a str pattern, got {match!r}")
        return
    if not callable(match):
        raise TypeError(
            "user() takes the expected text (a str), a compiled re.Pattern, a callable "
            f"(text: str) -> bool, or None for any text; got {type(match).__name__} {match!r}"
        )


def _describe(match: Match) -> str:
    if match is None:
        return "any text"
    if isinstance(match, str):
        return f"the text {_quote(match.strip())}"
    if isinstance(match, re.Pattern):
        return f"a text matching {match!r}"
    name = getattr(match, "__name__", None) or repr(match)
    return f"a text for which {name}(text) is true"


def _match_repr(match: Match) -> str:
    if match is None:
        return "user()"
    if isinstance(match, (str, re.Pattern)):
        return f"user({match!r})"
    return f"user({getattr(match, '__name__', None) or repr(match)})"


def _as_tuple(steps: Iterable[Step]) -> tuple[Step, ...]:
    return tuple(steps)


@attrs.frozen(repr=False)
class Exchange:
    """One post of the user and the agent's reply to it; build it with
    ``user(match).replies(*steps)``.

    ``match`` is what `user` was given; ``steps`` run in order when a post matches.

    Attributes:
        match: What the user must post: a text, a pattern, a predicate, or ``None`` for any.
        steps: What the agent does then, in order.

    Raises:
        TypeError: ``match`` is not one of those, or a step is not a step.
    """

    match: Match
    steps: tuple[Step, ...] = attrs.field(converter=_as_tuple)

    def __attrs_post_init__(self) -> None:
        _check_match(self.match)
        _check_steps(f"{_match_repr(self.match)}.replies()", self.steps)

    @property
    def expected(self) -> str:
        """What this exchange expects, in words (``"the text 'hi'"``, ``"any text"``...)."""
        return _describe(self.match)

    def matches(self, text: str) -> bool:
        """Whether a post of ``text`` is the one this exchange expects.

        Args:
            text: The posted text.

        Returns:
            ``True`` when it matches.
        """
        match = self.match
        if match is None:
            return True
        if isinstance(match, str):
            return text.strip() == match.strip()
        if isinstance(match, re.Pattern):
            return match.search(text) is not None
        return bool(match(text))

    def __repr__(self) -> str:
        return f"{_match_repr(self.match)}.replies({', '.join(map(repr, self.steps))})"


@attrs.frozen(repr=False)
class _User:
    """What `user` returns: call `replies` to make the `Exchange`."""

    match: Match

    def replies(self, *steps: Step) -> Exchange:
        """The exchange: when the user posts a matching text, the agent runs ``steps`` in order.

        Args:
            *steps: What the agent does (``say(...)``, ``tool(...)``...).

        Returns:
            The exchange, for `Conversation`.

        Raises:
            TypeError: A step is not one.
        """
        return Exchange(self.match, _check_steps(f"{self!r}.replies()", steps))

    def __repr__(self) -> str:
        return _match_repr(self.match)


def user(match: Match = None) -> _User:
    """What the user posts (``turn.text``); call ``.replies(*steps)`` on it for an exchange.

    ``match``: a ``str`` (equal to the posted text, whitespace around both ignored), a
    compiled ``re.Pattern`` (found anywhere in the text with ``search``), a callable
    ``(text) -> bool``, or ``None`` (the default) for any text.

    Args:
        match: What the user must post.

    Returns:
        What the user posts: call ``.replies(*steps)`` on it.

    Raises:
        TypeError: ``match`` is anything else (or a bytes pattern).
    """
    _check_match(match)
    return _User(match)


# --- the agent ------------------------------------------------------------------------------


class Conversation:
    """A scripted agent: pass it to ``LocalEngine(agents={name: conversation})``.

    ``exchanges`` (made with ``user(...).replies(...)``) say what the user posts and what the
    agent replies. With ``ordered=True`` (the default) each post must match the next exchange
    not yet played, in order; with ``ordered=False`` each post plays the first exchange that
    matches it (exchanges are rules, played any number of times).

    A post that does not match (or comes after the last exchange), a matcher or a step that
    raises, an approval answered against its ``expect``: each raises `ScriptMismatch`
    in the agent. The session sees an ``ERROR`` event naming the exchange and what went wrong,
    and stays usable (in order, an exchange that did not match is still next). Every mismatch
    is appended to `mismatches`. In order, an exchange is played once a post matches
    it; if its turn is cancelled (the engine stops or restarts mid-turn) before another is
    played, it is un-played, so a client that posts the same text again meets it again.

    The state (the next exchange, the mismatches) is this object's, shared by every session
    that talks to it: build one ``Conversation`` per test (in the test, or in a fixture run
    for each test), or `reset` it between tests.

    Args:
        *exchanges: The exchanges, made with ``user(...).replies(...)``.
        ordered: Play the exchanges in order (else as rules, any number of times).

    Attributes:
        exchanges: The exchanges.
        ordered: Whether they are played in order.
        mismatches: Every `ScriptMismatch` raised so far, oldest first.

    Raises:
        TypeError: An exchange is not one (a ``user(...)`` without ``.replies(...)``), or
            ``ordered`` is not a bool.
    """

    def __init__(self, *exchanges: Exchange, ordered: bool = True):
        for index, exchange in enumerate(exchanges, 1):
            if isinstance(exchange, _User):
                raise TypeError(
                    f"Conversation(): exchange {index} is {exchange!r} with no reply; "
                    "call .replies(...) on it"
                )
            if not isinstance(exchange, Exchange):
                raise TypeError(
                    f"Conversation(): exchange {index} is {type(exchange).__name__} "
                    f"{exchange!r}; pass user(...).replies(...) for each exchange"
                )
        if not isinstance(ordered, bool):
            raise TypeError(f"Conversation(): ordered must be a bool, got {ordered!r}")
        self.exchanges: tuple[Exchange, ...] = exchanges
        self.ordered = ordered
        #: Every `ScriptMismatch` raised so far, oldest first.
        self.mismatches: list[ScriptMismatch] = []
        self._lock = threading.Lock()
        self._played = 0  # in order, also the index of the next exchange
        self._used: set[int] = set()  # unordered: the rules played
        self._cancelled: set[int] = set()  # in order: un-played by a cancelled turn
        self._version = 0  # bumped by each play and reset: un-playing needs neither since

    async def __call__(self, turn: Turn) -> None:
        """Run one turn: the steps of the exchange the post matches.

        Raises `ScriptMismatch` (recorded on `mismatches`) when none does, or
        when matching or a step raises (that exception is its ``__cause__``).
        """
        index, version = self._select(turn.text)
        where = self._where(index)
        step: Step | None = None
        try:
            for step in self.exchanges[index].steps:
                await step.run(turn)
        except asyncio.CancelledError:  # in order: un-play it, unless others were played since
            with self._lock:
                if self.ordered and self._version == version:
                    self._played -= 1
                    self._cancelled.add(index)
            raise
        except ScriptMismatch as exc:
            raise self._record(ScriptMismatch(f"{where}: {exc}")) from None
        except Exception as exc:
            raise self._record(
                ScriptMismatch(f"{where}: {step!r} raised {type(exc).__name__}: {exc}")
            ) from exc

    @property
    def played(self) -> int:
        """How many exchanges were played so far (unordered, one per post a rule answered).
        ``0`` with no `mismatches`: nothing ever talked to this conversation."""
        return self._played

    @property
    def remaining(self) -> tuple[Exchange, ...]:
        """The exchanges not played yet: in order, those still to come; unordered, the rules
        no post has matched so far."""
        with self._lock:
            if self.ordered:
                return self.exchanges[self._played :]
            return tuple(e for i, e in enumerate(self.exchanges) if i not in self._used)

    def reset(self) -> None:
        """Forget the progress and the mismatches: the conversation is as new (for one reused
        across tests). A turn still running goes on, but can no longer un-play anything."""
        with self._lock:
            self.mismatches.clear()
            self._played = 0
            self._used.clear()
            self._cancelled.clear()
            self._version += 1

    def assert_done(self) -> None:
        """Check that the conversation went as scripted; cheap, and changes nothing (call it
        as often as you like).

        Unordered rules never used are not an error.

        Raises:
            ScriptMismatch: There were mismatches, or (in order) exchanges were never
                reached; it lists them all.
        """
        with self._lock:
            problems = [str(mismatch) for mismatch in self.mismatches]
            total = len(self.exchanges)
            if self.ordered and self._played < total:
                unreached = ", ".join(
                    f"exchange {i + 1} of {total} ({self.exchanges[i].expected}"
                    f"{'; its turn was cancelled' if i in self._cancelled else ''})"
                    for i in range(self._played, total)
                )
                problems.append(f"never reached: {unreached}")
        if problems:
            raise ScriptMismatch(
                "the conversation did not go as scripted:\n- " + "\n- ".join(problems)
            )

    def _where(self, index: int) -> str:
        kind = "exchange" if self.ordered else "rule"
        return f"{kind} {index + 1} of {len(self.exchanges)}"

    def _record(self, mismatch: ScriptMismatch) -> ScriptMismatch:
        with self._lock:
            self.mismatches.append(mismatch)
        return mismatch

    def _select(self, text: str) -> tuple[int, int]:
        """Play the exchange a post of ``text`` matches: its index, and the version after.
        Raises the mismatch (recorded) when none does."""
        with self._lock:
            try:
                index = self._find(text)
            except ScriptMismatch as mismatch:
                self.mismatches.append(mismatch)
                raise
            self._played += 1
            self._used.add(index)
            self._version += 1
            return index, self._version

    def _find(self, text: str) -> int:
        total = len(self.exchanges)
        sent = f"the user sent {_quote(text)}"
        if self.ordered and self._played >= total:
            raise ScriptMismatch(f"the script has no exchange left ({total} played), but {sent}")
        if not total:
            raise ScriptMismatch(f"the conversation has no exchanges, but {sent}")
        for index in [self._played] if self.ordered else range(total):
            exchange = self.exchanges[index]
            try:
                if exchange.matches(text):
                    return index
            except Exception as exc:
                raise ScriptMismatch(
                    f"{self._where(index)}: {_match_repr(exchange.match)} raised "
                    f"{type(exc).__name__}: {exc}, when {sent}"
                ) from exc
        if self.ordered:
            raise ScriptMismatch(
                f"exchange {self._played + 1} of {total} expected "
                f"{self.exchanges[self._played].expected}, but {sent}"
            )
        rules = "; ".join(
            f"rule {i} of {total} expected {e.expected}" for i, e in enumerate(self.exchanges, 1)
        )
        raise ScriptMismatch(f"no rule matched: {rules}; but {sent}")

    def __repr__(self) -> str:
        mode = "ordered" if self.ordered else "unordered"
        return (
            f"<Conversation {mode}, {len(self.exchanges)} exchanges, "
            f"{len(self.remaining)} remaining, {len(self.mismatches)} mismatches>"
        )
