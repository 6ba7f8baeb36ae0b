"""Sessions and REST calls through real proxies on loopback (``tests/_connect_proxy.py``): an
HTTP proxy (CONNECT tunnels, forwarded ``http://`` requests) and a SOCKS one; from the
environment or ``proxy=``; credentials sent and never shown; refusals as typed errors naming
the proxy without its password; ``NO_PROXY``; recovery after a cut, through the proxy.

The target is ``engine.test``, a name only the proxies know (it leads to the local engine): a
loopback URL is never proxied from the environment. Written once; tests/_sync/ is generated.
"""

from __future__ import annotations

import base64
import logging
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tests._certs import make_certificates, server_context
from tests._connect_proxy import (
    HIDDEN,
    HOSTS,
    PASSWORD,
    TARGET,
    USER,
    USERINFO,
    ConnectProxy,
    SocksProxy,
    assert_password_hidden,
    free_port,
)
from vectorshift_sessions import (
    APIConnectionError,
    APIProxyError,
    AsyncClient,
    AsyncSession,
    HandshakeError,
    ProxyError,
    ReconnectPolicy,
    SessionEventType,
    SessionProxyError,
)
from vectorshift_sessions.engine import LocalEngine

KEY = "sk-proxy-test-key"
ET = SessionEventType
FAST = ReconnectPolicy(initial_delay=0.005, max_delay=0.05, deadline=30)


@pytest.fixture
def every_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)  # every logger, websockets' own included
    yield caplog


def engine_url(engine: LocalEngine, scheme: str = "ws") -> str:
    return f"{scheme}://{TARGET}:{engine.port}/v1"


def session_to(engine: LocalEngine, **options: object) -> AsyncSession:
    """A session with the echo agent at engine.test (a key is needed for another machine,
    and may travel in clear text to it: the test's own engine)."""
    return AsyncSession(
        owner_type="agent",
        owner_id="agent-echo",
        ws_url=engine_url(engine),
        api_key=KEY,
        allow_insecure_key=True,
        **options,  # type: ignore[arg-type]
    )


def client_to(engine: LocalEngine, **options: object) -> AsyncClient:
    return AsyncClient(
        KEY,
        base_url=engine_url(engine, "http"),
        allow_insecure_key=True,
        max_retries=0,
        **options,  # type: ignore[arg-type]
    )


def assert_secret_hidden(text: str) -> None:
    assert_password_hidden(text)
    assert KEY not in text


