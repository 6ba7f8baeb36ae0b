"""Playing one recorded turn on a live turn: its steps in order, at the recorded pace or at
once, with new message ids; approval answers waited for and compared with the recorded ones.

The ``redact(frame, direction)`` hook a cassette was recorded with is applied to what the
code under test sends (its post, its approval answers) before comparing, as it was to the
recorded frames.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Sequence
from typing import Any, cast

import attrs

from ... import _codec as codec
from ..._cassette import SENT, Redactor
from ..._content import DecodedContent, decode_content
from ..._errors import CodecError
from ...engine._turn import ApprovalAnswer, Turn, new_id
from ._errors import RERECORD, CassetteMismatch
from ._model import RecordedTurn, describe_answer
from ._steps import Approval, Delta, Message, Status

__all__ = ["Options", "play", "posted"]


@attrs.frozen
class Options:
    name: str  # the cassette's, for messages
    speed: float
    redact: Redactor | None
    approval_timeout: float | None


def _redact(redact: Redactor, frame: dict[str, Any]) -> dict[str, Any]:
    result = redact(copy.deepcopy(frame), SENT)
    if not isinstance(result, dict):
        raise TypeError(f"redact() must return the frame (a dict), got {type(result).__name__}")
    return result


def posted(turn: Turn, redact: Redactor | None) -> tuple[DecodedContent, ...]:
    """What the live turn's post holds, redacted as the recording was."""
    contents: list[Any] = list(turn.inputs)
    if redact is not None:
        session_id = turn.session_id
        if len(contents) == 1:
            frame = {"type": "post_message", "session_id": session_id, "content": contents[0]}
            contents = [_redact(redact, frame).get("content")]
        else:
            frame = {"type": "post_messages", "session_id": session_id, "messages": contents}
            messages = _redact(redact, frame).get("messages")
            contents = list(cast("Sequence[Any]", messages)) if isinstance(messages, list) else []
    try:
        return tuple(decode_content(content) for content in contents)
    except CodecError as exc:
        raise ValueError(f"redact() turned the post into something unreadable: {exc}") from None


def _answered(
    answer: ApprovalAnswer, turn: Turn, message_id: str, redact: Redactor | None
) -> ApprovalAnswer | None:
    """The live answer, redacted as the recording was (``None``: no answer after that)."""
    if redact is None:
        return answer
    content = codec.approval_content(answer.approved, answer.confirm, answer.deny_reason)
    frame = {
        "type": "post_message",
        "session_id": turn.session_id,
        "content": content,
        "parent_message_id": message_id,
    }
    try:
        parsed = codec.parse_approval_content(_redact(redact, frame).get("content", ""))
    except CodecError:
        return None
    if parsed is None:
        return None
    return ApprovalAnswer(parsed.approved, dict(parsed.confirm or {}), parsed.deny_reason)


def _same(recorded: ApprovalAnswer, received: ApprovalAnswer | None) -> bool:
    if received is None or recorded.approved != received.approved:
        return False
    if recorded.approved:
        return dict(recorded.confirm) == dict(received.confirm)
    return recorded.deny_reason == received.deny_reason


async def play(
    turn: Turn,
    recorded: RecordedTurn,
    options: Options,
    fail: Callable[[str], CassetteMismatch],
) -> None:
    """Send the recorded turn's steps on ``turn``; raises what ``fail`` makes when the user
    answers an approval otherwise than recorded, or not in time."""
    ids: dict[str, str] = {}

    def new(old: str | None) -> str:
        if old is None:
            return new_id()  # a fresh id each time
        mapped = ids.get(old)
        if mapped is None:
            mapped = ids[old] = new_id()
        return mapped

    for step in recorded._steps:
        if options.speed and step.wait > 0:
            await asyncio.sleep(step.wait / options.speed)
        if isinstance(step, Approval):
            await _approval(turn, step, new(step.message_id), options, fail)
        elif isinstance(step, Delta):
            # Deltas that name no message: one new id for all of them in this turn.
            message_id = new(step.message_id) if step.message_id else new("")
            await turn.delta(message_id, step.text, step.index)
        elif isinstance(step, Message):
            recorded_message = step.message
            sender = recorded_message.get("sender")
            await turn.emit(
                recorded_message["content"],
                message_id=new(step.message_id),
                sender=cast("dict[str, Any]", sender) if isinstance(sender, dict) else None,
                fields={k: v for k, v in recorded_message.items() if k not in _OWN_FIELDS},
            )
        elif isinstance(step, Status):
            await turn.status(step.status)
        else:
            frame = dict(step.frame)
            if "session_id" in frame:
                frame["session_id"] = turn.session_id
            if isinstance(frame.get("message_id"), str):
                frame["message_id"] = new(frame["message_id"])
            await turn.send_frame(frame)


#: The fields of a stored message the replay sets itself (the others are kept as recorded).
_OWN_FIELDS = frozenset(("id", "session_id", "sender", "content"))


async def _approval(
    turn: Turn,
    step: Approval,
    message_id: str,
    options: Options,
    fail: Callable[[str], CassetteMismatch],
) -> None:
    request = turn.request_approval(step.content, message_id=message_id)
    recorded = step.answer
    timeout = options.approval_timeout
    if recorded is None or timeout is None:
        await request  # never answered when recorded: nothing to compare, no time limit
        return
    try:
        answer = await asyncio.wait_for(request, timeout)
    except asyncio.TimeoutError:
        raise fail(
            f"cassette {options.name}: the recording answered the approval of "
            f"{step.tool_name!r} (line {step.line}) with {describe_answer(recorded.answer)} "
            f"(line {recorded.line}); nothing answered it within {timeout:g} s (a post sent "
            f"instead waits until this turn ends: answer the approval first); {RERECORD}"
        ) from None
    received = _answered(answer, turn, message_id, options.redact)
    if not _same(recorded.answer, received):
        raise fail(
            f"cassette {options.name}, line {recorded.line}: the approval of "
            f"{step.tool_name!r} was answered otherwise than recorded: recorded "
            f"{describe_answer(recorded.answer)}, received {describe_answer(received)}; "
            f"{RERECORD}"
        )
