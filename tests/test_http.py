"""The REST helpers shared by both flavours: retry delays, Retry-After, error mapping, bodies.

They do no I/O, so every delay and message is checked here without sleeping or a server.
"""

from __future__ import annotations

import subprocess
import sys
import traceback
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vectorshift_sessions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
    _http,
)
from vectorshift_sessions._http import RetryPolicy

KEY = "sk-test-SECRET-1234567890"
URL = "https://api.example.test/v1/agent?name=echo"


def everything_shown(exc: BaseException) -> str:
    return str(exc) + repr(exc) + "".join(traceback.format_exception(exc))


# --- RetryPolicy ----------------------------------------------------------------------------


def test_retry_policy_defaults() -> None:
    policy = RetryPolicy()
    assert (policy.max_retries, policy.base_delay, policy.max_delay, policy.max_retry_after) == (
        2,
        0.5,
        8.0,
        60.0,
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"max_retries": 1.5},
        {"max_retries": True},
        {"base_delay": -0.1},
        {"max_delay": float("nan")},
        {"max_retry_after": "1"},
    ],
)
def test_retry_policy_rejects_bad_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 599])
def test_retried_statuses(status: int) -> None:
    assert RetryPolicy().retries_status(status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_client_errors_are_not_retried(status: int) -> None:
    assert not RetryPolicy().retries_status(status)


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0)
    top = [policy.delay(n, rand=lambda: 1.0) for n in range(1, 6)]
    assert top == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_spans_the_upper_half_of_the_backoff() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=100.0)
    assert policy.delay(3, rand=lambda: 0.0) == 2.0
    assert policy.delay(3, rand=lambda: 0.5) == 3.0
    assert policy.delay(3, rand=lambda: 1.0) == 4.0


def test_huge_retry_numbers_do_not_overflow() -> None:
    assert RetryPolicy(max_delay=5.0).delay(10_000, rand=lambda: 1.0) == 5.0


def test_retry_after_wins_over_the_backoff_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=8.0, max_retry_after=30.0)
    assert policy.delay(1, 12.0) == 12.0
    assert policy.delay(1, 0.0) == 0.0
    assert policy.delay(1, 3600.0) == 30.0
    assert policy.delay(1, -5.0) == 0.0


@given(
    base=st.one_of(st.just(0.0), st.floats(1e-6, 100)),  # microseconds and up: real delays
    cap=st.floats(0, 100),
    n=st.integers(1, 500),
    r=st.floats(0, 1),
)
def test_backoff_stays_within_its_bounds(base: float, cap: float, n: int, r: float) -> None:
    backoff = min(cap, base * 2.0 ** (n - 1))
    delay = RetryPolicy(base_delay=base, max_delay=cap).delay(n, rand=lambda: r)
    assert backoff / 2 <= delay <= backoff <= cap


def test_real_jitter_varies() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=1.0)
    delays = {policy.delay(1) for _ in range(50)}
    assert len(delays) > 1
    assert all(0.5 <= d <= 1.0 for d in delays)


# --- Retry-After ----------------------------------------------------------------------------

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("0.25", 0.25),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        ("Thu, 02 Jan 2025 03:06:05 GMT", 120.0),
        (format_datetime(NOW - timedelta(hours=1), usegmt=True), 0.0),
    ],
)
def test_retry_after_values(header: str, seconds: float) -> None:
    assert _http.parse_retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize("header", [None, "", "  ", "soon", "-1", "nan", "inf", "1e400"])
def test_unreadable_retry_after_is_ignored(header: str | None) -> None:
    assert _http.parse_retry_after(header, now=NOW) is None


def test_retry_after_date_without_zone_is_utc() -> None:
    assert _http.parse_retry_after("Thu, 02 Jan 2025 03:04:15 -0000", now=NOW) == 10.0


# --- messages -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"error": "Agent not found"}', "Agent not found"),
        ('{"detail": "Not authenticated"}', "Not authenticated"),
        ('{"message": "slow down"}', "slow down"),
        ('{"error": {"message": "nested reason", "code": 7}}', "nested reason"),
        (
            '{"detail": [{"loc": ["query", "id"], "msg": "field required"},'
            ' {"loc": ["query", "x"], "msg": "bad x"}]}',
            "field required; bad x",
        ),
        ('{"errors": ["a", "b"]}', "a; b"),
        ('{"status": "failed"}', '{"status": "failed"}'),
        ("<html>\n  <h1>Bad Gateway</h1>\n</html>", "<html> <h1>Bad Gateway</h1> </html>"),
        ('"just a string"', "just a string"),
        ("", "no message in the answer"),
        ("{}", "{}"),
    ],
)
def test_server_message(body: str, message: str) -> None:
    assert _http.server_message(body) == message