# --- through an HTTP proxy ------------------------------------------------------------------------


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
async def test_a_session_goes_through_the_environments_proxy(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    with ConnectProxy(HOSTS) as proxy:
        monkeypatch.setenv(variable, proxy.url())
        async with session_to(engine) as session:
            assert (await session.ask("hi")).text == "hi"
            assert (await session.ask("and again")).text == "and again"
    (request,) = proxy.requests
    assert request.line == f"CONNECT {TARGET}:{engine.port} HTTP/1.1"
    assert request.headers["host"] == f"{TARGET}:{engine.port}"
    assert "proxy-authorization" not in request.headers


async def test_an_explicit_proxy_wins_over_the_environment(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ConnectProxy(HOSTS) as from_env, ConnectProxy(HOSTS) as given:
        monkeypatch.setenv("HTTP_PROXY", from_env.url())
        async with session_to(engine, proxy=given.url()) as session:
            assert (await session.ask("hi")).text == "hi"
    assert from_env.requests == []
    assert [r.line for r in given.requests] == [f"CONNECT {TARGET}:{engine.port} HTTP/1.1"]


async def test_proxy_none_turns_the_environment_off(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ConnectProxy(HOSTS) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        monkeypatch.setenv("ALL_PROXY", proxy.url())
        with pytest.raises(HandshakeError) as caught:  # engine.test resolves nowhere
            await session_to(engine, proxy=None, connect_timeout=10).connect()
        async with client_to(engine, proxy=None) as client:
            with pytest.raises(APIConnectionError) as rest:
                await client.agents.fetch(name="echo")
    assert proxy.requests == []
    assert "(no proxy)" in str(caught.value), caught.value
    assert not isinstance(caught.value, ProxyError)
    assert not isinstance(rest.value, ProxyError)


async def test_credentials_reach_the_proxy_and_are_never_shown(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch, every_log: pytest.LogCaptureFixture
) -> None:
    with ConnectProxy(HOSTS, credentials=(USER, PASSWORD)) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url(USERINFO))
        async with session_to(engine) as session:
            assert (await session.ask("hi")).text == "hi"
            shown = repr(session)
        async with client_to(engine) as client:
            agent = await client.agents.fetch(name="echo")
            shown += repr(client) + repr(agent)
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert [r.headers["proxy-authorization"] for r in proxy.requests] == [expected] * 2
    assert_secret_hidden(every_log.text + shown)


@pytest.mark.parametrize(
    ("options", "userinfo", "status"),
    [
        ({"credentials": (USER, PASSWORD)}, "", 407),  # none given
        ({"credentials": (USER, "another")}, USERINFO, 407),  # wrong ones
        ({"refuse": True}, USERINFO, 403),
    ],
)
async def test_a_refusing_proxy_is_a_proxy_error_naming_it_without_password(
    engine: LocalEngine,
    every_log: pytest.LogCaptureFixture,
    options: dict[str, object],
    userinfo: str,
    status: int,
) -> None:
    with ConnectProxy(HOSTS, **options) as proxy:  # type: ignore[arg-type]
        url = proxy.url(userinfo)
        with pytest.raises(SessionProxyError) as caught:
            await session_to(engine, proxy=url, reconnect=False).connect()
        errors: list[ProxyError] = [caught.value]
        if status == 407:  # a forwarding proxy's 403 reads as the server's: see the TLS test
            async with client_to(engine, proxy=url) as client:
                with pytest.raises(APIProxyError) as rest:  # a forwarded http:// request
                    await client.agents.fetch(name="echo")
            errors.append(rest.value)
    shown = f"http://{HIDDEN if userinfo else ''}127.0.0.1:{proxy.port}"
    for error in errors:
        message = str(error)
        assert isinstance(error, ProxyError)
        assert error.proxy == shown and error.status_code == status, message
        assert shown in message and str(status) in message, message
        assert "HTTPS_PROXY" in message  # what to check
        assert_secret_hidden(message + repr(error) + every_log.text)
    assert len(proxy.requests) == len(errors)


async def test_a_proxy_nothing_listens_on_is_a_proxy_error_naming_it(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch, every_log: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    monkeypatch.setenv("HTTP_PROXY", f"http://{USERINFO}@127.0.0.1:{port}")
    with pytest.raises(SessionProxyError) as caught:
        await session_to(engine).connect()
    async with client_to(engine) as client:
        with pytest.raises(APIProxyError) as rest:
            await client.agents.fetch(name="echo")
    shown = f"http://{HIDDEN}127.0.0.1:{port}"
    assert f"cannot reach the proxy {shown}" in str(caught.value), caught.value
    assert caught.value.proxy == rest.value.proxy == shown
    assert caught.value.status_code is None and rest.value.status_code is None
    assert_secret_hidden(str(caught.value) + str(rest.value) + every_log.text)


async def test_connect_timeout_covers_a_proxy_that_never_answers(engine: LocalEngine) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (backlog), never answers
        port = silent.getsockname()[1]
        with pytest.raises(HandshakeError) as caught:
            await session_to(
                engine, proxy=f"http://{USERINFO}@127.0.0.1:{port}", connect_timeout=0.5
            ).connect()
    message = str(caught.value)
    assert f"through the proxy http://{HIDDEN}127.0.0.1:{port}" in message, message
    assert "no answer within 0.5 s" in message and "connect_timeout" in message, message
    assert_secret_hidden(message)


async def test_rest_calls_and_their_sessions_go_through_the_clients_proxy(
    engine: LocalEngine,
) -> None:
    with ConnectProxy(HOSTS) as proxy:
        async with client_to(engine, proxy=proxy.url()) as client:
            agent = await client.agents.fetch(name="echo")
            async with await agent.create_session() as session:
                assert (await session.ask("hi")).text == "hi"
    forwarded, tunnel = (r.line for r in proxy.requests)
    assert forwarded.startswith(f"GET http://{TARGET}:{engine.port}/v1/agent?"), forwarded
    assert tunnel == f"CONNECT {TARGET}:{engine.port} HTTP/1.1"


# --- not through the proxy ------------------------------------------------------------------------


@pytest.mark.parametrize("no_proxy", [TARGET, f".{TARGET}", f"{TARGET}:*", "*"])
async def test_no_proxy_bypasses_the_proxy(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch, no_proxy: str
) -> None:
    with ConnectProxy(HOSTS) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        monkeypatch.setenv("NO_PROXY", no_proxy.replace(":*", f":{engine.port}"))
        with pytest.raises(HandshakeError) as caught:  # engine.test resolves nowhere
            await session_to(engine, connect_timeout=10).connect()
        async with client_to(engine) as client:
            with pytest.raises(APIConnectionError) as rest:
                await client.agents.fetch(name="echo")
    assert proxy.requests == []
    assert not isinstance(caught.value, ProxyError) and not isinstance(rest.value, ProxyError)
    assert f"ws://{TARGET}:{engine.port}" in str(caught.value), caught.value


async def test_https_proxy_is_for_secure_urls_only(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ConnectProxy(HOSTS) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url())
        with pytest.raises(HandshakeError) as caught:
            await session_to(engine, connect_timeout=10).connect()
    assert proxy.requests == []
    assert "(no proxy)" in str(caught.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_this_machine_is_never_proxied_from_the_environment(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    with ConnectProxy(HOSTS) as proxy:
        for variable in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            monkeypatch.setenv(variable, proxy.url())
        base = f"http://{host}:{engine.port}/v1"
        async with AsyncClient(base_url=base) as client:
            agent = await client.agents.fetch(name="echo")
            async with await agent.create_session() as session:
                assert (await session.ask("hi")).text == "hi"
    assert proxy.requests == []


# --- recovery, through the proxy ------------------------------------------------------------------


async def test_a_session_recovers_through_the_proxy_after_a_cut(engine: LocalEngine) -> None:
    with ConnectProxy(HOSTS) as proxy:
        async with session_to(engine, proxy=proxy.url(), reconnect=FAST) as session:
            assert (await session.ask("before")).text == "before"
            listener = session.listen()
            assert proxy.cut() > 0
            async for event in listener:  # the session's own word: Offline, then Connected
                if (event.type, event.data.get("source"), event.data.get("status")) == (
                    ET.PARTICIPANT_STATUS,
                    "client",
                    "Connected",
                ):
                    break
            assert (await session.ask("after")).text == "after"
            texts = [m.text for m in await session.get_messages()]
    assert texts == ["before", "before", "after", "after"]
    assert [r.line for r in proxy.requests] == [f"CONNECT {TARGET}:{engine.port} HTTP/1.1"] * 2


# --- SOCKS ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["socks5", "socks5h", "socks4a"])
async def test_a_session_goes_through_a_socks_proxy(engine: LocalEngine, scheme: str) -> None:
    with SocksProxy(HOSTS) as proxy:
        async with session_to(engine, proxy=proxy.url(scheme)) as session:
            assert (await session.ask("hi")).text == "hi"
    (request,) = proxy.requests
    assert (request.version, request.host, request.port) == (
        4 if scheme == "socks4a" else 5,
        TARGET,  # the proxy resolves the name
        engine.port,
    )


async def test_socks5_credentials_reach_the_proxy_and_are_never_shown(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch, every_log: pytest.LogCaptureFixture
) -> None:
    with SocksProxy(HOSTS, credentials=(USER, PASSWORD)) as proxy:
        monkeypatch.setenv("ALL_PROXY", proxy.url("socks5h", USERINFO))
        async with session_to(engine) as session:
            assert (await session.ask("hi")).text == "hi"
        with pytest.raises(SessionProxyError) as caught:
            await session_to(engine, proxy=proxy.url("socks5h", "alice:wrong")).connect()
    assert [(r.user, r.password) for r in proxy.requests] == [(USER, PASSWORD), (USER, "wrong")]
    assert "refused the credentials" in str(caught.value)
    assert_secret_hidden(every_log.text + str(caught.value))


@pytest.mark.parametrize(
    ("options", "scheme", "reason"),
    [
        ({"refuse": True}, "socks5h", "not allowed by its rules"),
        ({"credentials": (USER, PASSWORD)}, "socks5h", "none of our SOCKS5 methods"),
        ({}, "socks4", "use a socks4a:// or socks5h:// proxy URL"),  # before any traffic
        ({"refuse": True}, "socks4a", "SOCKS4 code 0x5b"),
    ],
)
async def test_a_refusing_socks_proxy_is_a_proxy_error_naming_it(
    engine: LocalEngine, options: dict[str, object], scheme: str, reason: str
) -> None:
    with (
        SocksProxy(HOSTS, **options) as proxy,  # type: ignore[arg-type]
        pytest.raises(SessionProxyError) as caught,
    ):
        await session_to(engine, proxy=proxy.url(scheme), reconnect=False).connect()
    assert caught.value.proxy == proxy.url(scheme)
    message = str(caught.value)
    assert f"{scheme}://127.0.0.1:{proxy.port}" in message and reason in message, message


# --- bad proxy arguments: refused before anything is sent ---------------------------------------


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (8080, TypeError, "proxy must be a proxy URL"),
        (False, TypeError, "proxy must be a proxy URL"),
        ("ftp://proxy.corp:21", ValueError, "ftp:// is not a proxy scheme"),
        ("http://proxy.corp:port", ValueError, "port"),
        ("http://:3128", ValueError, "no host"),
    ],
)
async def test_a_bad_proxy_argument_is_refused_at_once(
    value: object, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        AsyncSession(owner_type="agent", owner_id="a", ws_url="ws://127.0.0.1:9", proxy=value)  # type: ignore[arg-type]
    with pytest.raises(error, match=match):
        AsyncClient(base_url="http://127.0.0.1:9", proxy=value)  # type: ignore[arg-type]


async def test_rest_calls_go_through_a_socks5_proxy(engine: LocalEngine) -> None:
    with SocksProxy(HOSTS, credentials=(USER, PASSWORD)) as proxy:
        async with client_to(engine, proxy=proxy.url("socks5h", USERINFO)) as client:
            assert (await client.agents.fetch(name="echo")).id == "agent-echo"
    assert [(r.version, r.host, r.user) for r in proxy.requests] == [(5, TARGET, USER)]


async def test_a_refusing_socks_proxy_is_a_proxy_error_for_rest_calls_too(
    engine: LocalEngine,
) -> None:
    with SocksProxy(HOSTS, refuse=True) as proxy:
        async with client_to(engine, proxy=proxy.url("socks5h")) as client:
            with pytest.raises(APIProxyError, match="refused it") as caught:
                await client.agents.fetch(name="echo")
    assert caught.value.proxy == proxy.url("socks5h")


async def test_a_proxy_url_in_the_environment_that_is_not_valid_is_a_proxy_error(
    engine: LocalEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "ftp://alice:s3cret@proxy.corp:21")
    with pytest.raises(SessionProxyError) as caught:
        await session_to(engine).connect()
    async with client_to(engine) as client:
        with pytest.raises(APIProxyError) as rest:
            await client.agents.fetch(name="echo")
    for error in (caught.value, rest.value):
        assert error.proxy == "the HTTP_PROXY of the environment"
        assert "is not a valid proxy URL: ftp:// is not a proxy scheme" in str(error)
        assert "s3cret" not in str(error)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://s3cret-token@proxy.corp:3128", "http://***@proxy.corp:3128"),  # a token
        ("http://alice:s3cret@proxy.corp", "http://alice:***@proxy.corp:80"),
    ],
)
async def test_a_proxy_shows_without_its_secrets(url: str, shown: str) -> None:
    with SocksProxy() as nowhere:  # reached by nobody: the session is only made
        session = AsyncSession(
            owner_type="agent", owner_id="a", ws_url=f"ws://127.0.0.1:{nowhere.port}", proxy=url
        )
    assert "s3cret" not in repr(session)
    with pytest.raises(SessionProxyError) as caught:  # nothing listens on proxy.corp
        await AsyncSession(
            owner_type="agent",
            owner_id="a",
            ws_url="ws://127.0.0.1:9",
            proxy=url,
            reconnect=False,
            connect_timeout=5,
        ).connect()
    assert caught.value.proxy == shown and "s3cret" not in str(caught.value)


async def test_a_malformed_proxy_url_is_not_echoed() -> None:
    with pytest.raises(ValueError, match="malformed") as caught:
        AsyncSession(
            owner_type="agent",
            owner_id="a",
            ws_url="ws://127.0.0.1:9",
            proxy="http://user:s3cret\uff0fx@proxy.corp:3128",  # a fullwidth solidus
        )
    assert "s3cret" not in str(caught.value)


async def test_rest_calls_through_socks_without_the_extra_say_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "socksio", None)  # as if not installed
    with pytest.raises(ValueError, match=r"pip install 'vectorshift-sessions\[socks\]'"):
        AsyncClient(base_url="http://127.0.0.1:9", proxy="socks5h://127.0.0.1:1080")
    # sessions need nothing more
    AsyncSession(owner_type="agent", owner_id="a", ws_url="ws://127.0.0.1:9", proxy="socks5://h")


async def test_rest_calls_refuse_a_socks4_proxy_at_once() -> None:
    with pytest.raises(ValueError, match="REST calls cannot go through the socks4a proxy"):
        AsyncClient(base_url="http://127.0.0.1:9", proxy="socks4a://127.0.0.1:1080")


# --- REST over TLS: a CONNECT tunnel --------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_rest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HTTPServer, Path]]:
    """A REST server on 127.0.0.1 whose certificate names engine.test, and its CA's file."""
    folder = tmp_path_factory.mktemp("rest-tls")
    ca = make_certificates(folder, [TARGET], ip="127.0.0.1")
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=server_context(folder))
    server.expect_request("/v1/agent").respond_with_json(
        {"object": {"_id": "agent-echo", "name": "echo", "agent_type": "conversational"}}
    )
    server.start()
    yield server, ca
    server.clear()
    if server.is_running():
        server.stop()


