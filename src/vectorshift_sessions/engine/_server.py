"""The engine: WebSocket sessions and REST on one port, complete messages in SQLite.

``_Engine`` speaks the protocol (one handler per connection, one task per turn);
``LocalEngine`` starts and stops it, in the current event loop or in a thread of its own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import hmac
import inspect
import json
import logging
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from email.utils import formatdate
from http import HTTPStatus
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, cast

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from .. import _codec as codec
from .._backends._base import NoDebugLogger
from .._config import SESSION_PATH
from .._errors import CodecError
from .._types import ParticipantStatus, SessionMessage
from . import _frames
from ._agents import AgentSpec, Catalog, ChatbotSpec, build_catalog
from ._config import EngineConfig, default_db_path, load_config
from ._rest import RestApi
from ._store import SessionRow, Store
from ._turn import (
    AgentFunction,
    ApprovalAnswer,
    BadContent,
    Turn,
    UserInput,
    new_id,
    parse_approval,
    parse_input,
)

__all__ = ["DEFAULT_MAX_FRAME_BYTES", "LocalEngine"]

logger = logging.getLogger("vectorshift_sessions.engine")
_T = TypeVar("_T")

DEFAULT_MAX_FRAME_BYTES = 32 * 1024 * 1024
"""Largest frame a client may send (a 16 MiB file is ~22 MiB once base64-encoded)."""
#: The user id of every client when the engine has no API keys.
ANONYMOUS = "local-user"


def _version() -> str:
    from .. import __version__

    return __version__


class _FrameRefused(Exception):
    """A client frame the engine refuses: it answers with an ``error`` frame."""

    def __init__(self, message: str, session_id: str | None = None):
        super().__init__(message)
        self.session_id = session_id


class _HeldWrites(asyncio.Transport):
    """A connection's transport that can hold writes, then make them as one.

    websockets writes every frame it sends to its transport at once: one system call per
    frame. While `hold` is on, writes are collected instead; `release` writes them
    all with one call. Everything else goes straight to the real transport (the public
    ``asyncio.Transport`` interface, which is all websockets uses).
    """

    def __init__(self, transport: asyncio.Transport):
        super().__init__()
        self._transport = transport
        self._held: list[bytes | bytearray | memoryview] | None = None

    def hold(self) -> None:
        if self._held is None:
            self._held = []

    def release(self) -> None:
        held, self._held = self._held, None
        if held:
            self._transport.write(b"".join(held))

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._held is None:
            self._transport.write(data)
        else:
            self._held.append(data)

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        for data in list_of_data:
            self.write(data)

    def write_eof(self) -> None:
        self.release()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def close(self) -> None:
        self.release()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()


class _Conn(ServerConnection):
    """A client connection: its user, the sessions it attached, and holdable writes."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.user_id = ANONYMOUS
        self.attached: set[str] = set()
        self.writes: _HeldWrites | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.Transport):
            transport = self.writes = _HeldWrites(transport)
        super().connection_made(transport)


class _Live:
    """A session that has attached connections or a running turn (the turn's host)."""

    def __init__(self, row: SessionRow, store: Store, turn_delay: float):
        self.session_id = row.id
        self.row = row
        self.sender = _frames.object_sender(row.object_id, row.object_type)
        self.turn_delay = turn_delay
        self.last_status = ParticipantStatus.IDLE.value  # told to clients that (re)connect
        self.connections: set[_Conn] = set()
        self.turns: set[asyncio.Task[None]] = set()
        self.turn_lock = asyncio.Lock()  # one turn at a time; later posts wait their turn
        self.approvals: dict[str, asyncio.Future[ApprovalAnswer]] = {}
        self._store = store

    @property
    def idle(self) -> bool:
        return not self.connections and not self.turns

    async def notify(self, message: dict[str, Any]) -> None:
        self._store.add_message(message)  # stored before anyone is told
        await self.broadcast(_frames.message_notification(message))

    async def broadcast(self, frame: dict[str, Any]) -> None:
        text = codec.dumps(frame)
        for conn in list(self.connections):
            if conn.state is State.OPEN:
                try:
                    await conn.send(text)
                except ConnectionClosed:
                    self.connections.discard(conn)  # the turn goes on without it

    async def broadcast_encoded(self, frames: Sequence[str]) -> None:
        """Send many frames already encoded as JSON text, with one socket write per connection.

        websockets' public ``broadcast`` frames all but the last (without waiting) into held
        writes, released as one write per connection; the last goes with ``send``, which waits
        for the connection's buffer to drain, so a slow client slows the turn down instead of
        piling frames up.
        """
        if not frames:
            return
        conns = [conn for conn in self.connections if conn.state is State.OPEN]
        for conn in conns:
            if conn.writes is not None:
                conn.writes.hold()
        try:
            for frame in frames[:-1]:
                broadcast(conns, frame)
        finally:
            for conn in conns:
                if conn.writes is not None:
                    conn.writes.release()
        for conn in conns:
            try:
                await conn.send(frames[-1])
            except ConnectionClosed:
                self.connections.discard(conn)

    def expect_approval(self, message_id: str) -> asyncio.Future[ApprovalAnswer]:
        future: asyncio.Future[ApprovalAnswer] = asyncio.get_running_loop().create_future()
        self.approvals[message_id] = future
        future.add_done_callback(lambda _: self.approvals.pop(message_id, None))
        return future