def test_long_server_messages_are_cut() -> None:
    message = _http.server_message("x" * 5000)
    assert message == "x" * _http.MAX_MESSAGE_CHARS + "..."


def test_server_message_never_repeats_the_key() -> None:
    assert _http.server_message(f'{{"error": "bad key {KEY}"}}', KEY) == "bad key ***"
    assert _http.server_message(f"Bearer {KEY}", KEY) == "Bearer ***"


@pytest.mark.parametrize(
    ("status", "cls", "hint"),
    [
        (400, BadRequestError, "arguments"),
        (401, AuthenticationError, "API key"),
        (403, PermissionDeniedError, "may not use"),
        (404, NotFoundError, "id or name"),
        (422, UnprocessableEntityError, "cannot process"),
        (429, RateLimitError, "too many requests"),
        (500, InternalServerError, "retry later"),
        (503, InternalServerError, "retry later"),
        (418, APIStatusError, "server's message"),
    ],
)
def test_status_error_by_status(status: int, cls: type[APIStatusError], hint: str) -> None:
    response = httpx.Response(status, json={"error": f"it failed, key {KEY}"})
    exc = _http.status_error("GET", URL, response, KEY)
    assert type(exc) is cls
    assert exc.status_code == status
    assert exc.method == "GET"
    assert exc.url == URL
    assert exc.server_message == "it failed, key ***"
    assert exc.body == {"error": "it failed, key ***"}
    text = str(exc)
    assert text.startswith(f"GET {URL} failed with {status}: it failed, key ***")
    assert hint in text
    assert KEY not in everything_shown(exc)


def test_status_error_with_a_text_body() -> None:
    exc = _http.status_error("GET", URL, httpx.Response(502, text="upstream down"), KEY)
    assert exc.server_message == "upstream down"
    assert exc.body == "upstream down"


def test_connection_error_and_timeout() -> None:
    refused = _http.connection_error("GET", URL, httpx.ConnectError("refused"), 3, KEY)
    assert type(refused) is APIConnectionError
    assert str(refused) == (
        f"GET {URL} got no answer (after 3 attempts): ConnectError: refused; check the base URL "
        "(base_url or VECTORSHIFT_BASE_URL) and the network"
    )
    slow = _http.connection_error("GET", URL, httpx.ReadTimeout(""), 1, KEY)
    assert type(slow) is APITimeoutError
    assert isinstance(slow, APIConnectionError)
    assert str(slow).startswith(f"GET {URL} timed out: ReadTimeout;")


def test_connection_error_redacts_the_key() -> None:
    exc = _http.connection_error("GET", f"{URL}&k={KEY}", httpx.ConnectError(f"no {KEY}"), 1, KEY)
    assert KEY not in everything_shown(exc)
    assert exc.url is not None and KEY not in exc.url


# --- bodies ---------------------------------------------------------------------------------


def test_parse_json() -> None:
    assert _http.parse_json("GET", URL, httpx.Response(200, json={"a": 1}), KEY) == {"a": 1}


@pytest.mark.parametrize("text", ["<html>oops</html>", "", "{not json"])
def test_parse_json_rejects_other_bodies(text: str) -> None:
    with pytest.raises(MalformedResponseError, match=r"answered 200 but the body is not JSON"):
        _http.parse_json("GET", URL, httpx.Response(200, text=text), KEY)


def test_malformed_error_redacts_the_key() -> None:
    with pytest.raises(MalformedResponseError) as info:
        _http.parse_json("GET", URL, httpx.Response(200, text=f"token={KEY}"), KEY)
    assert info.value.status_code == 200
    assert info.value.method == "GET"
    assert KEY not in everything_shown(info.value)


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"_id": "a1", "id": "other"}, "a1"),
        ({"id": "a2"}, "a2"),
        ({"_id": {"$oid": "65f0"}}, "65f0"),
        ({"_id": "", "id": "a3"}, "a3"),
        ({"_id": 5}, None),
        ({"name": "x"}, None),
    ],
)
def test_object_id(obj: dict[str, object], expected: str | None) -> None:
    assert _http.object_id(obj) == expected


