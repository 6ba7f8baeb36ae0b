"""A WebSocket that could not be opened, as the package's error: what was tried (the URL, the
proxy) and what to check, by what failed. Shared by both flavours' connections."""

from __future__ import annotations

from ._backends._base import HandshakeRejected, ProxyRefused, TransportError
from ._config import redact
from ._errors import HandshakeError, SessionAuthenticationError, SessionProxyError

__all__ = ["open_failed"]

#: What to check, by what failed (``TransportError.kind``).
_HINTS = {
    "tls": "the TLS handshake failed: check the engine's certificate and this machine's trust "
    "store (pass ssl_context=, or set SSL_CERT_FILE, for a private CA) and the clock",
    "timeout": "check the address (ws_url / VECTORSHIFT_WS_URL, or base_url), that the engine "
    "runs there, and what lies between (firewall, proxy), or raise connect_timeout",
    "unreachable": "check the address (ws_url / VECTORSHIFT_WS_URL, or base_url), that the "
    "engine runs there, and that this network (or its proxy) lets you reach it",
}
_PROXY_HINT = (
    "check the proxy URL (proxy=, or HTTPS_PROXY / HTTP_PROXY / ALL_PROXY) and its "
    "credentials, or exempt this host with NO_PROXY"
)


def open_failed(url: str, exc: TransportError, api_key: str | None) -> HandshakeError:
    """The error for a WebSocket to ``url`` that could not be opened (never showing the key)."""
    if isinstance(exc, HandshakeRejected):
        return _refused(url, exc, api_key)
    if isinstance(exc, ProxyRefused):
        return SessionProxyError(
            f"could not open a WebSocket to {url}: {exc}; {_PROXY_HINT}",
            proxy=exc.proxy,
            status_code=exc.status,
        )
    hint = _HINTS.get(exc.kind or "", _HINTS["unreachable"])
    return HandshakeError(redact(f"{exc}; {hint}", api_key))


def _refused(url: str, exc: HandshakeRejected, api_key: str | None) -> HandshakeError:
    status = exc.status_code
    if 300 <= status < 400:
        where = redact(exc.location, api_key)[:300] if exc.location else "nowhere said"
        return HandshakeError(
            f"the engine at {url} redirected the WebSocket handshake (HTTP {status}) to "
            f"{where}; redirects are not followed (one could take the key elsewhere): if you "
            "trust it, use that URL as ws_url / VECTORSHIFT_WS_URL",
            status_code=status,
        )
    reason = redact(exc.body, api_key).strip()[:300] or "no reason given"
    if status in (401, 403):
        return SessionAuthenticationError(
            f"the engine at {url} refused the API key (HTTP {status}): {reason}; check "
            "api_key or VECTORSHIFT_API_KEY",
            status_code=status,
        )
    hint = (
        "the engine failed or is overloaded (it may be restarting): retry later"
        if status >= 500
        else "check the URL (ws_url / VECTORSHIFT_WS_URL, or base_url): it may not be a "
        "session endpoint"
    )
    return HandshakeError(
        f"the engine at {url} refused the WebSocket handshake (HTTP {status}): {reason}; {hint}",
        status_code=status,
    )
