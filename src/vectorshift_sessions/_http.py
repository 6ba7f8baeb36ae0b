"""REST plumbing shared by both flavours: the retry policy and its delays, ``Retry-After``,
turning answers and failures into the package's errors, and reading the API's bodies.

Nothing here performs I/O or knows asyncio from threads, so it is written and tested once;
``_async/client.py`` (and the ``_sync`` twin generated from it) does the requests and sleeps.
Every message built here has the API key removed (``_config.redact``), whatever the server
echoed back.
"""

from __future__ import annotations

import email.utils
import json
import math
import random
import re
import ssl
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlencode, urlsplit

import attrs

from ._config import redact
from ._errors import (
    APIConnectionError,
    APIProxyError,
    APIStatusError,
    APITimeoutError,
    MalformedResponseError,
    status_error_class,
)
from ._retry import backoff_delay

if TYPE_CHECKING:  # httpx costs ~60 ms to import: only the first request pays for it
    import httpx

    from ._backends._proxy import Proxy

__all__ = [
    "RetryPolicy",
    "check_base_url",
    "connection_error",
    "display_url",
    "fetch_params",
    "list_params",
    "object_id",
    "parse_json",
    "parse_retry_after",
    "proxy_options",
    "proxy_status_error",
    "server_message",
    "single_object",
    "status_error",
    "object_list",
]

#: How much of a server's message an error repeats (bodies can be whole HTML pages).
MAX_MESSAGE_CHARS = 500


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{attribute.name} must be a number of seconds >= 0, got {value!r}")


def _retry_count(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"{attribute.name} must be an integer >= 0 (0 = no retries), got {value!r}"
        )


