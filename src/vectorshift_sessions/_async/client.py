"""Client, agents and chatbots: find agents and chatbots over REST, open sessions with them, and
run one-shot turns. Written once, for asyncio, in ``_async/client.py``; ``codegen/generate.py``
generates the blocking twin in ``_sync/`` from it, docstrings included (so they speak of the
asyncio flavour only).

The client holds the configuration (key, URLs, timeouts, retries) and one pooled HTTP client.
Handles (agents, chatbots) remember the client they were fetched with; without one, every call
uses a default client built from the environment and closes it afterwards.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar
from urllib.parse import urlsplit

import attrs

from .. import _http, _logs
from .. import _inputs as inputs
from .._backends import _asyncio_backend as backend
from .._backends._base import ProxyRefused
from .._backends._proxy import (
    Proxy,
    ProxySetting,
    check_proxy_setting,
    choose_proxy,
    parse_proxy,
)
from .._config import (
    OWNER_AGENT,
    OWNER_CHATBOT,
    check_key_present,
    check_key_transport,
    redact,
    resolve_api_key,
    resolve_base_url,
    resolve_ws_base_url,
)
from .._errors import ActionRequiredError, APIError, APIProxyError
from .._turn import TurnResult
from .._types import Content, SessionEventType
from .session import AsyncSession

if TYPE_CHECKING:  # httpx costs ~60 ms to import: only the first request pays for it
    import httpx

    from .._telemetry import MeterProvider, TracerProvider

__all__ = ["AsyncAgent", "AsyncChatbot", "AsyncClient", "AsyncHandles"]

logger = _logs.CLIENT

CONVERSATIONAL = "conversational"
FUNCTIONAL = "functional"

_Handle_T = TypeVar("_Handle_T", bound="_Handle")


class AsyncClient:
    """Configuration and one pooled HTTP connection for the VectorShift REST API.

    Use it as a context manager (or ``aclose()`` it) so its connections are released::

        async with AsyncClient() as client:
            agent = await client.agents.fetch(name="support-bot")
            result = await agent.run("Hello!")

    Arguments win over the environment: ``api_key`` else ``VECTORSHIFT_API_KEY``; ``base_url``
    else ``VECTORSHIFT_BASE_URL`` else ``https://api.vectorshift.ai/v1``; ``ws_url`` else
    ``VECTORSHIFT_WS_URL`` else the base URL with ``https``/``http`` → ``wss``/``ws``.

    ``timeout`` bounds each REST request (seconds, or an ``httpx.Timeout``);
    ``connect_timeout`` bounds opening a session and each of its handshake answers. Idempotent
    requests are retried on connection failures, timeouts, ``429`` and ``5xx``: up to
    ``max_retries`` times (0 = never), after an exponential backoff with jitter that starts at
    ``retry_base_delay`` and is capped at ``retry_max_delay``, or after the server's
    ``Retry-After`` (at most ``max_retry_after``). ``http_client`` lets you bring your own
    configured ``httpx`` client (certificates, transports); you then close it yourself.

    ``proxy`` is the proxy REST requests and the sessions opened here go through: by default
    (``True``) the one the environment names (``HTTPS_PROXY`` / ``HTTP_PROXY``, else
    ``ALL_PROXY``; never for ``NO_PROXY`` hosts nor this machine); a URL
    (``http://user:password@proxy:3128``, ``https://``, ``socks5h://``: SOCKS needs the
    ``socks`` extra for REST) for every connection; ``None`` for none. A proxy that cannot be
    reached or refuses raises ``APIProxyError`` / ``SessionProxyError``, naming it without its
    password. A client without a key for an engine on another machine raises
    ``MissingAPIKeyError`` here.

    The key never travels unencrypted to another machine: with a key, an ``http://`` base URL
    or ``ws://`` WebSocket URL that is not this machine raises ``InsecureTransportError`` here,
    before any request, unless ``allow_insecure_key=True``.

    ``tracer_provider`` / ``meter_provider`` (OpenTelemetry) go to every session opened
    through the client (see ``AsyncSession``); without them, the global providers.

    Args:
        api_key: The API key; else ``VECTORSHIFT_API_KEY``.
        base_url: The REST base URL; else ``VECTORSHIFT_BASE_URL``, else
            ``https://api.vectorshift.ai/v1``.
        ws_url: The WebSocket base URL; else ``VECTORSHIFT_WS_URL``, else derived from the
            base URL.
        timeout: Each REST request's time limit: seconds, or an ``httpx.Timeout``.
        connect_timeout: Seconds to open a session, and for each of its handshake answers.
        max_retries: How many times an idempotent request is retried (0 = never).
        retry_base_delay: The first wait before a retry, in seconds.
        retry_max_delay: The longest wait before a retry, in seconds.
        max_retry_after: The longest server ``Retry-After`` obeyed, in seconds.
        allow_insecure_key: Send the key unencrypted to another machine anyway.
        http_client: Your own ``httpx`` client, which you then close yourself.
        proxy: The proxy to go through (see above).
        tracer_provider: The OpenTelemetry tracer provider for the sessions opened here.
        meter_provider: The OpenTelemetry meter provider for the sessions opened here.

    Attributes:
        agents: Fetch and list agents with this client.
        chatbots: Fetch and list chatbots with this client.

    Raises:
        TypeError: ``timeout`` is neither a number nor an ``httpx.Timeout``.
        ValueError: A timeout is not positive, or a URL or proxy is not valid.
        InsecureTransportError: The key would travel unencrypted to another machine.
        MissingAPIKeyError: No key, for an engine on another machine.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        ws_url: str | None = None,
        timeout: float | httpx.Timeout = 30.0,
        connect_timeout: float = 30.0,
        max_retries: int = 2,
        retry_base_delay: float = 0.5,
        retry_max_delay: float = 8.0,
        max_retry_after: float = 60.0,
        allow_insecure_key: bool = False,
        http_client: httpx.AsyncClient | None = None,
        proxy: str | Literal[True] | None = True,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ):
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            import httpx  # whoever passes an httpx.Timeout has imported httpx already

            if not isinstance(timeout, httpx.Timeout):
                raise TypeError(
                    f"timeout must be a number of seconds or an httpx.Timeout, got {timeout!r}"
                )
        elif not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if not connect_timeout > 0:
            raise ValueError(
                f"connect_timeout must be a positive number of seconds, got {connect_timeout!r}"
            )
        self._api_key = resolve_api_key(api_key)
        self._base_url = resolve_base_url(base_url)
        _http.check_base_url(self._base_url)
        self._ws_url = resolve_ws_base_url(ws_url, self._base_url)
        # Before any traffic: REST requests and the sessions opened here carry the key.
        for url in (self._base_url, self._ws_url):
            check_key_present(url, self._api_key)
            check_key_transport(url, self._api_key, allow_insecure_key)
        check_proxy_setting(proxy)
        self._proxy: ProxySetting = proxy
        if isinstance(proxy, str) and http_client is None:
            _http.proxy_options(parse_proxy(proxy))  # one httpx cannot use: refused now
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._retry = _http.RetryPolicy(
            max_retries=max_retries,
            base_delay=retry_base_delay,
            max_delay=retry_max_delay,
            max_retry_after=max_retry_after,
        )
        self._allow_insecure_key = allow_insecure_key
        self._http = http_client
        self._owns_http = http_client is None
        self._via: Proxy | None = None  # the proxy of the pool we made, once made
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._closed = False
        # Creating the pool costs a TLS context: done on the first request, once.
        self._pool_lock = backend.StateLock()
        self.agents: AsyncHandles[AsyncAgent] = AsyncHandles(AsyncAgent, self)
        """Fetch and list agents with this client: ``client.agents.fetch(name=...)``."""
        self.chatbots: AsyncHandles[AsyncChatbot] = AsyncHandles(AsyncChatbot, self)
        """Fetch and list chatbots with this client: ``client.chatbots.fetch(name=...)``."""

    # --- configuration ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The REST base URL, such as ``https://api.vectorshift.ai/v1``."""
        return self._base_url

    @property
    def ws_url(self) -> str:
        """The WebSocket base URL sessions connect under (``{ws_url}/ws/session``)."""
        return self._ws_url

    @property
    def has_api_key(self) -> bool:
        """Whether a key was given or found in the environment (the key itself stays private)."""
        return self._api_key is not None

    @property
    def timeout(self) -> float | httpx.Timeout:
        """Each REST request's time limit, as given."""
        return self._timeout

    @property
    def connect_timeout(self) -> float:
        """Seconds to open a session, and for each of its handshake answers."""
        return self._connect_timeout

    @property
    def retry_policy(self) -> _http.RetryPolicy:
        """How REST requests are retried (``max_retries`` and the backoff's delays)."""
        return self._retry

    @property
    def is_closed(self) -> bool:
        """Whether ``aclose()`` was called: the client makes no more requests."""
        return self._closed

    def __repr__(self) -> str:
        key = "set" if self._api_key else "missing"
        return (
            f"{type(self).__name__}(base_url={self._base_url!r}, ws_url={self._ws_url!r}, "
            f"api_key={key}, max_retries={self._retry.max_retries})"
        )

    # --- lifecycle ----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Release the pooled connections. Sessions opened through the client are unaffected."""
        self._closed = True
        http, self._http = self._http, None
        if http is not None and self._owns_http:
            await http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- sessions -----------------------------------------------------------------------------

    def _session(
        self, owner_type: str, owner_id: str, session_id: str | None, name: str | None = None
    ) -> AsyncSession:
        """A session (not connected) with this client's key, URLs and timeouts; ``name`` is
        the owner's, for the header of a cassette the session records."""
        session = AsyncSession(
            owner_type=owner_type,
            owner_id=owner_id,
            session_id=session_id,
            api_key=self._api_key,
            ws_url=self._ws_url,
            base_url=self._base_url,
            connect_timeout=self._connect_timeout,
            allow_insecure_key=self._allow_insecure_key,
            proxy=self._proxy,
            tracer_provider=self._tracer_provider,
            meter_provider=self._meter_provider,
        )
        session._owner_name = name
        return session

    # --- requests -----------------------------------------------------------------------------

    def _pool(self) -> httpx.AsyncClient:
        with self._pool_lock:
            if self._closed:
                raise APIError(
                    "this client is closed; make a new one (or use the handle without a client)"
                )
            if self._http is None:
                import httpx

                self._via = self._rest_proxy()
                try:
                    options = _http.proxy_options(self._via)
                except ValueError as exc:  # the environment's proxy, which httpx cannot use
                    assert self._via is not None
                    raise APIProxyError(
                        str(exc), proxy=str(self._via), method="GET", url=self._base_url
                    ) from None
                self._http = httpx.AsyncClient(timeout=self._timeout, **options)
            return self._http

    def _rest_proxy(self) -> Proxy | None:
        """The proxy REST requests go through (chosen as for the sessions); none when the
        application brought its own ``http_client``, which knows its own."""
        if not self._owns_http:
            return None
        parts = urlsplit(self._base_url)
        secure = parts.scheme.lower() == "https"
        port = parts.port or (443 if secure else 80)
        try:
            return choose_proxy(self._proxy, parts.hostname or "", port, secure)
        except ProxyRefused as exc:  # the environment's is not a valid URL
            raise APIProxyError(
                str(exc), proxy=exc.proxy, method="GET", url=self._base_url
            ) from None

    async def _get_json(self, path: str, params: Mapping[str, str]) -> tuple[Any, httpx.Response]:
        """``GET {base_url}{path}``: the decoded JSON body and the answer, after retries."""
        url = self._base_url + path
        shown = _http.display_url(url, params)
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        http = self._pool()
        proxy = self._via
        import httpx  # loaded by now: _pool() or the caller's own client imported it

        attempt = 0
        while True:
            attempt += 1
            retries_left = attempt <= self._retry.max_retries
            try:
                response = await http.get(
                    url, params=params, headers=headers, timeout=self._timeout
                )
            except httpx.TransportError as exc:
                if not retries_left or isinstance(exc, httpx.ProxyError):
                    raise _http.connection_error(
                        "GET", shown, exc, attempt, self._api_key, proxy
                    ) from None
                delay = self._retry.delay(attempt)
                reason = redact(f"{type(exc).__name__}: {exc}", self._api_key)
                logger.info("GET %s failed (%s); retry %d in %.2f s", shown, reason, attempt, delay)
                await backend.sleep(delay)
                continue
            if response.is_success:
                return _http.parse_json("GET", shown, response, self._api_key), response
            if response.status_code == 407 and proxy is not None:  # a forwarding proxy's
                raise _http.proxy_status_error("GET", shown, response, proxy, self._api_key)
            if not (retries_left and self._retry.retries_status(response.status_code)):
                raise _http.status_error("GET", shown, response, self._api_key)
            retry_after = _http.parse_retry_after(response.headers.get("Retry-After"))
            delay = self._retry.delay(attempt, retry_after)
            logger.info(
                "GET %s answered %d; retry %d in %.2f s",
                shown,
                response.status_code,
                attempt,
                delay,
            )
            await backend.sleep(delay)

    async def _fetch_object(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        body, response = await self._get_json(path, params)
        shown = _http.display_url(self._base_url + path, params)
        return _http.single_object("GET", shown, response, body, self._api_key)

    async def _list_objects(
        self, path: str, params: Mapping[str, str]
    ) -> builtins.list[dict[str, Any]]:
        body, response = await self._get_json(path, params)
        shown = _http.display_url(self._base_url + path, params)
        return _http.object_list("GET", shown, response, body, self._api_key)


class _Handle:
    """What agents and chatbots share: identity, fetch/list, sessions, one-shot runs."""

    _OWNER_TYPE: ClassVar[str]
    _FETCH_PATH: ClassVar[str]
    _LIST_PATH: ClassVar[str]

    __slots__ = ("_client", "id", "name", "raw")

    def __init__(
        self,
        id: str,
        name: str | None = None,
        *,
        client: AsyncClient | None = None,
        raw: Mapping[str, Any] | None = None,
    ):
        if not isinstance(id, str) or not id.strip():
            raise ValueError(f"id must be a non-empty string, got {id!r}")
        self.id = id
        """The object's id (``_id`` in the API's answers)."""
        self.name = name
        self.raw: Mapping[str, Any] = dict(raw) if raw is not None else {"id": id}
        """The object exactly as the API described it (every field, including unknown ones)."""
        self._client = client

    @property
    def client(self) -> AsyncClient | None:
        """The client this handle uses; ``None`` means a default one from the environment."""
        return self._client

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Handle) and type(other) is type(self) and other.id == self.id

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.id))

    @classmethod
    def _from_object(
        cls: type[_Handle_T], obj: Mapping[str, Any], client: AsyncClient | None
    ) -> _Handle_T:
        raise NotImplementedError

    # --- REST ---------------------------------------------------------------------------------

    @classmethod
    async def fetch(
        cls: type[_Handle_T],
        id: str | None = None,
        name: str | None = None,
        username: str | None = None,
        org_name: str | None = None,
        *,
        client: AsyncClient | None = None,
    ) -> _Handle_T:
        """Fetch one by ``id`` or by ``name`` (exactly one of them), optionally qualified by the
        owner's ``username`` or ``org_name``. Without ``client``, a default client from the
        environment is used for this call only.

        Args:
            id: The object's id.
            name: The object's name.
            username: The owner's user name, to tell objects of the same name apart.
            org_name: The owner's organization, to tell objects of the same name apart.
            client: The client to fetch with.

        Returns:
            A handle for the object, holding ``client``.

        Raises:
            ValueError: A wrong combination of arguments (before any request).
            NotFoundError: There is no such object.
            APIError: The request failed otherwise (one of its subclasses).
        """
        params = _http.fetch_params(cls._OWNER_TYPE, id, name, username, org_name)
        if client is not None:
            return cls._from_object(await client._fetch_object(cls._FETCH_PATH, params), client)
        async with AsyncClient() as default:
            obj = await default._fetch_object(cls._FETCH_PATH, params)
        return cls._from_object(obj, None)

    @classmethod
    async def list(
        cls: type[_Handle_T],
        *,
        limit: int = 50,
        offset: int = 0,
        include_shared: bool = False,
        client: AsyncClient | None = None,
    ) -> builtins.list[_Handle_T]:
        """One page of the objects the key can see: ``limit`` of them from ``offset``,
        including those shared with the user when ``include_shared``.

        Args:
            limit: How many at most.
            offset: How many to skip.
            include_shared: Include the objects shared with the user.
            client: The client to list with; without one, a default client from the
                environment is used for this call only.

        Returns:
            Handles for the objects, holding ``client``.

        Raises:
            ValueError: ``limit`` or ``offset`` is out of range (before any request).
            APIError: The request failed (one of its subclasses).
        """
        params = _http.list_params(limit, offset, include_shared)
        if client is not None:
            objects = await client._list_objects(cls._LIST_PATH, params)
        else:
            async with AsyncClient() as default:
                objects = await default._list_objects(cls._LIST_PATH, params)
        return [cls._from_object(obj, client) for obj in objects]

    # --- sessions -----------------------------------------------------------------------------

    def _check_sessions_supported(self, action: str) -> None:
        """Raises ``ValueError`` when this object cannot hold sessions (functional agents)."""

    async def create_session(self, session_id: str | None = None) -> AsyncSession:
        """A new session with this object, not yet connected: use it as a context manager.

        ``session_id`` resumes that session instead (same as ``resume_session``).

        Args:
            session_id: An existing session to resume instead of creating one.

        Returns:
            The session, not connected, with the handle's client's settings.

        Raises:
            ValueError: This object cannot hold sessions (a functional agent), or the
                session id is not valid.
        """
        self._check_sessions_supported("create_session()")
        if session_id is not None:
            inputs.check_session_id(session_id)  # before a default client needs a key
        client = self._client or AsyncClient()
        return client._session(self._OWNER_TYPE, self.id, session_id, self.name)

    async def resume_session(self, session_id: str) -> AsyncSession:
        """The existing session ``session_id``, not yet connected: use it as a context manager.

        Connecting fails with ``SessionNotFoundError`` when the engine does not know the id.

        Args:
            session_id: The id of an existing session.

        Returns:
            The session, not connected, with the handle's client's settings.

        Raises:
            ValueError: This object cannot hold sessions (a functional agent), or the
                session id is empty.
        """
        self._check_sessions_supported("resume_session()")
        if not isinstance(session_id, str) or not session_id.strip():
            raise ValueError(
                f"resume_session() needs the id of an existing session, got {session_id!r}"
            )
        client = self._client or AsyncClient()
        return client._session(self._OWNER_TYPE, self.id, session_id, self.name)

    async def run(
        self,
        content: Content,
        *,
        files: Sequence[Any] | None = None,
        session_id: str | None = None,
        keep_alive: bool = False,
        include_deltas: bool = False,
        timeout: float | None = 300.0,
    ) -> TurnResult:
        """Send one turn and wait for its end: a one-shot conversation in a hidden session.

        Returns a ``TurnResult``: the final ``text``, the ``session_id``, the ``status``
        (``complete``, or ``error`` with ``result.error``) and the turn's events (without the
        ``MESSAGE_DELTA`` chunks unless ``include_deltas``; they are folded into ``text``).

        The hidden session is terminated afterwards, unless ``keep_alive`` (it is then only
        disconnected: pass ``result.session_id`` to the next ``run`` or to
        ``resume_session``). ``session_id`` runs the turn in that existing session, which is
        left alive. ``timeout`` bounds the turn once sent (``SessionTimeoutError``).

        Args:
            content: Text, or a file (see ``AsyncSession.send()``).
            files: Attachments (see ``AsyncSession.send()``).
            session_id: Run the turn in this existing session, which is left alive.
            keep_alive: Only disconnect the hidden session afterwards, instead of terminating
                it.
            include_deltas: Keep the ``MESSAGE_DELTA`` events in the result.
            timeout: Seconds for the turn once sent (``None``: no limit).

        Returns:
            The turn's result.

        Raises:
            ActionRequiredError: The turn stopped for an approval or re-authorization: the
                session is then kept alive, and ``exc.session_id`` and ``exc.event`` say
                where and what to answer (``resume_session``, then ``respond``).
            ValueError: This object cannot hold sessions, or ``timeout`` is not positive.
            SessionTimeoutError: The turn did not end in ``timeout``.
            SessionError: Connecting or sending failed (one of its subclasses).
        """
        self._check_sessions_supported("run()")
        if timeout is not None and not timeout > 0:
            raise ValueError(
                f"timeout must be a positive number of seconds or None, got {timeout!r}"
            )
        session = await self.create_session(session_id)
        await session.connect()
        keep = keep_alive or session_id is not None
        try:
            result = await session.ask(content, files=files, timeout=timeout)
        except BaseException:
            await _release(session, keep)
            raise
        action = result.action_event
        if action is not None:
            await _release(session, keep=True)  # the paused turn lives in this session
            raise ActionRequiredError(action, result.session_id)
        await _release(session, keep)
        return _run_result(result, include_deltas)


