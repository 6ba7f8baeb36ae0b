"""Reading a session's stored history after a reconnection: which posts it holds, and which
of its messages the client never saw live.

A history is the ``messages`` list of a ``get_messages`` answer: stored messages, oldest
first. A user's post is stored as one message per content value (its text, or a file's name,
MIME type and size); an approval answer as a ``response_message``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

from ... import _codec as codec
from ..._content import DecodedContent
from ..._core import turn_ended_in
from ..._errors import CodecError

if TYPE_CHECKING:
    from ..._types import SessionMessage

__all__ = [
    "Post",
    "align",
    "answered_in",
    "ended_in",
    "is_complete",
    "is_user",
    "message_id",
    "missed",
]

_RESPONSE = "response_message"


class Post(Protocol):
    """A recorded post, as the alignment needs it."""

    decoded: tuple[DecodedContent, ...] | None


def message_id(message: dict[str, Any]) -> str | None:
    value = message.get("id")
    return value if isinstance(value, str) and value else None


def _content(message: dict[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    return cast("dict[str, Any]", content) if type(content) is dict else {}


def is_complete(message: dict[str, Any]) -> bool:
    """Whether it is a complete text (the client shows it as ``MESSAGE_COMPLETE``)."""
    content = _content(message)
    status = content.get("status")
    return (
        content.get("type") == "data_type_message"
        and isinstance(status, str)
        and status.lower() == "complete"
    )


def is_user(message: dict[str, Any]) -> bool:
    """Whether the user sent it (a post, or an approval answer)."""
    sender = message.get("sender")
    return type(sender) is dict and "user_id" in sender


def _is_post(message: dict[str, Any]) -> bool:
    return is_user(message) and _content(message).get("type") != _RESPONSE


def _holds(content: dict[str, Any], item: DecodedContent) -> bool:
    """Whether a stored user message is this posted value (as the engine stores it)."""
    if item.data is not None:
        name, size = content.get("name"), content.get("size")
        return (
            content.get("type") != "data_type_message"
            and name in (None, item.filename)
            and size in (None, len(item.data))
        )
    return content.get("value") == item.text


def _matches(posts: Sequence[Post], stored: Sequence[dict[str, Any]]) -> bool:
    values = [item for post in posts for item in post.decoded or ()]
    return len(values) == len(stored) and all(map(_holds, stored, values))


def align(
    history: Sequence[dict[str, Any]],
    posts: Sequence[Post],
    doubtful: Sequence[Post],
    before: Post | None,
) -> tuple[int, dict[int, int]]:
    """Where the open ``posts`` (in the order posted) are in ``history``.

    ``doubtful`` (some of ``posts``, in order) went without an answer: those the engine
    stored are a first few of them (a connection delivers in order), and their messages are
    the last posts of the history, with the others'. ``before`` is the post before them all
    (its messages come just before theirs), which tells a post from an earlier one with the
    same text.

    Returns how many of ``doubtful`` the history holds, and where each post kept starts in
    the history (by its index in ``posts``). ``(0, {})`` when the history does not end with
    these posts (another client posted meanwhile, or the history was cut).
    """
    stored = [(i, _content(m)) for i, m in enumerate(history) if _is_post(m)]
    for keep in range(len(doubtful), -1, -1):
        dropped = {id(p) for p in doubtful[keep:]}
        chosen = [(n, p) for n, p in enumerate(posts) if id(p) not in dropped]
        need = sum(len(p.decoded or ()) for _, p in chosen)
        head = len(stored) - need
        if head < 0 or not _matches([p for _, p in chosen], [c for _, c in stored[head:]]):
            continue
        if before is not None:
            size = len(before.decoded or ())
            if head < size or not _matches([before], [c for _, c in stored[head - size : head]]):
                continue
        starts: dict[int, int] = {}
        for n, post in chosen:
            if post.decoded:
                starts[n] = stored[head][0]
            head += len(post.decoded or ())
        return keep, starts
    return 0, {}


def missed(
    history: Sequence[dict[str, Any]],
    seen: Collection[str],
    completed: Collection[str],
    starts: dict[int, int],
) -> list[tuple[int, dict[str, Any]]]:
    """The messages of the open posts that the client never saw live (a complete text it saw
    only streaming counts as unseen), in history order, each with the index of the post it
    follows (from ``starts``, see `align`). Those before the first open post are
    earlier turns', and left out. Without ``starts`` (the posts were not found), those after
    the last message the client saw go with index ``-1``."""
    begins = sorted((start, n) for n, start in starts.items())
    known = [i for i, m in enumerate(history) if message_id(m) in seen]
    found: list[tuple[int, dict[str, Any]]] = []
    for index, message in enumerate(history):
        mid = message_id(message)
        if mid is None or is_user(message) or mid in (completed if is_complete(message) else seen):
            continue
        if type(_content(message).get("type")) is not str:
            continue
        if begins:
            before = [n for start, n in begins if start < index]
            if before:
                found.append((before[-1], message))
        elif not known or index > known[-1]:
            found.append((-1, message))
    return found


def answered_in(history: Sequence[dict[str, Any]], request_id: str) -> bool:
    """Whether the history holds an answer after the approval request ``request_id``."""
    asked = False
    for message in history:
        if asked and is_user(message) and _content(message).get("type") == _RESPONSE:
            return True
        asked = asked or message_id(message) == request_id
    return False


def ended_in(history: Sequence[dict[str, Any]]) -> bool:
    """Whether the history shows the last turn over (as the client judges it)."""
    messages: list[SessionMessage] = []
    for message in history:
        try:
            messages.append(codec.decode_stored_message(message))
        except CodecError:
            continue
    return turn_ended_in(messages)
