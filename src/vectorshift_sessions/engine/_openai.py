"""The ``openai`` agent: streams from any OpenAI-compatible ``/chat/completions`` endpoint."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx

from .._codec import decode_stored_message
from .._types import SessionMessageRole
from ._config import OpenAISettings
from ._turn import Turn

__all__ = ["OpenAIAgent"]

logger = logging.getLogger("vectorshift_sessions.engine")


class _StreamError(Exception):
    """The endpoint answered, but not with a usable stream."""


class OpenAIAgent:
    """An agent that streams its answer from an OpenAI-compatible chat completions endpoint.

    ``base_url`` is the part before ``/chat/completions`` (e.g. ``http://127.0.0.1:8000/v1``).
    The session's text history is sent as context. A timeout, an HTTP error or a malformed
    stream becomes an ``error_message`` notification in the session.

    Call it with a turn, as the engine does (it is an agent function).

    Args:
        base_url: The endpoint's base URL.
        model: The model to ask.
        api_key: The endpoint's key, if it needs one (never shown in a repr).
        timeout: Seconds for each request.
        system_prompt: A system message put before the conversation, if any.

    Attributes:
        settings: The endpoint's settings.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        system_prompt: str | None = None,
    ):
        self.settings = OpenAISettings(
            base_url=base_url.rstrip("/"),
            model=model,
            api_key=api_key,
            timeout=timeout,
            system_prompt=system_prompt,
        )

    @classmethod
    def from_settings(cls, settings: OpenAISettings) -> OpenAIAgent:
        """An agent for configured settings (the engine configuration's ``openai`` table).

        Args:
            settings: The endpoint's settings.

        Returns:
            The agent.
        """
        return cls(
            settings.base_url,
            settings.model,
            api_key=settings.api_key,
            timeout=settings.timeout,
            system_prompt=settings.system_prompt,
        )

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIAgent(base_url={self.settings.base_url!r}, model={self.settings.model!r})"

    def chat_messages(self, turn: Turn) -> list[dict[str, str]]:
        """The request's ``messages``: system prompt, text history, then this turn.

        Args:
            turn: The turn to answer.

        Returns:
            The chat messages, oldest first, each a ``role`` and a ``content``; attached files
            are named in the last one's text.
        """
        messages: list[dict[str, str]] = []
        if self.settings.system_prompt:
            messages.append({"role": "system", "content": self.settings.system_prompt})
        for stored in turn.history:
            message = decode_stored_message(stored)
            if message.content_type != "data_type_message" or message.text is None:
                continue
            role = "user" if message.sender.role is SessionMessageRole.USER else "assistant"
            messages.append({"role": role, "content": message.text})
        text = turn.text
        for file in turn.files:
            text += f"\n[attached file {file.name} ({file.mime_type}, {file.size} bytes)]"
        messages.append({"role": "user", "content": text.strip()})
        return messages

    async def __call__(self, turn: Turn) -> None:
        url = f"{self.settings.base_url}/chat/completions"
        try:
            await turn.say_stream(self._stream(url, self.chat_messages(turn)))
        except httpx.TimeoutException:
            await turn.error(
                f"the model endpoint {url} did not answer within {self.settings.timeout:g} s"
            )
        except httpx.HTTPError as exc:
            await turn.error(f"could not reach the model endpoint {url}: {exc}")
        except _StreamError as exc:
            await turn.error(f"the model endpoint {url} {exc}")

    async def _stream(self, url: str, messages: list[dict[str, str]]) -> AsyncIterator[str]:
        headers = {"Accept": "text/event-stream"}
        if self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        body = {"model": self.settings.model, "messages": messages, "stream": True}
        async with (
            httpx.AsyncClient(timeout=self.settings.timeout) as client,
            client.stream("POST", url, json=body, headers=headers) as response,
        ):
            if response.status_code >= 400:
                detail = (await response.aread()).decode("utf-8", "replace")[:300]
                raise _StreamError(f"answered HTTP {response.status_code}: {detail}")
            done = False
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue  # blank separators, comments, "event:" lines
                data = line[5:].strip()
                if data == "[DONE]":
                    done = True
                    break
                text = _delta_text(data)
                if text:
                    yield text
            if not done:
                raise _StreamError("ended the stream without [DONE]")


def _delta_text(data: str) -> str | None:
    try:
        chunk: Any = json.loads(data)
        if chunk.get("error"):
            raise _StreamError(f"reported an error: {str(chunk['error'])[:300]}")
        choices: list[Any] = chunk.get("choices") or []
        if not choices:
            return None  # e.g. a final usage-only chunk
        delta: dict[str, Any] = choices[0].get("delta") or {}
        content = delta.get("content")
    except (ValueError, AttributeError, TypeError):
        raise _StreamError(f"sent a malformed stream chunk: {data[:200]!r}") from None
    if content is not None and not isinstance(content, str):
        raise _StreamError(f"sent a malformed stream chunk: {data[:200]!r}")
    return content