async def _release(session: AsyncSession, keep: bool) -> None:
    """Disconnect (``keep``) or terminate a run's session; a failure here never hides the
    turn's own outcome, so it is logged instead of raised."""
    try:
        if keep:
            await session.disconnect()
        else:
            await session.terminate()
    except Exception as exc:
        _logs.log(
            logger, logging.WARNING, session.session_id, "could not close after run(): %s", exc
        )


def _run_result(result: TurnResult, include_deltas: bool) -> TurnResult:
    text = result.text
    if text is None:  # no MESSAGE_COMPLETE: the streamed chunks are the answer
        text = "".join(event.delta or "" for event in result.events) or None
    events = result.events
    if not include_deltas:
        events = tuple(e for e in events if e.type is not SessionEventType.MESSAGE_DELTA)
    return attrs.evolve(result, text=text, events=events)


def _agent_type(obj: Mapping[str, Any]) -> str | None:
    # The engine stores `variant`; older answers say `agent_type` or `agentType`.
    for key in ("agent_type", "agentType", "variant"):
        value = obj.get(key)
        if isinstance(value, str) and value:
            return value.lower()
    return None


class AsyncAgent(_Handle):
    """A VectorShift agent: ``fetch`` it, then open sessions with it or ``run`` one turn::

        agent = await AsyncAgent.fetch(name="support-bot")
        async with await agent.create_session() as session:
            result = await session.ask("Hello!")
            print(result.text)

    A handle for a known id needs no request: ``AsyncAgent("agent-id", client=client)``.

    ``agent_type`` is ``"conversational"`` or ``"functional"`` (``None`` when the API did not
    say). Only conversational agents hold sessions; a functional agent refuses with
    ``ValueError`` (run it through the VectorShift pipeline API instead).

    Args:
        id: The agent's id.
        name: Its name, when known.
        agent_type: ``"conversational"``, ``"functional"``, or ``None`` when not known.
        client: The client its calls use; ``None`` for a default one from the environment.
        raw: The agent as the API described it.

    Attributes:
        id: The agent's id (``_id`` in the API's answers).
        name: Its name, or ``None``.
        agent_type: ``"conversational"``, ``"functional"``, or ``None``.
        raw: The agent exactly as the API described it (every field, including unknown
            ones).

    Raises:
        ValueError: ``id`` is empty.
    """

    _OWNER_TYPE = OWNER_AGENT
    _FETCH_PATH = "/agent"
    _LIST_PATH = "/agents"

    __slots__ = ("agent_type",)

    def __init__(
        self,
        id: str,
        name: str | None = None,
        agent_type: str | None = None,
        *,
        client: AsyncClient | None = None,
        raw: Mapping[str, Any] | None = None,
    ):
        super().__init__(id, name, client=client, raw=raw)
        self.agent_type = agent_type

    @classmethod
    def _from_object(cls, obj: Mapping[str, Any], client: AsyncClient | None) -> AsyncAgent:
        name = obj.get("name")
        return cls(
            _http.object_id(obj) or "",
            name if isinstance(name, str) else None,
            _agent_type(obj),
            client=client,
            raw=obj,
        )

    @property
    def is_conversational(self) -> bool:
        """Whether the agent holds sessions (true too when the API did not give the type)."""
        return self.agent_type != FUNCTIONAL

    def _check_sessions_supported(self, action: str) -> None:
        if self.agent_type == FUNCTIONAL:
            raise ValueError(
                f"agent {self.name or self.id!r} is a functional agent: {action} needs a "
                f"conversational agent (functional agents run through the pipeline API, "
                f"with the official client's Agent.run(inputs={{...}}))"
            )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(id={self.id!r}, name={self.name!r}, "
            f"agent_type={self.agent_type!r})"
        )


