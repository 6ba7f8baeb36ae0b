"""The steps of a scripted agent's reply: ``say``, ``thinking``, ``task``, ``tool``, ``search``,
``approval``, ``reauth``, ``error``, ``status`` and ``pause`` (see `._script`).

Each builder checks its arguments at once (a ``TypeError`` or ``ValueError`` naming what to
pass) and returns a frozen `Step`; subclass ``Step`` with an ``async def run(self, turn)``
for a step of your own.
"""

from __future__ import annotations

import abc
import asyncio
import enum
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import attrs

from .._types import ParticipantStatus
from ..engine._agents import split_words
from ._mismatch import Mismatch

if TYPE_CHECKING:
    from ..engine._turn import Turn

__all__ = [
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
]

_QUOTE_LIMIT = 200


class _Absent(enum.Enum):
    ABSENT = "absent"


_ABSENT = _Absent.ABSENT


class ScriptMismatch(Mismatch):
    """The user posted or answered something the `Conversation` did not expect, a
    matcher or a step raised (the exception is the ``__cause__``), or (from
    `Conversation.assert_done`) the conversation did not go as scripted.

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
    return dict(cast("Mapping[str, Any]", value))


# --- what the agent does --------------------------------------------------------------------


class Step(abc.ABC):
    """One thing the scripted agent does in a reply (made by ``say``, ``tool``...).

    Subclass it, with an ``async def run(self, turn)``, for a step of your own.
    """

    __slots__ = ()

    @abc.abstractmethod
    async def run(self, turn: Turn) -> None:
        """Do it in ``turn``.

        Args:
            turn: The turn the scripted agent is answering.
        """


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

    Args:
        text: The answer, or a callable that makes it from the user's text.
        chunks: The exact deltas to stream; they must join to ``text``.

    Returns:
        The step.

    Raises:
        TypeError: ``text`` is neither a str nor a callable, or ``chunks`` are not a list of
            str (or come with a callable ``text``).
        ValueError: ``chunks`` do not join to ``text``.
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
    """One call of the `Turn` method of the same name as the step."""

    method: str
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...] = ()

    async def run(self, turn: Turn) -> None:
        await getattr(turn, self.method)(*self.args, **dict(self.kwargs))

    def __repr__(self) -> str:
        return _call_repr(self.method, *self.args, **dict(self.kwargs))


def thinking(content: str, summary: str | None = None) -> Step:
    """The agent shows its reasoning (a ``THINKING`` event with ``content`` and ``summary``).

    Args:
        content: The reasoning.
        summary: A short title for it.

    Returns:
        The step.

    Raises:
        TypeError: ``content`` is not a str, or ``summary`` neither a str nor None.
    """
    _check_str("thinking", "content", content)
    _check_str("thinking", "summary", summary, optional=True)
    return _Emit("thinking", (content,), () if summary is None else (("summary", summary),))


def task(content: str) -> Step:
    """The agent announces a step of its plan (an ``agent_task`` message).

    Args:
        content: The step of the plan.

    Returns:
        The step.

    Raises:
        TypeError: ``content`` is not a str.
    """
    _check_str("task", "content", content)
    return _Emit("task", (content,))


def search(query: str, results: Sequence[Any]) -> Step:
    """The agent shows search results (a ``SEARCH_RESULT`` event with ``query`` and
    ``results``, a list of anything JSON can hold).

    Args:
        query: What was searched for.
        results: What was found.

    Returns:
        The step.

    Raises:
        TypeError: ``query`` is not a str, or ``results`` not a list.
    """
    _check_str("search", "query", query)
    if isinstance(results, str) or not isinstance(results, Sequence):
        raise TypeError(f"search(): results must be a list, got {type(results).__name__}")
    return _Emit("search", (query, list(results)))


def reauth(provider: str) -> Step:
    """The agent asks the user to re-authorize ``provider`` (a ``REAUTH_REQUEST`` event); the
    turn goes on.

    Args:
        provider: The provider, such as ``"google_drive"``.

    Returns:
        The step.

    Raises:
        TypeError: ``provider`` is not a str.
    """
    _check_str("reauth", "provider", provider)
    return _Emit("reauth", (provider,))


def error(message: str) -> Step:
    """The agent reports an error (an ``ERROR`` event with ``message``); the turn goes on with
    the next step.

    Args:
        message: What went wrong.

    Returns:
        The step.

    Raises:
        TypeError: ``message`` is not a str.
    """
    _check_str("error", "message", message)
    return _Emit("error", (message,))


def status(value: ParticipantStatus | str) -> Step:
    """The agent shows a participant status (``"Typing"``...). ``"Idle"`` ends the turn for
    clients that watch for it, though the script goes on.

    Args:
        value: The status, a member or its string value.

    Returns:
        The step.

    Raises:
        TypeError: ``value`` is not a str.
        ValueError: ``value`` is empty.
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

    Args:
        seconds: How long to wait.

    Returns:
        The step.

    Raises:
        TypeError: ``seconds`` is not a number.
        ValueError: ``seconds`` is negative or not finite.
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

    Args:
        name: The tool's name.
        args: The tool's arguments.
        result: What the tool returned; when left out, no result is shown.
        status: The result's status (or the call's, without a result).

    Returns:
        The step.

    Raises:
        TypeError: ``name`` or ``status`` is not a str, or ``args`` not a mapping.
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
    `ScriptMismatch` (with the deny reason, if any) instead of the other branch.

    Args:
        tool_name: The tool that waits for the approval.
        args: The tool's arguments.
        approved: The steps when the user approves (a step or a list of them).
        denied: The steps when the user denies (a step or a list of them).
        expect: The answer the user must give, if one.

    Returns:
        The step.

    Raises:
        TypeError: ``tool_name`` is not a str, ``args`` not a mapping, a branch holds
            something that is not a step, or ``expect`` is not a bool or None.
        ValueError: There are steps in the branch ``expect`` rules out.
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
