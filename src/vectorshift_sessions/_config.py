"""Where to connect and with which key: arguments first, then the environment, as the official client."""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_BASE_URL",
    "cleartext_host",
    "is_loopback",
    "resolve_api_key",
    "resolve_base_url",
    "resolve_ws_base_url",
]

DEFAULT_BASE_URL = "https://api.vectorshift.ai/v1"


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
    return f"{ws_base.rstrip('/')}/ws/session"


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
