"""Scripted agents: a conversation written as data, to test your code against the local engine.

A :class:`Conversation` is an agent: give it to :class:`~vectorshift_sessions.engine.LocalEngine`
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
:class:`ScriptMismatch`: the engine turns it into an ``error_message``, so the code under test
sees an ``ERROR`` event and never hangs, and the mismatch is kept on
``conversation.mismatches`` for the test to fail with.

A conversation's state (which exchange comes next, the mismatches) belongs to the
``Conversation`` object and is shared by every session that talks to it: build one per test.
"""

from __future__ import annotations

import abc
import asyncio
import enum
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

import attrs

from .._types import ParticipantStatus
from ..engine._agents import split_words
from ._mismatch import Mismatch

if TYPE_CHECKING:
    from ..engine._turn import Turn

__all__ = [
    "Conversation",
    "Exchange",
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

#: What ``user()`` accepts: the exact text (whitespace around it ignored), a compiled pattern
#: (searched), a predicate on the text, or ``None`` for any text.
Match = Union[str, "re.Pattern[str]", Callable[[str], bool], None]

_QUOTE_LIMIT = 200


class _Absent(enum.Enum):
    ABSENT = "absent"


_ABSENT = _Absent.ABSENT


class ScriptMismatch(Mismatch):
    """The user posted or answered something the :class:`Conversation` did not expect, a
    matcher or a step raised (the exception is the ``__cause__``), or (from
    :meth:`Conversation.assert_done`) the conversation did not go as scripted.

    The message names the exchange, what was expected and what happened instead.
    """


def _quote(text: str) -> str:
    """``repr(text)``, cut to a readable length."""
    if len(text) <= _QUOTE_LIMIT:
        return repr(text)
    return f"{text[:_QUOTE_LIMIT]!r}...(+{len(text) - _QUOTE_LIMIT} chars)"


def _call_repr(name: str, *args: Any, **kwargs: Any) -> str:
    parts = [repr(arg) for arg in args]
    parts += [f"{key}={value!r}" for key, value in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def _check_str(func: str, param: str, value: object, *, optional: bool = False) -> None:
    if isinstance(value, str) or (optional and value is None):
        return
    wanted = "a str or None" if optional else "a str"
    raise TypeError(f"{func}(): {param} must be {wanted}, got {type(value).__name__} {value!r}")


def _check_mapping(func: str, param: str, value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{func}(): {param} must be a mapping (a dict of the tool's arguments) or None, "
            f"got {type(value).__name__} {value!r}"
        )
    return dict(value)


# --- what the user posts --------------------------------------------------------------------


def _check_match(match: object) -> None:
    if match is None or isinstance(match, str):
        return
    if isinstance(match, re.Pattern):
        if not isinstance(match.pattern, str):
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


def _check_steps(where: str, steps: Iterable[object]) -> tuple[Step, ...]:
    checked: list[Step] = []
    for index, step in enumerate(steps, 1):
        if not isinstance(step, Step):
            raise TypeError(
                f"{where}: item {index} is {type(step).__name__} {step!r}, not a step; pass "
                "say(...), thinking(...), task(...), tool(...), search(...), approval(...), "
                "reauth(...), error(...), status(...) or pause(...)"
            )
        checked.append(step)
    return tuple(checked)


def _as_tuple(steps: Iterable[Step]) -> tuple[Step, ...]:
    return tuple(steps)


@attrs.frozen(repr=False)
class Exchange:
    """One post of the user and the agent's reply to it; build it with
    ``user(match).replies(*steps)``.

    ``match`` is what :func:`user` was given; ``steps`` run in order when a post matches.
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
        """Whether a post of ``text`` is the one this exchange expects."""
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
    """What :func:`user` returns: call :meth:`replies` to make the :class:`Exchange`."""

    match: Match

    def replies(self, *steps: Step) -> Exchange:
        """The exchange: when the user posts a matching text, the agent runs ``steps`` in order.

        Raises ``TypeError`` if a step is not one (``say(...)``, ``tool(...)``...).
        """
        return Exchange(self.match, _check_steps(f"{self!r}.replies()", steps))

    def __repr__(self) -> str:
        return _match_repr(self.match)


def user(match: Match = None) -> _User:
    """What the user posts (``turn.text``); call ``.replies(*steps)`` on it for an exchange.

    ``match``: a ``str`` (equal to the posted text, whitespace around both ignored), a
    compiled ``re.Pattern`` (found anywhere in the text with ``search``), a callable
    ``(text) -> bool``, or ``None`` (the default) for any text.

    Raises ``TypeError`` for anything else (and for a bytes pattern).
    """
    _check_match(match)
    return _User(match)


# --- what the agent does --------------------------------------------------------------------


class Step(abc.ABC):
    """One thing the scripted agent does in a reply (made by ``say``, ``tool``...).

    Subclass it, with an ``async def run(self, turn)``, for a step of your own.
    """

    __slots__ = ()

    @abc.abstractmethod
    async def run(self, turn: Turn) -> None:
        """Do it in ``turn``."""


@attrs.frozen(repr=False)
class _Say(Step):
    text: str | Callable[[str], str]
    chunks: tuple[str, ...] | None

    async def run(self, turn: Turn) -> None:
        if self.chunks is not None:
            await turn.say_stream(list(self.chunks))
            return
        text = self.text if isinstance(self.text, str) else self.text(turn.text)
        if not isinstance(text, str):
            raise TypeError(f"{self!r} returned {type(text).__name__} {text!r}, not a str")
        await turn.say_stream(split_words(text))

    def __repr__(self) -> str:
        if not isinstance(self.text, str):
            return f"say({getattr(self.text, '__name__', None) or repr(self.text)})"
        if self.chunks is None:
            return _call_repr("say", self.text)
        return _call_repr("say", self.text, chunks=list(self.chunks))


def say(text: str | Callable[[str], str], *, chunks: Sequence[str] | None = None) -> Step:
    """The agent streams ``text`` word by word (one delta per word), then the complete message.

    ``text`` may be a callable that gets the user's text and returns the answer (an echo:
    ``say(str.upper)``). ``chunks`` streams exactly those deltas instead; they must join to
    ``text``.

    Raises ``TypeError`` for a ``text`` that is neither a str nor a callable, or ``chunks``
    that are not a list of str; ``ValueError`` when ``chunks`` do not join to ``text``.
    """
    if not isinstance(text, str) and not callable(text):
        raise TypeError(
            "say(): text must be a str or a callable (user_text: str) -> str, "
            f"got {type(text).__name__} {text!r}"
        )
    if chunks is None:
        return _Say(text, None)
    if isinstance(chunks, str) or not isinstance(chunks, Sequence):
        raise TypeError(f"say(): chunks must be a list of str, got {type(chunks).__name__}")
    for chunk in chunks:
        _check_str("say", "each chunk", chunk)
    if not isinstance(text, str):
        raise TypeError("say(): chunks need a str text (they must join to it), not a callable")
    if "".join(chunks) != text:
        raise ValueError(
            f"say(): chunks must join to the text: {_quote(''.join(chunks))} != {_quote(text)}"
        )
    return _Say(text, tuple(chunks))


@attrs.frozen(repr=False)
class _Emit(Step):
    """One call of the :class:`Turn` method of the same name as the step."""

    method: str
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...] = ()

    async def run(self, turn: Turn) -> None:
        await getattr(turn, self.method)(*self.args, **dict(self.kwargs))

    def __repr__(self) -> str:
        return _call_repr(self.method, *self.args, **dict(self.kwargs))


def thinking(content: str, summary: str | None = None) -> Step:
    """The agent shows its reasoning (a ``THINKING`` event with ``content`` and ``summary``).

    Raises ``TypeError`` if ``content`` is not a str or ``summary`` neither a str nor None.
    """
    _check_str("thinking", "content", content)
    _check_str("thinking", "summary", summary, optional=True)
    return _Emit("thinking", (content,), () if summary is None else (("summary", summary),))


def task(content: str) -> Step:
    """The agent announces a step of its plan (an ``agent_task`` message). Raises
    ``TypeError`` if ``content`` is not a str."""
    _check_str("task", "content", content)
    return _Emit("task", (content,))


def search(query: str, results: Sequence[Any]) -> Step:
    """The agent shows search results (a ``SEARCH_RESULT`` event with ``query`` and
    ``results``, a list of anything JSON can hold).

    Raises ``TypeError`` if ``query`` is not a str or ``results`` not a list.
    """
    _check_str("search", "query", query)
    if isinstance(results, str) or not isinstance(results, Sequence):
        raise TypeError(f"search(): results must be a list, got {type(results).__name__}")
    return _Emit("search", (query, list(results)))


def reauth(provider: str) -> Step:
    """The agent asks the user to re-authorize ``provider`` (a ``REAUTH_REQUEST`` event); the
    turn goes on. Raises ``TypeError`` if ``provider`` is not a str."""
    _check_str("reauth", "provider", provider)
    return _Emit("reauth", (provider,))


def error(message: str) -> Step:
    """The agent reports an error (an ``ERROR`` event with ``message``); the turn goes on with
    the next step. Raises ``TypeError`` if ``message`` is not a str."""
    _check_str("error", "message", message)
    return _Emit("error", (message,))


def status(value: ParticipantStatus | str) -> Step:
    """The agent shows a participant status (``"Typing"``...). ``"Idle"`` ends the turn for
    clients that watch for it, though the script goes on.

    Raises ``TypeError`` if ``value`` is not a str, ``ValueError`` if it is empty.
    """
    _check_str("status", "value", value)
    if not value:
        raise ValueError("status(): value must not be empty; pass e.g. 'Typing'")
    return _Emit("status", (str(value),))


@attrs.frozen(repr=False)
class _Pause(Step):
    seconds: float

    async def run(self, turn: Turn) -> None:
        await asyncio.sleep(self.seconds)

    def __repr__(self) -> str:
        return _call_repr("pause", self.seconds)


def pause(seconds: float) -> Step:
    """The agent waits ``seconds`` before its next step (to test code that races a stream).

    Raises ``TypeError`` if ``seconds`` is not a number, ``ValueError`` if it is negative or
    not finite.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"pause(): seconds must be a number, got {type(seconds).__name__}")
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"pause(): seconds must be a finite number >= 0, got {seconds}")
    return _Pause(float(seconds))


