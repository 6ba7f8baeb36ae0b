"""The REST side, shaped like the hosted API, answered from the WebSocket server's handshake hook.

Every path works with and without the ``/v1`` prefix; only GET is answered:

- ``/health`` -> ``{"status": "ok", "version": ...}`` (no key needed);
- ``/agent?id=<id>`` or ``/agent?name=<name>`` -> ``{"object": <agent>}``, an agent being
  ``{"_id", "name", "agent_type" ("conversational" or "functional"), "instructions",
  "llm_client_key", "tools", "inputs", "outputs"}`` as the official client's ``Agent.fetch``
  reads it;
- ``/agents`` -> ``{"objects": [<agent>, ...]}``;
- ``/chatbot?id=<id>`` or ``/chatbot?name=<name>`` -> ``{"object": <chatbot>}``, a chatbot
  being ``{"_id", "name", "description", "agent_id", "agent_name", "deployed"}``;
- ``/chatbots`` -> ``{"objects": [<chatbot>, ...]}``.

Errors are ``{"error": <message>}`` with 400 (bad query), 401 (missing or wrong key when keys
are configured), 404 (unknown object or path), 405 (not GET).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from ._agents import Catalog

__all__ = ["RestApi"]

Answer = tuple[int, dict[str, Any]]


class _RestError(Exception):
    """A REST request answered with an error status and ``{"error": message}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class RestApi:
    def __init__(self, catalog: Catalog, version: str):
        self._catalog = catalog
        self._version = version
        self._routes: dict[str, Callable[[dict[str, list[str]]], Answer]] = {
            "/health": self._health,
            "/agent": self._agent,
            "/agents": self._agents,
            "/chatbot": self._chatbot,
            "/chatbots": self._chatbots,
        }

    def needs_key(self, path: str) -> bool:
        return path != "/health"

    def handle(self, method: str, path: str, query: str) -> Answer:
        """Answer one request; ``path`` has no ``/v1`` prefix and no query."""
        route = self._routes.get(path.rstrip("/") or "/")
        if route is None:
            known = ", ".join(sorted(self._routes))
            return 404, {"error": f"no endpoint {path!r}; this engine serves {known}"}
        if method != "GET":
            return 405, {"error": f"{path} only answers GET, not {method}"}
        try:
            return route(parse_qs(query, keep_blank_values=True))
        except _RestError as exc:
            return exc.status, {"error": str(exc)}

    def _health(self, query: dict[str, list[str]]) -> Answer:
        return 200, {"status": "ok", "version": self._version}

    @staticmethod
    def _lookup_key(kind: str, query: dict[str, list[str]]) -> tuple[str, str]:
        given = {key: query[key] for key in ("id", "name") if key in query}
        if len(given) != 1:
            raise _RestError(400, f"GET /{kind} needs exactly one of ?id=<id> or ?name=<name>")
        ((key, values),) = given.items()
        if len(values) != 1 or not values[0]:
            raise _RestError(400, f"GET /{kind}: {key!r} must be given once, and not empty")
        return key, values[0]

    def _agent(self, query: dict[str, list[str]]) -> Answer:
        key, value = self._lookup_key("agent", query)
        for spec in self._catalog.agents():
            if (spec.id if key == "id" else spec.name) == value:
                return 200, {"object": self._catalog.agent_json(spec)}
        return 404, {"error": f"agent with {key} {value!r} not found"}

    def _agents(self, query: dict[str, list[str]]) -> Answer:
        return 200, {"objects": [self._catalog.agent_json(s) for s in self._catalog.agents()]}

    def _chatbot(self, query: dict[str, list[str]]) -> Answer:
        key, value = self._lookup_key("chatbot", query)
        for bot, agent in self._catalog.chatbots():
            if (bot.id if key == "id" else bot.name) == value:
                return 200, {"object": self._catalog.chatbot_json(bot, agent)}
        return 404, {"error": f"chatbot with {key} {value!r} not found"}

    def _chatbots(self, query: dict[str, list[str]]) -> Answer:
        return 200, {
            "objects": [self._catalog.chatbot_json(b, a) for b, a in self._catalog.chatbots()]
        }
