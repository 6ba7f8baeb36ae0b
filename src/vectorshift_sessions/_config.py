"""Where to connect and with which key: arguments first, then the environment, as the official client."""

from __future__ import annotations

import os

__all__ = ["DEFAULT_BASE_URL", "resolve_api_key", "resolve_base_url", "resolve_ws_base_url"]

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
