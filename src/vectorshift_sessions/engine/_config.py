"""Engine settings: where the database lives, and the agents/chatbots configuration file.

The file is JSON (any Python) or TOML (Python 3.11+, by its ``.toml`` suffix)::

    {
      "openai": {"base_url": "http://127.0.0.1:8000/v1", "model": "llama3",
                 "api_key_env": "OPENAI_API_KEY", "timeout": 60, "system_prompt": "Be brief."},
      "agents": {
        "support": {"kind": "demo", "description": "Scripted support agent"},
        "writer": {"kind": "openai", "openai": {"model": "gpt-4o-mini"}}
      },
      "chatbots": {"helpdesk": {"agent": "support"}}
    }

``openai`` (optional) enables the built-in ``openai`` agent; an agent of kind ``openai`` may
override any of its fields. Agent ``kind`` is one of `AGENT_KINDS`. Ids default to
``agent-<name>`` and ``chatbot-<name>``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import attrs

__all__ = [
    "AGENT_KINDS",
    "ENV_HOME",
    "AgentConfig",
    "ChatbotConfig",
    "EngineConfig",
    "OpenAISettings",
    "default_db_path",
    "load_config",
]

#: Environment variable naming the directory that holds the default database.
ENV_HOME = "VECTORSHIFT_SESSIONS_HOME"

#: The built-in implementations an agent in the configuration file can use.
AGENT_KINDS = ("echo", "demo", "openai", "bench")


def default_db_path() -> Path:
    """``$VECTORSHIFT_SESSIONS_HOME/engine.sqlite3``, else ``$XDG_DATA_HOME/vectorshift-sessions/
    engine.sqlite3``, else ``~/.local/share/vectorshift-sessions/engine.sqlite3``.

    Returns:
        The path of the engine's default database (its directory may not exist yet).
    """
    home = os.environ.get(ENV_HOME)
    if home:
        return Path(home).expanduser() / "engine.sqlite3"
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "vectorshift-sessions" / "engine.sqlite3"


@attrs.frozen
class OpenAISettings:
    """How to reach an OpenAI-compatible ``/chat/completions`` endpoint.

    ``base_url`` ends before ``/chat/completions`` (e.g. ``http://127.0.0.1:8000/v1``).

    Attributes:
        base_url: The endpoint's base URL.
        model: The model to ask.
        api_key: The endpoint's key, if it needs one (never shown in a repr).
        timeout: Seconds for each request.
        system_prompt: A system message put before the conversation, if any.
    """

    base_url: str
    model: str
    api_key: str | None = attrs.field(default=None, repr=False)  # never shown
    timeout: float = 60.0
    system_prompt: str | None = None


@attrs.frozen
class AgentConfig:
    """An agent of the configuration file.

    Attributes:
        name: The agent's name.
        kind: Its implementation: one of ``AGENT_KINDS``.
        id: Its id; ``agent-<name>`` when ``None``.
        description: What it does.
        openai: The endpoint of an ``openai`` agent (the file's ``openai`` table with this
            agent's overrides).
    """

    name: str
    kind: str
    id: str | None = None
    description: str = ""
    openai: OpenAISettings | None = None


@attrs.frozen
class ChatbotConfig:
    """A chatbot of the configuration file.

    Attributes:
        name: The chatbot's name.
        agent: The name or id of the agent that answers for it.
        id: Its id; ``chatbot-<name>`` when ``None``.
        description: What it does.
    """

    name: str
    agent: str
    id: str | None = None
    description: str = ""


@attrs.frozen
class EngineConfig:
    """What a configuration file holds (see the module docstring).

    Attributes:
        openai: The endpoint of the built-in ``openai`` agent, if configured.
        agents: The agents it defines.
        chatbots: The chatbots it defines.
    """

    openai: OpenAISettings | None = None
    agents: tuple[AgentConfig, ...] = ()
    chatbots: tuple[ChatbotConfig, ...] = ()


def load_config(source: str | os.PathLike[str] | Mapping[str, Any]) -> EngineConfig:
    """Read a configuration file (``.json``, or ``.toml`` on Python 3.11+) or an equivalent dict.

    Args:
        source: The file's path, or the dict it would hold.

    Returns:
        The configuration.

    Raises:
        ValueError: The file cannot be read or parsed, or a key is wrong (the message names
            the file and the key).
    """
    if isinstance(source, Mapping):
        return _parse(source, "config")
    path = Path(source)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read engine config {where}: {exc.strerror or exc}") from None
    data: Any
    if path.suffix.lower() != ".toml":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"{where} is not valid JSON: {exc}") from None
    elif sys.version_info >= (3, 11):
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{where} is not valid TOML: {exc}") from None
    else:
        raise ValueError(f"{where}: TOML configuration needs Python 3.11+; use a .json file")
    if not isinstance(data, dict):
        raise ValueError(f"{where}: the top level must be an object")
    return _parse(cast("dict[str, Any]", data), where)


def _table(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: {key!r} must be an object (a table)")
    return cast("Mapping[str, Any]", value)


def _text(data: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: {key!r} must be a non-empty string")
    return value


def _opt_text(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{where}: {key!r} must be a string")
    return value


def _openai(data: Mapping[str, Any], where: str, base: OpenAISettings | None) -> OpenAISettings:
    known = {"base_url", "model", "api_key", "api_key_env", "timeout", "system_prompt"}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; expected {sorted(known)}")
    api_key = _opt_text(data, "api_key", where)
    key_env = _opt_text(data, "api_key_env", where)
    if key_env:
        api_key = os.environ.get(key_env) or api_key
    timeout = data.get("timeout", base.timeout if base else 60.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"{where}: 'timeout' must be a positive number of seconds")
    return OpenAISettings(
        base_url=_text(data, "base_url", where, base.base_url if base else None).rstrip("/"),
        model=_text(data, "model", where, base.model if base else None),
        api_key=api_key if api_key is not None else (base.api_key if base else None),
        timeout=float(timeout),
        system_prompt=_opt_text(data, "system_prompt", where)
        or (base.system_prompt if base else None),
    )


def _parse(data: Mapping[str, Any], where: str) -> EngineConfig:
    unknown = set(data) - {"openai", "agents", "chatbots"}
    if unknown:
        raise ValueError(
            f"{where}: unknown keys {sorted(unknown)}; expected 'openai', 'agents', 'chatbots'"
        )
    openai = None
    if "openai" in data:
        openai = _openai(_table(data, "openai", where), f"{where}: openai", None)
    agents: list[AgentConfig] = []
    for name, spec in _table(data, "agents", where).items():
        at = f"{where}: agents.{name}"
        if not isinstance(spec, Mapping):
            raise ValueError(f"{at} must be an object")
        spec = cast("Mapping[str, Any]", spec)
        kind = _text(spec, "kind", at)
        if kind not in AGENT_KINDS:
            raise ValueError(f"{at}: 'kind' must be one of {', '.join(AGENT_KINDS)}")
        agent_openai = None
        if kind == "openai":
            overrides = _table(spec, "openai", at)
            if openai is None and not overrides:
                raise ValueError(f"{at}: kind 'openai' needs an 'openai' table (base_url, model)")
            agent_openai = _openai(overrides, f"{at}.openai", openai)
        agents.append(
            AgentConfig(
                name=name,
                kind=kind,
                id=_opt_text(spec, "id", at),
                description=_opt_text(spec, "description", at) or "",
                openai=agent_openai,
            )
        )
    chatbots: list[ChatbotConfig] = []
    for name, spec in _table(data, "chatbots", where).items():
        at = f"{where}: chatbots.{name}"
        if not isinstance(spec, Mapping):
            raise ValueError(f"{at} must be an object")
        spec = cast("Mapping[str, Any]", spec)
        chatbots.append(
            ChatbotConfig(
                name=name,
                agent=_text(spec, "agent", at),
                id=_opt_text(spec, "id", at),
                description=_opt_text(spec, "description", at) or "",
            )
        )
    return EngineConfig(openai=openai, agents=tuple(agents), chatbots=tuple(chatbots))