@pytest.mark.parametrize(
    ("options", "userinfo", "status"),
    [
        ({}, "", None),
        ({"credentials": (USER, PASSWORD)}, "", 407),
        ({"refuse": True}, USERINFO, 403),
    ],
)
async def test_rest_calls_over_tls_go_through_a_connect_tunnel(
    tls_rest: tuple[HTTPServer, Path],
    monkeypatch: pytest.MonkeyPatch,
    every_log: pytest.LogCaptureFixture,
    options: dict[str, object],
    userinfo: str,
    status: int | None,
) -> None:
    server, ca = tls_rest
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # still trusted with the proxy chosen by us
    base_url = f"https://{TARGET}:{server.port}/v1"
    with ConnectProxy(HOSTS, **options) as proxy:  # type: ignore[arg-type]
        monkeypatch.setenv("HTTPS_PROXY", proxy.url(userinfo))
        async with AsyncClient(KEY, base_url=base_url, max_retries=0) as client:
            if status is None:
                assert (await client.agents.fetch(name="echo")).id == "agent-echo"
            else:
                with pytest.raises(APIProxyError) as caught:
                    await client.agents.fetch(name="echo")
                assert caught.value.status_code == status
                assert (
                    caught.value.proxy
                    == f"http://{HIDDEN if userinfo else ''}127.0.0.1:{proxy.port}"
                )
                assert_secret_hidden(str(caught.value) + every_log.text)
    assert [r.line for r in proxy.requests] == [f"CONNECT {TARGET}:{server.port} HTTP/1.1"]


async def test_a_tls_failure_behind_a_proxy_is_not_blamed_on_the_proxy(
    tls_rest: tuple[HTTPServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = tls_rest  # its CA not trusted here
    with ConnectProxy(HOSTS) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url())
        base_url = f"https://{TARGET}:{server.port}/v1"
        async with AsyncClient(KEY, base_url=base_url, max_retries=0) as client:
            with pytest.raises(APIConnectionError) as caught:
                await client.agents.fetch(name="echo")
    assert not isinstance(caught.value, ProxyError)
    assert "the TLS handshake failed" in str(caught.value), caught.value
    assert len(proxy.requests) == 1  # it did go through the proxy