@attrs.frozen(repr=False)
class _Tool(Step):
    name: str
    args: dict[str, Any] = attrs.field(hash=False)
    result: Any = attrs.field(hash=False)
    status: str

    async def run(self, turn: Turn) -> None:
        has_result = self.result is not _ABSENT
        call_status = "running" if has_result else self.status
        tool_id = await turn.tool_call(self.name, status=call_status, arguments=dict(self.args))
        if has_result:
            await turn.tool_result(self.name, tool_id, self.result, status=self.status)

    def __repr__(self) -> str:
        extra: dict[str, Any] = {} if self.result is _ABSENT else {"result": self.result}
        if self.status != "completed":
            extra["status"] = self.status
        return _call_repr("tool", self.name, *((self.args,) if self.args else ()), **extra)


def tool(
    name: str,
    args: Mapping[str, Any] | None = None,
    *,
    result: Any = _ABSENT,
    status: str = "completed",
) -> Step:
    """The agent calls the tool ``name`` with ``args`` (a ``TOOL_CALL`` event; the arguments
    are the stored message's ``content["arguments"]``, as ``get_messages()`` shows them), then,
    if ``result`` is given (even ``None``), shows its result (a ``TOOL_RESULT`` event with
    ``output=result`` and the same ``tool_id``).

    ``status`` is the result's status; with no ``result``, the tool call's own (the call is
    ``"running"`` when a result follows).

    Raises ``TypeError`` if ``name`` or ``status`` is not a str or ``args`` not a mapping.
    """
    _check_str("tool", "name", name)
    _check_str("tool", "status", status)
    return _Tool(name, _check_mapping("tool", "args", args), result, status)