def test_single_object() -> None:
    response = httpx.Response(200)
    obj = {"_id": "a1", "name": "echo"}
    assert _http.single_object("GET", URL, response, {"object": obj}, KEY) == obj


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ({"objects": []}, 'no "object"'),
        ([1, 2], 'no "object"'),
        ({"object": "a1"}, 'no "object"'),
        ({"object": {"name": "echo"}}, 'no "_id" or "id"'),
    ],
)
def test_single_object_rejects(body: object, what: str) -> None:
    with pytest.raises(MalformedResponseError, match=what):
        _http.single_object("GET", URL, httpx.Response(200), body, KEY)


def test_object_list() -> None:
    response = httpx.Response(200)
    objs = [{"_id": "a1"}, {"id": "a2"}]
    assert _http.object_list("GET", URL, response, {"objects": objs}, KEY) == objs
    assert _http.object_list("GET", URL, response, {"objects": []}, KEY) == []
    # The official client's fallback: ids only.
    assert _http.object_list("GET", URL, response, {"object_ids": ["x", "y"]}, KEY) == [
        {"id": "x"},
        {"id": "y"},
    ]
    assert _http.object_list("GET", URL, response, {"objects": [], "object_ids": ["x"]}, KEY) == [
        {"id": "x"}
    ]


@pytest.mark.parametrize(
    "body",
    [{}, {"objects": "a1"}, {"objects": [{"name": "no id"}]}, {"objects": ["a1"]}, [], None],
)
def test_object_list_rejects(body: object) -> None:
    with pytest.raises(
        MalformedResponseError,
        match=r"GET https://api\.example\.test/v1/agent\?name=echo answered 200 but",
    ):
        _http.object_list("GET", URL, httpx.Response(200), body, KEY)


# --- arguments ------------------------------------------------------------------------------


def test_fetch_params() -> None:
    assert _http.fetch_params("agent", "a1", None, None, None) == {"id": "a1"}
    assert _http.fetch_params("agent", None, "echo", "me", "acme") == {
        "name": "echo",
        "username": "me",
        "org_name": "acme",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((None, None, None, None), "exactly one of id= or name=.*neither"),
        (("a1", "echo", None, None), "exactly one of id= or name=.*both"),
        (("", None, None, None), "id must be a non-empty string"),
        ((None, "  ", None, None), "name must be a non-empty string"),
        ((None, "echo", 5, None), "username must be a non-empty string"),
    ],
)
def test_fetch_params_rejects(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _http.fetch_params("agent", *args)  # type: ignore[arg-type]


def test_list_params() -> None:
    assert _http.list_params(50, 0, False) == {"limit": "50", "offset": "0"}
    assert _http.list_params(5, 10, True) == {
        "limit": "5",
        "offset": "10",
        "include_shared": "true",
    }
    for limit, offset in ((0, 0), (10, -1), (True, 0), (1.5, 0)):
        with pytest.raises(ValueError):
            _http.list_params(limit, offset, False)  # type: ignore[arg-type]


def test_display_url() -> None:
    base = "https://api.example.test/v1/agent"
    assert _http.display_url(base, {"name": "my bot"}) == base + "?name=my+bot"
    assert _http.display_url(base, {}) == base


@pytest.mark.parametrize(
    "url",
    [
        "https://api.vectorshift.ai/v1",
        "http://localhost:8000/v1",
        "http://127.0.0.1:8000/v1",
        "http://[::1]:8000/v1",
        "http://api.example.test/v1",  # whether the key may go there is not check_base_url's
    ],
)
def test_http_base_urls_are_accepted(url: str) -> None:
    _http.check_base_url(url)


@pytest.mark.parametrize("url", ["api.vectorshift.ai/v1", "ftp://x/v1", "wss://x/v1", "http://"])
def test_base_url_must_be_http(url: str) -> None:
    with pytest.raises(ValueError, match="base_url must be an http"):
        _http.check_base_url(url)


def test_importing_the_package_does_not_import_httpx() -> None:
    # httpx costs ~60 ms to import, most of the package's import budget: the first request
    # pays for it, not every `import vectorshift_sessions` (a CLI, a session-only script).
    code = "import sys, vectorshift_sessions; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
