"""Where to connect and with which key: arguments first, then the environment, as the official
client. Also the facts about both that the client, the sessions and the engine share: the session
endpoint's path, the kinds of object a session belongs to, and keeping the key secret (never in
clear text to another machine, never in a message)."""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit

from ._errors import InsecureTransportError, MissingAPIKeyError

__all__ = [
    "DEFAULT_BASE_URL",
    "OWNER_AGENT",
    "OWNER_CHATBOT",
    "OWNER_TYPES",
    "SESSION_PATH",
    "check_key_present",
    "check_key_transport",
    "cleartext_host",
    "is_loopback",
    "redact",
    "resolve_api_key",
    "resolve_base_url",
    "resolve_ws_base_url",
    "session_url",
]

DEFAULT_BASE_URL = "https://api.vectorshift.ai/v1"
#: The session endpoint, under the WebSocket base URL (the engine serves it under ``/v1`` too).
SESSION_PATH = "/ws/session"
#: The kinds of object a session belongs to (``create_session``'s ``object_type``).
OWNER_AGENT = "agent"
OWNER_CHATBOT = "chatbot"
OWNER_TYPES = (OWNER_AGENT, OWNER_CHATBOT)


def resolve_api_key(api_key: str | None = None) -> str | None:
    """The API key: the argument, else ``VECTORSHIFT_API_KEY``, else none."""
    return api_key or os.environ.get("VECTORSHIFT_API_KEY") or None


def resolve_base_url(base_url: str | None = None) -> str:
    """The REST base URL: the argument, else ``VECTORSHIFT_BASE_URL``, else the hosted API."""
    return (base_url or os.environ.get("VECTORSHIFT_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def resolve_ws_base_url(ws_url: str | None = None, base_url: str | None = None) -> str:
    """The WebSocket base: the argument, else ``VECTORSHIFT_WS_URL``, else derived from the base URL."""
    explicit = ws_url or os.environ.get("VECTORSHIFT_WS_URL")
    if explicit:
        return explicit.rstrip("/")
    http = resolve_base_url(base_url)
    for http_scheme, ws_scheme in (("https://", "wss://"), ("http://", "ws://")):
        if http[: len(http_scheme)].lower() == http_scheme:  # the scheme only, never the path
            return ws_scheme + http[len(http_scheme) :]
    return http


def session_url(ws_base: str) -> str:
    """The session endpoint under a WebSocket base URL."""
    return ws_base.rstrip("/") + SESSION_PATH


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cleartext_host(url: str) -> str | None:
    """The host an ``http://`` or ``ws://`` URL would carry a key to unencrypted, unless it is
    this machine; ``None`` when the key would be safe (TLS, or loopback)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme.lower() in ("http", "ws") and not is_loopback(host):
        return host
    return None


def check_key_transport(url: str, api_key: str | None, allow_insecure_key: bool = False) -> None:
    """Refuse, before any traffic, to send ``api_key`` to ``url`` in clear text.

    Raises `InsecureTransportError` when ``url`` is ``http://`` or ``ws://`` to another
    machine and there is a key to protect, unless ``allow_insecure_key``. TLS and loopback are
    always fine.
    """
    if not api_key or allow_insecure_key:
        return
    host = cleartext_host(url)
    if host is not None:
        scheme = urlsplit(url).scheme.lower()
        secure = "https" if scheme == "http" else "wss"
        raise InsecureTransportError(
            f"refusing to send the API key unencrypted to {host} over {scheme}://; use "
            f"{secure}://, or pass allow_insecure_key=True if this network is trusted",
            host=host,
        )


def check_key_present(url: str, api_key: str | None) -> None:
    """Refuse, before any traffic, to go without a key to an engine on another machine (the
    hosted engine needs one; the local engine on this machine does not). Raises
    `MissingAPIKeyError`, which says where keys come from and how to work locally."""
    if not api_key and not is_loopback(urlsplit(url).hostname or ""):
        raise MissingAPIKeyError(url)


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` (the API key) replaced by ``***``."""
    return text.replace(secret, "***") if secret else text