@attrs.frozen
class RetryPolicy:
    """When to retry an idempotent request, and how long to wait first.

    Retried: connection failures and timeouts, ``429`` and every ``5xx``, at most
    ``max_retries`` times (0 turns retrying off). The wait before retry *n* is the server's
    ``Retry-After`` when it sent one (at most ``max_retry_after`` seconds), else an exponential
    backoff ``base_delay * 2**(n-1)`` capped at ``max_delay``, with "equal jitter": a random
    point in its upper half, so clients that failed together do not retry together.
    """

    max_retries: int = attrs.field(default=2, validator=_retry_count)
    base_delay: float = attrs.field(default=0.5, validator=_non_negative)
    max_delay: float = attrs.field(default=8.0, validator=_non_negative)
    max_retry_after: float = attrs.field(default=60.0, validator=_non_negative)

    def retries_status(self, status_code: int) -> bool:
        """Whether an answer with this status is worth another attempt."""
        return status_code == 429 or status_code >= 500

    def delay(
        self,
        retry_number: int,
        retry_after: float | None = None,
        *,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """Seconds to wait before retry number ``retry_number`` (1 = the first retry)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        # The sessions' reconnect backoff, without its +/- spread: a REST caller's max_delay
        # is a true maximum, so the jitter here only ever shortens the wait.
        backoff = backoff_delay(
            retry_number - 1, initial=self.base_delay, maximum=self.max_delay, jitter=0.0
        )
        return backoff * (0.5 + 0.5 * rand())


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """A ``Retry-After`` header as seconds from now: delta-seconds or an HTTP-date.

    ``None`` when absent or unreadable; a date in the past is 0. Fractional seconds are
    accepted although the RFC only allows integers, since some servers send them.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP-date is always UTC, even when it fails to say so
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max((when - now).total_seconds(), 0.0)


def display_url(url: str, params: Mapping[str, str] | None = None) -> str:
    """The URL as errors and logs show it: with its query, which holds ids and names only."""
    return f"{url}?{urlencode(params)}" if params else url


def _message_from_json(body: Any) -> str | None:
    if isinstance(body, str):
        return body or None
    if isinstance(body, list):
        parts = [_message_from_json(item) for item in cast("Sequence[Any]", body)]
        joined = "; ".join(part for part in parts if part)
        return joined or None
    if isinstance(body, dict):
        body = cast("dict[str, Any]", body)
        for key in ("error", "detail", "message", "msg", "errors"):
            found = _message_from_json(body.get(key))
            if found:
                return found
        if body:
            return json.dumps(body, sort_keys=True, default=str)
    return None


def server_message(text: str, secret: str | None = None) -> str:
    """The server's explanation in an error body: ``{"error": ...}``, ``{"detail": ...}``
    (including FastAPI's list of validation errors), ``{"message": ...}``, else the text."""
    try:
        message = _message_from_json(json.loads(text))
    except ValueError:
        message = None
    message = " ".join((message or text).split())  # one line, whatever the body's layout
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + "..."
    return redact(message, secret) or "no message in the answer"


def status_error(
    method: str, url: str, response: httpx.Response, secret: str | None
) -> APIStatusError:
    """The error for an answer with an error status, chosen by that status."""
    text = redact(response.text, secret)  # before parsing, so `body` cannot hold the key
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = text[:MAX_MESSAGE_CHARS]
    cls = status_error_class(response.status_code)
    return cls(
        server_message(text, secret),
        status_code=response.status_code,
        method=method,
        url=redact(url, secret),
        body=body,
    )


_PROXY_HINT = (
    "check the proxy URL (proxy=, or HTTPS_PROXY / HTTP_PROXY / ALL_PROXY) and its "
    "credentials, or exempt this host with NO_PROXY"
)


def proxy_options(proxy: Proxy | None) -> dict[str, Any]:
    """What the ``httpx`` client is given so that it uses ``proxy`` (chosen as for the
    sessions, by ``_proxy.choose_proxy``) and nothing else: when there is none, every
    scheme's mount goes direct, overriding what httpx would find in the environment itself
    (turning its ``trust_env`` off would lose ``SSL_CERT_FILE`` too)."""
    import httpx

    if proxy is None:
        return {"mounts": {"all://": None, "http://": None, "https://": None}}
    if proxy.scheme.startswith("socks"):
        if proxy.scheme not in ("socks5", "socks5h"):
            raise ValueError(
                f"REST calls cannot go through the {proxy.scheme} proxy {proxy}: use a "
                "socks5h:// (or http://) proxy"
            )
        try:
            # imported only to see it is there (httpx's SOCKS support needs it)
            import socksio  # noqa: F401  # pyright: ignore[reportUnusedImport]
        except ImportError:
            raise ValueError(
                f"REST calls through the SOCKS proxy {proxy} need the socks extra: pip "
                "install 'vectorshift-sessions[socks]'"
            ) from None
    # httpx names SOCKS5 with remote name resolution socks5:// too
    address = proxy.address.replace("socks5h://", "socks5://", 1)
    return {"proxy": httpx.Proxy(address, auth=proxy.credentials)}


def _tls_failure(exc: BaseException) -> bool:
    """Whether a TLS handshake failure caused ``exc`` (httpx wraps it twice)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def proxy_status_error(
    method: str, url: str, response: httpx.Response, proxy: Proxy, secret: str | None
) -> APIProxyError:
    """The error for a forwarding proxy's ``407`` to a plain ``http://`` request."""
    return APIProxyError(
        f"{method} {redact(url, secret)} was refused by the proxy {proxy}: HTTP "
        f"{response.status_code} (credentials needed or wrong); {_PROXY_HINT}",
        proxy=str(proxy),
        method=method,
        url=redact(url, secret),
        status_code=response.status_code,
    )


def connection_error(
    method: str,
    url: str,
    exc: httpx.TransportError,
    attempts: int,
    secret: str | None,
    proxy: Proxy | None = None,
) -> APIConnectionError:
    """The error for a request that got no answer: ``APITimeoutError`` when it timed out,
    ``APIProxyError`` when the proxy refused or could not be reached."""
    import httpx

    url = redact(url, secret)
    tries = f" (after {attempts} attempts)" if attempts > 1 else ""
    reason = redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, secret)
    if _tls_failure(exc):
        return APIConnectionError(
            f"{method} {url} failed{tries}: the TLS handshake failed: {reason}; check the "
            "server's certificate and this machine's trust store (SSL_CERT_FILE for a private "
            "CA) and the clock",
            method=method,
            url=url,
        )
    # Through a proxy, a connection that could not be made is the proxy's (the tunnel's own
    # failures are ProxyError, the server's TLS is above).
    if proxy is not None and isinstance(exc, (httpx.ProxyError, httpx.ConnectError)):
        refused = isinstance(exc, httpx.ProxyError)
        status = re.match(r"(\d{3}) ", str(exc)) if refused else None
        what = "refused it" if refused else "could not be reached"
        return APIProxyError(
            f"{method} {url} failed: the proxy {proxy} {what}{tries}: {reason}; {_PROXY_HINT}",
            proxy=str(proxy),
            method=method,
            url=url,
            status_code=int(status[1]) if status else None,
        )
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(
            f"{method} {url} timed out{tries}: {reason}; raise the client's timeout, or retry "
            f"later",
            method=method,
            url=url,
        )
    return APIConnectionError(
        f"{method} {url} got no answer{tries}: {reason}; check the base URL "
        f"(base_url or VECTORSHIFT_BASE_URL) and the network",
        method=method,
        url=url,
    )