def _json_response(status: int, body: Mapping[str, Any]) -> Response:
    data = json.dumps(body, separators=(",", ":")).encode()
    headers = Headers(
        [
            ("Date", formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
        ]
    )
    return Response(status, HTTPStatus(status).phrase, headers, data)


class _Engine:
    """The protocol: connections, sessions, turns. Runs in one event loop."""

    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        *,
        api_keys: Sequence[str],
        max_sessions: int,
        max_history: int,
        turn_delay: float,
        extensions: bool = True,
    ):
        self.store = store
        self.catalog = catalog
        self.rest = RestApi(catalog, _version())
        self._keys = list(api_keys)
        self._max_sessions = max_sessions
        self._max_history = max_history
        self._turn_delay = turn_delay
        self._extensions = extensions
        self._lives: dict[str, _Live] = {}
        self._turns: set[asyncio.Task[None]] = set()
        self._closing = False

    # --- the handshake: authentication, and REST ---

    def user_of(self, headers: Headers) -> str | None:
        """The user a request's key stands for; ``None`` when the key is missing or wrong."""
        if not self._keys:
            return ANONYMOUS
        values = headers.get_all("Authorization")
        if len(values) != 1:
            return None
        scheme, _, key = values[0].partition(" ")
        if scheme.lower() != "bearer":
            return None
        given = key.strip().encode()
        for known in self._keys:
            if hmac.compare_digest(known.encode(), given):
                # Sessions are owned by a digest of the key, never by the key itself.
                return "user-" + hashlib.sha256(known.encode()).hexdigest()[:16]
        return None

    def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        path, _, query = request.path.partition("?")
        if path == "/v1" or path.startswith("/v1/"):
            path = path[3:] or "/"
        upgrade = "websocket" in ",".join(request.headers.get_all("Upgrade")).lower()
        if path.rstrip("/") == SESSION_PATH:
            if not upgrade:
                return _json_response(426, {"error": f"{SESSION_PATH} speaks WebSocket only"})
            user = self.user_of(request.headers)
            if user is None:
                return _json_response(401, {"error": "missing or wrong API key (Bearer)"})
            assert isinstance(conn, _Conn)
            conn.user_id = user
            return None  # go on with the WebSocket handshake
        if upgrade:
            return _json_response(
                404, {"error": f"no WebSocket endpoint {path!r}; sessions are at {SESSION_PATH}"}
            )
        if self.rest.needs_key(path) and self.user_of(request.headers) is None:
            return _json_response(401, {"error": "missing or wrong API key (Bearer)"})
        status, body = self.rest.handle(getattr(request, "method", "GET"), path, query)
        return _json_response(status, body)

    # --- one connection ---

    async def handle(self, conn: ServerConnection) -> None:
        assert isinstance(conn, _Conn)
        try:
            async for raw in conn:
                await self._on_frame(conn, raw)
        except ConnectionClosed:
            pass  # oversize frames (1009) end here too; other connections are unaffected
        finally:
            for session_id in list(conn.attached):
                self._detach(conn, session_id)

    async def _send(self, conn: _Conn, frame: dict[str, Any]) -> None:
        await conn.send(codec.dumps(frame))

    async def _on_frame(self, conn: _Conn, raw: str | bytes) -> None:
        try:
            frame = codec.decode_client_frame(raw)
        except CodecError as exc:
            await self._send(conn, _frames.error_frame(str(exc), exc.frame_type))
            return
        try:
            await self._dispatch(conn, frame)
        except _FrameRefused as exc:
            await self._send(conn, _frames.error_frame(str(exc), frame.TYPE, exc.session_id))
        except ConnectionClosed:
            raise
        except Exception:
            logger.exception("the engine failed to handle a %s frame", frame.TYPE)
            error = f"internal engine error while handling {frame.TYPE}; see the engine's log"
            await self._send(conn, _frames.error_frame(error, frame.TYPE))

    async def _dispatch(self, conn: _Conn, frame: codec.ClientFrame) -> None:
        if isinstance(frame, codec.CreateSession):
            await self._create(conn, frame)
            return
        if isinstance(frame, codec.ConnectSession):
            await self._connect(conn, frame.session_id)
            return
        session_id = frame.session_id
        live = self._lives.get(session_id)
        if live is None or session_id not in conn.attached:
            raise _FrameRefused(
                f"{frame.TYPE} refused: this connection is not connected to session "
                f"{session_id!r}; send connect_session first (a session that is unknown, "
                "terminated or another key's cannot be connected)",
                session_id,
            )
        if isinstance(frame, (codec.PostMessage, codec.PostMessages)):
            await self._post(conn, live, frame)
        elif isinstance(frame, codec.GetMessages):
            await self._send(conn, self._history(session_id, frame.after))
        elif isinstance(frame, codec.PingSession):
            await self._send(conn, _frames.pong(session_id))
        elif isinstance(frame, codec.DisconnectSession):
            self._detach(conn, session_id)
            await self._send(conn, _frames.disconnect_ack(session_id))
        else:
            await self._terminate(live)
            await self._send(conn, _frames.terminate_ack(session_id))

    # --- sessions ---

    async def _create(self, conn: _Conn, frame: codec.CreateSession) -> None:
        try:
            object_id, _ = self.catalog.resolve(frame.object_type, frame.object_id)
        except LookupError as exc:
            raise _FrameRefused(f"cannot create a session: {exc}") from None
        if self.store.count_sessions() >= self._max_sessions:
            raise _FrameRefused(
                f"cannot create a session: the engine already holds the maximum of "
                f"{self._max_sessions} sessions; terminate some first"
            )
        session_id = new_id()
        self.store.create_session(session_id, frame.object_type, object_id, conn.user_id)
        await self._send(conn, _frames.session_created(session_id))

    async def _connect(self, conn: _Conn, session_id: str) -> None:
        row = self.store.get_session(session_id)
        if row is None or row.owner != conn.user_id:
            error = f"session {session_id!r} not found (unknown, terminated, or not yours)"
            await self._send(conn, _frames.connect_ack(session_id, False, error))
            return
        live = self._lives.get(session_id)
        if live is None:
            live = self._lives[session_id] = _Live(row, self.store, self._turn_delay)
        live.connections.add(conn)
        conn.attached.add(session_id)
        if self._extensions:
            ack = _frames.connect_ack(
                session_id, participant_status=live.last_status, history_after=True
            )
        else:
            ack = _frames.connect_ack(session_id)
        await self._send(conn, ack)

    def _history(self, session_id: str, after: str | None) -> dict[str, Any]:
        """The answer to ``get_messages``: the whole history, or (the extension) what was
        stored after the message ``after``."""
        if after is None:
            return _frames.history(session_id, self.store.history(session_id))
        if not self._extensions:
            raise _FrameRefused(
                "get_messages refused: this engine does not page the history (no 'after' "
                "field); ask without it",
                session_id,
            )
        messages = self.store.history_after(session_id, after)
        if messages is None:
            raise _FrameRefused(
                f"get_messages refused: message {after!r} is not in session {session_id!r}'s "
                "history; ask without 'after' for the whole history",
                session_id,
            )
        return _frames.history(session_id, messages, after=after)

    def _detach(self, conn: _Conn, session_id: str) -> None:
        conn.attached.discard(session_id)
        live = self._lives.get(session_id)
        if live is not None:
            live.connections.discard(conn)
            self._forget_if_idle(live)

    def _forget_if_idle(self, live: _Live) -> None:
        if live.idle and self._lives.get(live.session_id) is live:
            del self._lives[live.session_id]

    async def _terminate(self, live: _Live) -> None:
        for task in list(live.turns):
            task.cancel()
        await asyncio.gather(*live.turns, return_exceptions=True)
        for conn in live.connections:
            conn.attached.discard(live.session_id)
        live.connections.clear()
        self._lives.pop(live.session_id, None)
        self.store.delete_session(live.session_id)

    # --- posts and turns ---

    async def _post(
        self, conn: _Conn, live: _Live, frame: codec.PostMessage | codec.PostMessages
    ) -> None:
        session_id = live.session_id

        async def refuse(error: str) -> None:
            await self._send(conn, _frames.post_ack(frame.TYPE, session_id, False, error))

        try:
            if isinstance(frame, codec.PostMessage):
                if frame.parent_message_id is not None:
                    answer = parse_approval(frame.content)
                    if answer is not None:
                        await self._answer(conn, live, frame.parent_message_id, answer)
                        return
                contents = [frame.content]
                path = "content"
            else:
                contents = frame.messages
                if not contents:
                    await refuse("post_messages needs at least one message")
                    return
                path = "messages[]"
            parsed = [parse_input(content, frame.TYPE, path) for content in contents]
        except BadContent as exc:
            await refuse(str(exc))
            return
        try:
            _, agent = self.catalog.resolve(live.row.object_type, live.row.object_id)
        except LookupError as exc:
            await refuse(f"this session's {live.row.object_type} is no longer available: {exc}")
            return
        if self._closing:
            await refuse("the engine is shutting down")
            return
        if self.store.count_messages(session_id) + len(parsed) > self._max_history:
            await refuse(
                f"session {session_id!r} has reached the maximum history of "
                f"{self._max_history} messages; start a new session"
            )
            return
        user = _frames.user_sender(conn.user_id)
        seqs = [
            self.store.add_message(_frames.stored_message(new_id(), session_id, user, p.stored))
            for p in parsed
        ]
        try:
            await self._send(conn, _frames.post_ack(frame.TYPE, session_id))
        finally:  # stored is posted: its sender, cut off before the ack, finds it in the history
            self._start_turn(live, agent, contents, parsed, seqs[0])

    async def _answer(
        self, conn: _Conn, live: _Live, parent_id: str, answer: ApprovalAnswer
    ) -> None:
        future = live.approvals.get(parent_id)
        if future is None or future.done():
            error = (
                f"no turn in session {live.session_id!r} is waiting for an answer to message "
                f"{parent_id!r}"
            )
            await self._send(conn, _frames.post_ack("post_message", live.session_id, False, error))
            return
        reply = codec.approval_answer(answer.approved, answer.confirm, answer.deny_reason)
        content = _frames.approval_response_content(reply)
        user = _frames.user_sender(conn.user_id)
        self.store.add_message(_frames.stored_message(new_id(), live.session_id, user, content))
        try:
            await self._send(conn, _frames.post_ack("post_message", live.session_id))
        finally:  # stored is answered, as a post is (see _post)
            if not future.done():
                future.set_result(answer)

    def _start_turn(
        self,
        live: _Live,
        agent: AgentSpec,
        contents: Sequence[Any],
        parsed: Sequence[UserInput],
        first_seq: int,
    ) -> None:
        if self._lives.get(live.session_id) is not live:
            return  # terminated while the ack was being sent
        # The turn belongs to the session, not to the connection that posted it.
        task = asyncio.create_task(
            self._run_turn(live, agent, contents, parsed, first_seq),
            name=f"vectorshift-engine-turn-{live.session_id}",
        )
        live.turns.add(task)
        self._turns.add(task)

        def done(task: asyncio.Task[None]) -> None:
            live.turns.discard(task)
            self._turns.discard(task)
            self._forget_if_idle(live)
            if not task.cancelled() and task.exception() is not None:
                logger.error(
                    "turn in session %s failed", live.session_id, exc_info=task.exception()
                )

        task.add_done_callback(done)

    async def _run_turn(
        self,
        live: _Live,
        agent: AgentSpec,
        contents: Sequence[Any],
        parsed: Sequence[UserInput],
        first_seq: int,
    ) -> None:
        async with live.turn_lock:
            history = self.store.history(live.session_id, before_seq=first_seq)
            turn = Turn(
                live, agent_name=agent.name, inputs=contents, parsed=parsed, history=history
            )
            await turn.status(ParticipantStatus.PROCESSING)
            try:
                assert agent.handler is not None  # resolve() only returns agents with one
                running = agent.handler(turn)
                if not inspect.isawaitable(running):
                    raise TypeError(
                        f"it returned {type(running).__name__}, not an awaitable: an agent is "
                        "an async function, `async def agent(turn): ...`"
                    )
                await running
            except AssertionError as exc:  # a test double's expectation (testing.Mismatch)
                logger.warning("agent %r in session %s: %s", agent.name, live.session_id, exc)
                await turn.error(f"agent {agent.name!r} failed: {type(exc).__name__}: {exc}")
            except Exception as exc:
                logger.exception("agent %r failed in session %s", agent.name, live.session_id)
                await turn.error(f"agent {agent.name!r} failed: {type(exc).__name__}: {exc}")
            await turn.status(ParticipantStatus.IDLE)

    async def cancel_turns(self) -> None:
        """Stop every turn where it is, for good (what a turn stored stays stored)."""
        self._closing = True
        turns = [task for task in self._turns if task is not asyncio.current_task()]
        for task in turns:
            task.cancel()
        await asyncio.gather(*turns, return_exceptions=True)


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class LocalEngine:
    """A local engine: the session protocol over WebSocket and the REST API, on one port.

    ``async with LocalEngine() as engine:`` runs it in the current event loop;
    ``with LocalEngine() as engine:`` runs it in a thread with its own loop (blocking code,
    notebooks, even a thread whose loop is running). Or ``await start()`` / ``await stop()``.

    ``db`` is a path, ``":memory:"``, or ``None`` for `default_db_path`. ``api_keys``
    (optional) are the accepted ``Authorization: Bearer`` keys; each key reaches only the
    sessions it created. ``config`` is a file path or a dict (see `load_config`);
    ``agents`` adds agents (``{name: agent}`` or `AgentSpec` items) and ``chatbots``
    adds chatbots (``{name: agent name}`` or `ChatbotSpec` items). ``turn_delay``
    pauses that many seconds before each delta and event, to watch a turn unfold.
    ``extensions=False`` leaves out this engine's protocol extensions (the ``connect_session``
    ack's ``participant_status`` and ``history_after``, and ``get_messages``' ``after``), to
    behave as an engine without them.

    Args:
        host: The address to listen on.
        port: The port to listen on; 0 picks a free one (read it from ``port``).
        db: The SQLite database: a path, ``":memory:"``, or ``None`` for the default path.
        api_keys: The accepted keys; none means any request is accepted, with or without a
            key.
        config: A configuration file's path, its dict, or a loaded ``EngineConfig``.
        agents: Agents to serve besides the built-in and configured ones.
        chatbots: Chatbots to serve besides the built-in and configured ones.
        max_frame_bytes: The largest frame accepted from a client.
        max_sessions: How many sessions the engine holds at most.
        max_history: How many messages a session keeps at most.
        turn_delay: Seconds to pause before each delta and event.
        extensions: Offer this engine's protocol extensions.

    Attributes:
        host: The address it listens on.
        api_keys: The accepted keys.
        db_path: The database's path, or ``":memory:"``.
        catalog: The agents and chatbots it serves.

    Raises:
        ValueError: A limit is below 1, ``turn_delay`` is negative, a key is empty, or the
            configuration is wrong.
        TypeError: ``turn_delay`` is not a number.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        db: str | PathLike[str] | None = None,
        api_keys: Iterable[str] = (),
        config: str | PathLike[str] | Mapping[str, Any] | EngineConfig | None = None,
        agents: Mapping[str, AgentFunction] | Iterable[AgentSpec] | None = None,
        chatbots: Mapping[str, str] | Iterable[ChatbotSpec] | None = None,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        max_sessions: int = 10_000,
        max_history: int = 10_000,
        turn_delay: float = 0.0,
        extensions: bool = True,
    ):
        for name, value in (
            ("max_frame_bytes", max_frame_bytes),
            ("max_sessions", max_sessions),
            ("max_history", max_history),
        ):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if isinstance(turn_delay, bool) or not isinstance(turn_delay, (int, float)):
            raise TypeError(f"turn_delay must be a number of seconds, got {turn_delay!r}")
        if not turn_delay >= 0:
            raise ValueError(f"turn_delay must be >= 0 seconds, got {turn_delay}")
        self.host = host
        self._requested_port = port
        self.api_keys = tuple(api_keys)
        if any(not key for key in self.api_keys):
            raise ValueError("api_keys must not contain an empty key")
        self.db_path = ":memory:" if str(db) == ":memory:" else Path(db or default_db_path())
        if config is None or isinstance(config, EngineConfig):
            engine_config = config
        else:
            engine_config = load_config(config)
        self.catalog = build_catalog(engine_config, agents, chatbots)
        self.max_frame_bytes = max_frame_bytes
        self.max_sessions = max_sessions
        self.max_history = max_history
        self.turn_delay = turn_delay
        self.extensions = extensions
        self._server: Server | None = None
        self._engine: _Engine | None = None
        self._store: Store | None = None
        self._port: int | None = None
        self._serving: tuple[asyncio.AbstractEventLoop, threading.Thread] | None = None
        # The thread mode (``with``):
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._thread_error: BaseException | None = None

    # --- where it is ---

    @property
    def port(self) -> int:
        """The port it listens on (the one picked, when asked for port 0).

        Raises:
            RuntimeError: The engine is not running.
        """
        if self._port is None:
            raise RuntimeError("the engine is not running; start it first")
        return self._port

    @property
    def base_url(self) -> str:
        """The REST base, ``http://127.0.0.1:PORT/v1`` (what ``VECTORSHIFT_BASE_URL`` takes)."""
        return f"http://{_url_host(self.host)}:{self.port}/v1"

    @property
    def ws_url(self) -> str:
        """The WebSocket base, ``ws://127.0.0.1:PORT/v1`` (what ``VECTORSHIFT_WS_URL`` takes)."""
        return f"ws://{_url_host(self.host)}:{self.port}/v1"

    @property
    def session_url(self) -> str:
        """The session endpoint, ``ws://127.0.0.1:PORT/v1/ws/session``."""
        return self.ws_url + SESSION_PATH

    @property
    def is_running(self) -> bool:
        """Whether it is serving now."""
        return self._server is not None

    def env(self) -> dict[str, str]:
        """The environment variables a client needs to use this engine.

        Returns:
            ``VECTORSHIFT_BASE_URL`` and ``VECTORSHIFT_WS_URL``, and ``VECTORSHIFT_API_KEY``
            (the first accepted key) when it takes keys: for ``os.environ.update()``.

        Raises:
            RuntimeError: The engine is not running.
        """
        env = {"VECTORSHIFT_BASE_URL": self.base_url, "VECTORSHIFT_WS_URL": self.ws_url}
        if self.api_keys:
            env["VECTORSHIFT_API_KEY"] = self.api_keys[0]
        return env

    def __repr__(self) -> str:
        where = self.base_url if getattr(self, "_port", None) is not None else "not running"
        return f"<LocalEngine {where} db={str(getattr(self, 'db_path', '?'))!r}>"

    # --- in the current event loop ---

    async def start(self) -> LocalEngine:
        """Open the database and start serving.

        Returns:
            The engine itself, running.

        Raises:
            RuntimeError: It is running already.
            OSError: The port is taken, or the database cannot be opened.
        """
        if self._server is not None:
            raise RuntimeError("the engine is already running")
        store = Store(self.db_path)
        try:
            await self._serve(store, self._requested_port)
        except BaseException:
            store.close()
            raise
        self._store = store
        self._serving = (asyncio.get_running_loop(), threading.current_thread())
        logger.info("local engine listening on %s (db %s)", self.base_url, self.db_path)
        return self

    async def _serve(self, store: Store, port: int) -> None:
        engine = _Engine(
            store,
            self.catalog,
            api_keys=self.api_keys,
            max_sessions=self.max_sessions,
            max_history=self.max_history,
            turn_delay=self.turn_delay,
            extensions=self.extensions,
        )
        server = cast(
            Server,
            await serve(
                engine.handle,
                self.host,
                port,
                process_request=engine.process_request,
                create_connection=_Conn,
                max_size=self.max_frame_bytes,
                compression=None,  # local traffic: deflate would only cost CPU
                close_timeout=2,
                server_header=f"vectorshift-sessions-engine/{_version()}",
                logger=NoDebugLogger("websockets.server"),
                backlog=1024,
            ),
        )
        self._engine, self._server = engine, server
        self._port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close every connection, cancel running turns, close the database. Idempotent."""
        if self._server is None:
            return
        self._check_loop("stop()")
        await self._stop_serving(abort=False)
        if self._store is not None:
            self._store.close()
        self._store = self._serving = None
        logger.info("local engine on port %s stopped", self._port)

    async def restart(self) -> None:
        """Stop and start again on the same port with the same database (``":memory:"`` too).

        Clients see an engine that crashed and came back: every connection drops (no closing
        handshake), turns running now stop where they are (what they stored stays; no error
        and no ``Idle`` is sent), and sessions can be resumed by id as soon as this returns.
        Await it in the engine's own event loop; in thread mode use
        `EngineFixture.restart() <vectorshift_sessions.testing.EngineFixture.restart>`.

        Raises:
            RuntimeError: The engine is not running, or this is not its event loop.
        """
        if self._server is None or self._store is None or self._port is None:
            raise RuntimeError("the engine is not running; start it first")
        self._check_loop("restart()")
        await self._stop_serving(abort=True)
        await self._serve(self._store, self._port)
        logger.info("local engine on port %s restarted", self._port)

    async def _stop_serving(self, *, abort: bool) -> None:
        """Cancel the turns and close the server (``abort``: drop the connections at once,
        else close them with 1001); the database stays open."""
        server, engine = self._server, self._engine
        assert server is not None and engine is not None
        try:
            await engine.cancel_turns()
            if abort:
                for conn in list(server.connections):
                    conn.transport.abort()
            server.close()  # closes client connections and waits for their handlers
            await server.wait_closed()
        finally:
            self._server = self._engine = None

    def _check_loop(self, action: str) -> None:
        serving = self._serving
        if serving is not None and asyncio.get_running_loop() is not serving[0]:
            raise RuntimeError(
                f"{action} must be awaited in the event loop the engine runs in; an engine "
                "started with `with LocalEngine()` runs in a thread of its own: use "
                "vectorshift_sessions.testing.EngineFixture for a blocking restart()"
            )

    # --- for tests: agents added while running, the stored history, dropped connections ---

    def add_agent(
        self, name: str, agent: AgentFunction, *, id: str | None = None, description: str = ""
    ) -> str:
        """Serve one more conversational agent (or replace the one named ``name``).

        ``agent`` is an agent function (see `Turn`); ``id`` defaults to
        ``agent-<name>``. Works before `start` and while running, from any thread.

        Args:
            name: The agent's name.
            agent: The agent function that runs its turns.
            id: Its id; ``agent-<name>`` by default.
            description: What it does.

        Returns:
            The agent's id, for ``AsyncSession(owner_id=...)`` or ``agents.fetch(id=...)``.

        Raises:
            TypeError: ``agent`` is not callable.
        """
        if not callable(agent):
            raise TypeError(
                f"agent must be an async callable taking a Turn, got {type(agent).__name__}"
            )
        spec = AgentSpec(name, agent, id=id or f"agent-{name}", description=description)
        self.catalog.add_agent(spec)
        return spec.id

    def add_chatbot(
        self, name: str, agent: AgentFunction | str, *, id: str | None = None, description: str = ""
    ) -> str:
        """Serve one more chatbot (or replace the one named ``name``); returns its id.

        ``agent`` is the name or id of an agent this engine serves, or an agent function,
        which is then added as the agent ``chatbot-<name>`` (id ``agent-chatbot-<name>``) to
        back it. ``id`` defaults to ``chatbot-<name>``.

        Args:
            name: The chatbot's name.
            agent: The agent that answers for it: a name or id, or an agent function.
            id: Its id; ``chatbot-<name>`` by default.
            description: What it does.

        Returns:
            The chatbot's id.

        Raises:
            ValueError: The agent is unknown or functional.
            TypeError: ``agent`` is neither a string nor callable.
        """
        if not isinstance(agent, str):
            agent = self.add_agent(f"chatbot-{name}", agent, description=description)
        bot = ChatbotSpec(name, agent, id=id or f"chatbot-{name}", description=description)
        self.catalog.add_chatbot(bot)
        return bot.id

    def sessions(self) -> list[str]:
        """The ids of the sessions this engine holds, oldest first. Works from any thread.

        Returns:
            The session ids.

        Raises:
            RuntimeError: The engine is not running.
        """

        def read() -> list[str]:
            if self._store is None:
                raise RuntimeError("the engine is not running; start it first")
            return self._store.session_ids()

        return self._in_engine_thread(read)

    def messages(self, session_id: str) -> list[SessionMessage]:
        """The session's stored messages, oldest first (what ``get_messages()`` returns).

        For asserting what the code under test sent. Works from any thread; an unknown
        session has none.

        Args:
            session_id: The session's id.

        Returns:
            Its stored messages, decoded.

        Raises:
            RuntimeError: The engine is not running.
        """

        def read() -> list[SessionMessage]:
            if self._store is None:
                raise RuntimeError("the engine is not running; start it first")
            history = self._store.history(session_id)
            return [codec.decode_stored_message(item) for item in history]

        return self._in_engine_thread(read)

    def cut_connections(self) -> int:
        """Drop every open WebSocket at once, as a network failure would (no closing
        handshake); the sessions and their running turns live on. Works from any thread.

        Returns:
            How many connections were cut (0 when the engine is not running).
        """

        def cut() -> int:
            if self._server is None:
                return 0
            connections = list(self._server.connections)
            for conn in connections:
                conn.transport.abort()
            return len(connections)

        return self._in_engine_thread(cut)

    def _in_engine_thread(self, work: Callable[[], _T]) -> _T:
        """Run ``work`` in the engine's event loop thread (here, if that is this thread)."""
        serving = self._serving
        if serving is None or serving[1] is threading.current_thread():
            return work()
        done: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(work())
            except BaseException as exc:
                done.set_exception(exc)

        serving[0].call_soon_threadsafe(run)
        return done.result()

    def _wait_in_engine_thread(self, make: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
        """Run the coroutine ``make()`` in the engine's event loop and wait for its result
        (from another thread: the engine's own thread would wait for itself)."""
        serving = self._serving
        if serving is None:
            raise RuntimeError("the engine is not running; start it first")
        if serving[1] is threading.current_thread():
            raise RuntimeError(
                "called from the engine's own thread (an agent, or a callback of the engine), "
                "it would wait for itself: call it from the test, e.g. once the turn's first "
                "event has arrived"
            )
        return asyncio.run_coroutine_threadsafe(make(), serving[0]).result()

    async def __aenter__(self) -> LocalEngine:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- in a thread of its own ---

    def __enter__(self) -> LocalEngine:
        if self._thread is not None or self._server is not None:
            raise RuntimeError("the engine is already running")
        ready = threading.Event()
        self._thread_error = None
        self._thread = threading.Thread(
            target=asyncio.run,
            args=(self._serve_in_thread(ready),),
            name="vectorshift-sessions-engine",
            daemon=True,  # never keeps the interpreter alive
        )
        self._thread.start()
        ready.wait()
        if self._thread_error is not None:
            self._thread.join()
            self._thread = None
            raise self._thread_error
        return self

    async def _serve_in_thread(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        try:
            await self.start()
        except BaseException as exc:
            self._thread_error = exc
            return
        finally:
            ready.set()
        try:
            await self._stop_requested.wait()
        finally:
            await self.stop()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        thread, loop, stop = self._thread, self._loop, self._stop_requested
        if thread is None or loop is None or stop is None:
            return
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=60)
        if thread.is_alive():
            raise RuntimeError(
                "the engine's thread did not stop within 60 s: its event loop is blocked "
                "(an agent that never awaits, or a call that waits for the engine from inside it)"
            )
        self._thread = self._loop = self._stop_requested = None
