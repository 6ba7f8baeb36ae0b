"""Where to connect and with which key: arguments first, then the environment."""

from __future__ import annotations

import sys

import pytest

from vectorshift_sessions import InsecureTransportError, VectorShiftError
from vectorshift_sessions._config import (
    DEFAULT_BASE_URL,
    OWNER_AGENT,
    OWNER_CHATBOT,
    OWNER_TYPES,
    SESSION_PATH,
    check_key_transport,
    redact,
    resolve_api_key,
    resolve_base_url,
    resolve_ws_base_url,
    session_url,
)

ENV = ("VECTORSHIFT_API_KEY", "VECTORSHIFT_BASE_URL", "VECTORSHIFT_WS_URL")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_default_base_url_is_the_hosted_api() -> None:
    assert DEFAULT_BASE_URL == "https://api.vectorshift.ai/v1"
    assert resolve_base_url() == "https://api.vectorshift.ai/v1"


def test_default_ws_base_url() -> None:
    assert resolve_ws_base_url() == "wss://api.vectorshift.ai/v1"
    assert session_url(resolve_ws_base_url()) == "wss://api.vectorshift.ai/v1/ws/session"


def test_ws_url_env_wins(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("VECTORSHIFT_BASE_URL", "https://other.example.invalid/v1")
    clean_env.setenv("VECTORSHIFT_WS_URL", "ws://127.0.0.1:8765/v1")
    assert resolve_ws_base_url() == "ws://127.0.0.1:8765/v1"
    # taken as given: no scheme rewriting
    clean_env.setenv("VECTORSHIFT_WS_URL", "https://odd.example.invalid")
    assert resolve_ws_base_url() == "https://odd.example.invalid"


def test_ws_argument_wins_over_env(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("VECTORSHIFT_WS_URL", "ws://env.invalid")
    assert resolve_ws_base_url("ws://arg.invalid") == "ws://arg.invalid"
    assert resolve_ws_base_url(base_url="http://base.invalid") == "ws://env.invalid"


@pytest.mark.parametrize(
    ("base", "ws"),
    [
        ("https://api.example.invalid/v1", "wss://api.example.invalid/v1"),
        ("http://localhost:8000/v1", "ws://localhost:8000/v1"),
        ("http://127.0.0.1:8000", "ws://127.0.0.1:8000"),
        ("https://api.example.invalid/v1/", "wss://api.example.invalid/v1"),
    ],
)
def test_ws_url_derived_from_base_url_env(
    clean_env: pytest.MonkeyPatch, base: str, ws: str
) -> None:
    clean_env.setenv("VECTORSHIFT_BASE_URL", base)
    assert resolve_ws_base_url() == ws
    assert session_url(resolve_ws_base_url()) == ws + "/ws/session"


def test_ws_url_derived_from_base_url_argument(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("VECTORSHIFT_BASE_URL", "https://env.example.invalid")
    assert resolve_ws_base_url(base_url="http://arg.example.invalid") == "ws://arg.example.invalid"


def test_only_the_scheme_is_rewritten(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(
        "VECTORSHIFT_BASE_URL", "https://proxy.example.invalid/to/http://inner.invalid/v1"
    )
    assert resolve_ws_base_url() == "wss://proxy.example.invalid/to/http://inner.invalid/v1"
    clean_env.setenv("VECTORSHIFT_BASE_URL", "http://proxy.invalid/https://inner.invalid")
    assert resolve_ws_base_url() == "ws://proxy.invalid/https://inner.invalid"


def test_scheme_is_case_insensitive(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("VECTORSHIFT_BASE_URL", "HTTPS://api.example.invalid/v1")
    assert resolve_ws_base_url() == "wss://api.example.invalid/v1"
    assert resolve_ws_base_url(base_url="Http://h.invalid") == "ws://h.invalid"


def test_empty_env_values_are_unset(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("VECTORSHIFT_WS_URL", "")
    clean_env.setenv("VECTORSHIFT_BASE_URL", "")
    assert resolve_ws_base_url() == "wss://api.vectorshift.ai/v1"
    assert resolve_base_url() == DEFAULT_BASE_URL


def test_base_url_argument_then_env(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("VECTORSHIFT_BASE_URL", "https://env.example.invalid/v1/")
    assert resolve_base_url() == "https://env.example.invalid/v1"
    assert resolve_base_url("http://arg.example.invalid/") == "http://arg.example.invalid"


def test_session_url() -> None:
    assert SESSION_PATH == "/ws/session"
    assert session_url("ws://h:1") == "ws://h:1/ws/session"
    assert session_url("ws://h:1/") == "ws://h:1/ws/session"
    assert session_url("wss://h/v1") == "wss://h/v1/ws/session"


def test_owner_types() -> None:
    assert (OWNER_AGENT, OWNER_CHATBOT) == ("agent", "chatbot")
    assert OWNER_TYPES == (OWNER_AGENT, OWNER_CHATBOT)


# --- the key: never in clear text to another machine, never in a message --------------------

SAFE_URLS = [
    "https://api.vectorshift.ai/v1",
    "wss://api.vectorshift.ai/v1/ws/session",
    "http://localhost:8000/v1",
    "ws://localhost:8000/v1",
    "http://127.0.0.1:8000/v1",
    "ws://127.0.0.2:9/ws/session",
    "http://[::1]:8000/v1",
    "ws://[::1]:8000",
]
CLEAR_TEXT_URLS = [
    ("http://api.example.test/v1", "api.example.test", "https://"),
    ("ws://api.example.test/v1/ws/session", "api.example.test", "wss://"),
    ("HTTP://10.0.0.5:8000", "10.0.0.5", "https://"),
    ("ws://[2001:db8::1]:80/ws/session", "2001:db8::1", "wss://"),
]


@pytest.mark.parametrize("url", SAFE_URLS)
def test_the_key_may_go_over_tls_or_to_this_machine(url: str) -> None:
    check_key_transport(url, "sk-secret")


@pytest.mark.parametrize(("url", "host", "fix"), CLEAR_TEXT_URLS)
def test_the_key_never_goes_in_clear_text_to_another_machine(url: str, host: str, fix: str) -> None:
    with pytest.raises(InsecureTransportError) as info:
        check_key_transport(url, "sk-secret")
    error = info.value
    assert isinstance(error, VectorShiftError) and isinstance(error, ValueError)
    assert error.host == host
    message = str(error)
    assert f"unencrypted to {host}" in message
    assert fix in message and "allow_insecure_key=True" in message
    assert "sk-secret" not in message
    # Nothing to protect, or explicitly allowed: no error.
    check_key_transport(url, None)
    check_key_transport(url, "")
    check_key_transport(url, "sk-secret", allow_insecure_key=True)


def test_redact() -> None:
    assert redact("Bearer sk-1 and sk-1 again", "sk-1") == "Bearer *** and *** again"
    assert redact("text", None) == "text"
    assert redact("text", "") == "text"


def test_api_key_argument_then_env(clean_env: pytest.MonkeyPatch) -> None:
    assert resolve_api_key() is None
    assert resolve_api_key("sk-arg") == "sk-arg"
    clean_env.setenv("VECTORSHIFT_API_KEY", "sk-env")
    assert resolve_api_key() == "sk-env"
    assert resolve_api_key(None) == "sk-env"
    assert resolve_api_key("sk-arg") == "sk-arg"
    assert resolve_api_key("") == "sk-env"  # an empty argument is no key


def test_empty_api_key_env_is_none(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("VECTORSHIFT_API_KEY", "")
    assert resolve_api_key() is None


official_ws_base: object = None
if sys.version_info >= (3, 11):
    try:
        from vectorshift.session import _ws_base_url as official_ws_base
    except ImportError:  # pragma: no cover
        official_ws_base = None


@pytest.mark.skipif(official_ws_base is None, reason="the official client needs Python 3.11+")
@pytest.mark.parametrize(
    "env",
    [
        {},
        {"VECTORSHIFT_BASE_URL": "https://api.example.invalid/v1"},
        {"VECTORSHIFT_BASE_URL": "http://localhost:8000/v1"},
        {"VECTORSHIFT_WS_URL": "ws://127.0.0.1:9/v1"},
        {"VECTORSHIFT_WS_URL": "ws://a.invalid", "VECTORSHIFT_BASE_URL": "https://b.invalid"},
    ],
)
def test_ws_base_url_matches_the_official_client(
    clean_env: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    for name, value in env.items():
        clean_env.setenv(name, value)
    assert resolve_ws_base_url() == official_ws_base()  # type: ignore[operator]