_VERDICT = {True: "approved", False: "denied"}


@attrs.frozen(repr=False)
class _Approval(Step):
    tool_name: str
    args: dict[str, Any] = attrs.field(hash=False)
    approved: tuple[Step, ...]
    denied: tuple[Step, ...]
    expect: bool | None

    async def run(self, turn: Turn) -> None:
        answer = await turn.ask_approval(self.tool_name, arguments=dict(self.args))
        if self.expect is not None and answer.approved != self.expect:
            reason = f" (reason: {_quote(answer.deny_reason)})" if answer.deny_reason else ""
            raise ScriptMismatch(
                f"approval of {self.tool_name!r} expected to be {_VERDICT[self.expect]}, but "
                f"the user {_VERDICT[answer.approved]} it{reason}"
            )
        for step in self.approved if answer.approved else self.denied:
            await step.run(turn)

    def __repr__(self) -> str:
        extra: dict[str, Any] = {"approved": list(self.approved), "denied": list(self.denied)}
        extra = {key: steps for key, steps in extra.items() if steps}
        if self.expect is not None:
            extra["expect"] = self.expect
        return _call_repr("approval", self.tool_name, *((self.args,) if self.args else ()), **extra)


def _branch(param: str, steps: Step | Iterable[Step]) -> tuple[Step, ...]:
    if isinstance(steps, Step):
        return (steps,)
    if isinstance(steps, (str, bytes)) or not isinstance(steps, Iterable):
        raise TypeError(
            f"approval(): {param} must be a list of steps (e.g. [say('Done.')]), "
            f"got {type(steps).__name__} {steps!r}"
        )
    return _check_steps(f"approval(): {param}", steps)