class AsyncChatbot(_Handle):
    """A VectorShift chatbot: ``fetch`` it, then open sessions with it or ``run`` one turn,
    exactly as with a conversational agent.

    Args:
        id: The chatbot's id.
        name: Its name, when known.
        client: The client its calls use; ``None`` for a default one from the environment.
        raw: The chatbot as the API described it.

    Attributes:
        id: The chatbot's id (``_id`` in the API's answers).
        name: Its name, or ``None``.
        raw: The chatbot exactly as the API described it (every field, including unknown
            ones).

    Raises:
        ValueError: ``id`` is empty.
    """

    _OWNER_TYPE = OWNER_CHATBOT
    _FETCH_PATH = "/chatbot"
    _LIST_PATH = "/chatbots"

    __slots__ = ()

    @classmethod
    def _from_object(cls, obj: Mapping[str, Any], client: AsyncClient | None) -> AsyncChatbot:
        name = obj.get("name")
        return cls(
            _http.object_id(obj) or "",
            name if isinstance(name, str) else None,
            client=client,
            raw=obj,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, name={self.name!r})"


class AsyncHandles(Generic[_Handle_T]):
    """``client.agents`` / ``client.chatbots``: a handle class's ``fetch`` and ``list``, bound
    to one client.

    Args:
        handle: The handle class (agents or chatbots).
        client: The client its calls use.
    """

    __slots__ = ("_client", "_handle")

    def __init__(self, handle: type[_Handle_T], client: AsyncClient):
        self._handle = handle
        self._client = client

    async def fetch(
        self,
        id: str | None = None,
        name: str | None = None,
        username: str | None = None,
        org_name: str | None = None,
    ) -> _Handle_T:
        """Fetch one by ``id`` or ``name`` (see the handle class's ``fetch``).

        Args:
            id: The object's id.
            name: The object's name.
            username: The owner's user name, to tell objects of the same name apart.
            org_name: The owner's organization, to tell objects of the same name apart.

        Returns:
            A handle for the object, holding this client.

        Raises:
            ValueError: A wrong combination of arguments (before any request).
            NotFoundError: There is no such object.
            APIError: The request failed otherwise (one of its subclasses).
        """
        return await self._handle.fetch(id, name, username, org_name, client=self._client)

    async def list(
        self, *, limit: int = 50, offset: int = 0, include_shared: bool = False
    ) -> builtins.list[_Handle_T]:
        """One page of them (see the handle class's ``list``).

        Args:
            limit: How many at most.
            offset: How many to skip.
            include_shared: Include the objects shared with the user.

        Returns:
            Handles for the objects, holding this client.

        Raises:
            ValueError: ``limit`` or ``offset`` is out of range (before any request).
            APIError: The request failed (one of its subclasses).
        """
        return await self._handle.list(
            limit=limit, offset=offset, include_shared=include_shared, client=self._client
        )