def parse_json(method: str, url: str, response: httpx.Response, secret: str | None) -> Any:
    """The body of a success answer, which must be JSON."""
    try:
        return json.loads(response.text)
    except ValueError:
        snippet = server_message(response.text, secret) if response.text.strip() else "empty"
        raise _malformed(
            method, url, response, f"the body is not JSON ({snippet})", secret
        ) from None


def _malformed(
    method: str, url: str, response: httpx.Response, what: str, secret: str | None
) -> MalformedResponseError:
    url = redact(url, secret)
    return MalformedResponseError(
        f"{method} {url} answered {response.status_code} but {what}; is the base URL a "
        f"VectorShift API (base_url or VECTORSHIFT_BASE_URL)?",
        method=method,
        url=url,
        status_code=response.status_code,
    )


def object_id(obj: Mapping[str, Any]) -> str | None:
    """An object's id: ``_id`` (plain, or Mongo extended JSON ``{"$oid": ...}``) or ``id``."""
    for key in ("_id", "id"):
        value = obj.get(key)
        if isinstance(value, dict):
            value = cast("dict[str, Any]", value).get("$oid")
        if isinstance(value, str) and value:
            return value
    return None


def single_object(
    method: str, url: str, response: httpx.Response, body: Any, secret: str | None
) -> dict[str, Any]:
    """The ``object`` of a fetch answer ``{"object": {...}}``, which must carry an id."""
    obj = cast("dict[str, Any]", body).get("object") if isinstance(body, dict) else None
    if not isinstance(obj, dict):
        raise _malformed(method, url, response, 'the body has no "object"', secret)
    obj = cast("dict[str, Any]", obj)
    if object_id(obj) is None:
        raise _malformed(method, url, response, 'its "object" has no "_id" or "id"', secret)
    return obj


def object_list(
    method: str, url: str, response: httpx.Response, body: Any, secret: str | None
) -> list[dict[str, Any]]:
    """The objects of a list answer: ``{"objects": [...]}``, or ``{"object_ids": [...]}`` (then
    each becomes ``{"id": ...}``), as the official client accepts both."""
    if isinstance(body, dict):
        body = cast("dict[str, Any]", body)
        objects = body.get("objects")
        if isinstance(objects, list) and (objects or "object_ids" not in body):
            objects = cast("Sequence[Any]", objects)
            if all(
                isinstance(obj, dict) and object_id(cast("dict[str, Any]", obj)) for obj in objects
            ):
                return cast("list[dict[str, Any]]", objects)
            raise _malformed(
                method, url, response, 'an item of "objects" is not an object with an id', secret
            )
        ids = body.get("object_ids")
        if isinstance(ids, list) and all(
            isinstance(i, str) and i for i in cast("Sequence[Any]", ids)
        ):
            return [{"id": i} for i in cast("list[str]", ids)]
    raise _malformed(method, url, response, 'the body has no "objects" list', secret)


def fetch_params(
    kind: str, id: str | None, name: str | None, username: str | None, org_name: str | None
) -> dict[str, str]:
    """The query of a fetch: exactly one of ``id`` and ``name``, checked before any request."""
    if (id is None) == (name is None):
        given = "both" if id is not None else "neither"
        raise ValueError(f"pass exactly one of id= or name= to fetch a {kind}, got {given}")
    params: dict[str, str] = {}
    for key, value in (("id", id), ("name", name), ("username", username), ("org_name", org_name)):
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{key} must be a non-empty string, got {value!r}")
        params[key] = value
    return params


def list_params(limit: int, offset: int, include_shared: bool) -> dict[str, str]:
    """The query of a list call, checked before any request."""
    for key, value, least in (("limit", limit, 1), ("offset", offset, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{key} must be an integer >= {least}, got {value!r}")
    params = {"limit": str(limit), "offset": str(offset)}
    if include_shared:
        params["include_shared"] = "true"  # the hosted API compares with "true"
    return params


def check_base_url(base_url: str) -> None:
    """Refuse a base URL that is not HTTP(S). (Whether it may carry the key is
    ``_config.check_key_transport``'s to say.)"""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"base_url must be an http:// or https:// URL such as "
            f"'https://api.vectorshift.ai/v1', got {base_url!r}"
        )