def approval(
    tool_name: str,
    args: Mapping[str, Any] | None = None,
    *,
    approved: Step | Iterable[Step] = (),
    denied: Step | Iterable[Step] = (),
    expect: bool | None = None,
) -> Step:
    """The agent asks the user to approve calling ``tool_name`` with ``args`` (an
    ``APPROVAL_REQUEST`` event, ``AwaitingApproval`` shown), waits for the answer
    (``respond(...)``, from any connection to the session), then runs the ``approved`` steps
    or the ``denied`` steps. Branches may hold further approvals.

    ``expect=True`` (or ``False``): the user must approve (or deny); the other answer is a
    :class:`ScriptMismatch` (with the deny reason, if any) instead of the other branch.

    Raises ``TypeError`` if ``tool_name`` is not a str, ``args`` not a mapping, a branch
    holds something that is not a step, or ``expect`` is not a bool or None; ``ValueError``
    for steps in the branch ``expect`` rules out.
    """
    _check_str("approval", "tool_name", tool_name)
    if expect is not None and not isinstance(expect, bool):
        raise TypeError(f"approval(): expect must be a bool or None, got {expect!r}")
    branches = {"approved": _branch("approved", approved), "denied": _branch("denied", denied)}
    if expect is not None and branches[_VERDICT[not expect]]:
        raise ValueError(
            f"approval(): with expect={expect} the {_VERDICT[not expect]} steps never run; "
            "leave them out"
        )
    return _Approval(
        tool_name,
        _check_mapping("approval", "args", args),
        branches["approved"],
        branches["denied"],
        expect,
    )


# --- the agent ------------------------------------------------------------------------------


class Conversation:
    """A scripted agent: pass it to ``LocalEngine(agents={name: conversation})``.

    ``exchanges`` (made with ``user(...).replies(...)``) say what the user posts and what the
    agent replies. With ``ordered=True`` (the default) each post must match the next exchange
    not yet played, in order; with ``ordered=False`` each post plays the first exchange that
    matches it (exchanges are rules, played any number of times).

    A post that does not match (or comes after the last exchange), a matcher or a step that
    raises, an approval answered against its ``expect``: each raises :class:`ScriptMismatch`
    in the agent. The session sees an ``ERROR`` event naming the exchange and what went wrong,
    and stays usable (in order, an exchange that did not match is still next). Every mismatch
    is appended to :attr:`mismatches`. In order, an exchange is played once a post matches
    it; if its turn is cancelled (the engine stops or restarts mid-turn) before another is
    played, it is un-played, so a client that posts the same text again meets it again.

    The state (the next exchange, the mismatches) is this object's, shared by every session
    that talks to it: build one ``Conversation`` per test (in the test, or in a fixture run
    for each test), or :meth:`reset` it between tests.

    Raises ``TypeError`` if an exchange is not one (a ``user(...)`` without ``.replies(...)``)
    or ``ordered`` is not a bool.
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
        #: Every :class:`ScriptMismatch` raised so far, oldest first.
        self.mismatches: list[ScriptMismatch] = []
        self._lock = threading.Lock()
        self._played = 0  # in order, also the index of the next exchange
        self._used: set[int] = set()  # unordered: the rules played
        self._cancelled: set[int] = set()  # in order: un-played by a cancelled turn
        self._version = 0  # bumped by each play and reset: un-playing needs neither since

    async def __call__(self, turn: Turn) -> None:
        """Run one turn: the steps of the exchange the post matches.

        Raises :class:`ScriptMismatch` (recorded on :attr:`mismatches`) when none does, or
        when matching or a step raises (that exception is its ``__cause__``).
        """
        index, version = self._select(turn.text)
        where = self._where(index)
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
        ``0`` with no :attr:`mismatches`: nothing ever talked to this conversation."""
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

        Raises :class:`ScriptMismatch` listing every mismatch so far and (in order) every
        exchange never reached; unordered rules never used are not an error.
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
