"""The clients under test, each behind the same small adapter.

Every client sends the same frames (``create_session``, ``connect_session``, then one
``post_message`` per turn) and reads until the turn's ``Idle`` (after ``Processing``). A turn
returns how many deltas arrived and when the first one did, so one loop serves throughput and
latency alike. The raw floors do nothing but receive and ``json.loads``.

Async adapters: ``open(ws_base)``, ``turn(text)``, ``ping()``, ``close()`` (coroutines).
Blocking adapters: the same methods, plain. Ours also have ``fan_out(text, count)``: one turn read
by ``count`` listeners of the one session at once (tasks or threads).
"""

from __future__ import annotations

import asyncio
import json
import os
from time import perf_counter
from typing import Any

AGENT_ID = "agent-bench"


def _dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"))


def create_frame() -> str:
    return _dumps({"type": "create_session", "object_type": "agent", "object_id": AGENT_ID})


def connect_frame(session_id: str) -> str:
    return _dumps({"type": "connect_session", "session_id": session_id})


def post_frame(session_id: str, text: str) -> str:
    return _dumps({"type": "post_message", "session_id": session_id, "content": text})


def ping_frame(session_id: str) -> str:
    return _dumps({"type": "ping_session", "session_id": session_id})


class TurnFailed(RuntimeError):
    """The engine refused a frame or reported an error during a turn."""


def _overflow(event: Any) -> bool:
    """A listener's "subscriber queue overflow" notice (only with a bounded ``maxsize``)."""
    return bool(event.data.get("error") == "subscriber queue overflow")


def _count(event: Any, counts: dict[str, int]) -> None:
    """Tally one event of a drained turn (both event flavours have the same helpers)."""
    if event.delta is not None:
        counts["deltas"] += 1
    elif _overflow(event):
        counts["overflow_notices"] += 1
        counts["dropped"] += int(event.data.get("dropped_count", 1))
    elif event.data.get("status") == "Processing":
        counts["processing"] = 1


class Fanned:
    """What ``fan_out`` measured: per listener, the events and deltas it received and when it
    saw the turn's end (``perf_counter``); ``start`` is just before the send."""

    def __init__(self, count: int) -> None:
        self.start = 0.0
        self.events = [0] * count
        self.deltas = [0] * count
        self.ends = [0.0] * count

    def done(self, i: int, events: int, deltas: int) -> None:
        self.ends[i] = perf_counter()
        self.events[i] = events
        self.deltas[i] = deltas

    @property
    def wall(self) -> float:
        """From just before the send to the last listener seeing the turn's end."""
        return max(self.ends) - self.start


def _check(frame: dict[str, Any]) -> None:
    kind = frame.get("type")
    if kind == "error" or (kind in ("connect_session", "post_message") and not frame["success"]):
        raise TurnFailed(f"the engine said: {frame}")


# --- raw floors, asyncio ---------------------------------------------------------------------


class RawWebsocketsAsync:
    """A plain ``websockets`` asyncio loop: ``recv()`` + ``json.loads``, nothing else."""

    label = "raw websockets (asyncio)"

    async def open(self, ws_base: str) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(ws_base + "/ws/session", compression=None, ping_interval=None)
        await self.ws.send(create_frame())
        self.session_id = json.loads(await self.ws.recv())["session_id"]
        await self.ws.send(connect_frame(self.session_id))
        _check(json.loads(await self.ws.recv()))

    async def turn(self, text: str) -> tuple[int, float]:
        recv, loads = self.ws.recv, json.loads
        await self.ws.send(post_frame(self.session_id, text))
        deltas, first, processing = 0, 0.0, False
        while True:
            frame = loads(await recv())
            kind = frame["type"]
            if kind == "message_delta":
                if not deltas:
                    first = perf_counter()
                deltas += 1
            elif kind == "participant_status":
                status = frame["message"]["status"]
                if status == "Processing":
                    processing = True
                elif status == "Idle" and processing:
                    return deltas, first
            else:
                _check(frame)

    async def ping(self) -> float:
        start = perf_counter()
        await self.ws.send(ping_frame(self.session_id))
        while json.loads(await self.ws.recv())["type"] != "pong":
            pass
        return perf_counter() - start

    async def close(self) -> None:
        await self.ws.close()


class RawAiohttp(RawWebsocketsAsync):
    """A plain ``aiohttp`` loop (the official client's transport, with its compiled frame
    reader): ``receive()`` + ``json.loads``. Context for the official client's numbers; this
    package does not use aiohttp."""

    label = "raw aiohttp (asyncio)"

    async def open(self, ws_base: str) -> None:
        import aiohttp

        self.http = aiohttp.ClientSession()
        self.aws = await self.http.ws_connect(ws_base + "/ws/session")
        self.ws = self  # the inherited loops call self.ws.send / self.ws.recv
        await self.send(create_frame())
        self.session_id = json.loads(await self.recv())["session_id"]
        await self.send(connect_frame(self.session_id))
        _check(json.loads(await self.recv()))

    async def send(self, text: str) -> None:
        await self.aws.send_str(text)

    async def recv(self) -> str:
        return str((await self.aws.receive()).data)

    async def close(self) -> None:
        await self.aws.close()
        await self.http.close()


# --- this package, asyncio -------------------------------------------------------------------


class OursAsync:
    """``vectorshift_sessions.AsyncSession``: ``send()`` then ``listen()``."""

    label = "AsyncSession (ours)"

    def __init__(self, **options: Any) -> None:
        self.options = options

    async def open(self, ws_base: str) -> None:
        from vectorshift_sessions import AsyncSession, SessionEventType

        self.ET = SessionEventType
        self.session = AsyncSession(
            owner_type="agent", owner_id=AGENT_ID, ws_url=ws_base, **self.options
        )
        await self.session.connect()

    async def turn(self, text: str, maxsize: int = 0) -> tuple[int, float]:
        delta_type, status_type = self.ET.MESSAGE_DELTA, self.ET.PARTICIPANT_STATUS
        deltas, first, processing = 0, 0.0, False
        async with self.session.listen(maxsize=maxsize) as listener:
            await self.session.send(text)
            async for event in listener:
                if event.type is delta_type:
                    if not deltas:
                        first = perf_counter()
                    deltas += 1
                elif event.type is status_type:
                    status = event.data.get("status")
                    if status == "Processing":
                        processing = True
                    elif status == "Idle" and processing:
                        return deltas, first
                elif event.type is self.ET.ERROR and not _overflow(event):
                    raise TurnFailed(f"error event: {event}")
        raise TurnFailed("listen() ended before the turn did")

    async def drain(self, text: str, maxsize: int, counts: dict[str, int]) -> None:
        """A turn through ``listen(maxsize=...)``, counting deltas and overflow notices as they
        come (so a caller that gives up waiting still knows how far it got)."""
        async with self.session.listen(maxsize=maxsize) as listener:
            await self.session.send(text)
            async for event in listener:
                _count(event, counts)
                if event.is_turn_end and counts["processing"]:
                    return

    async def fan_out(self, text: str, count: int) -> Fanned:
        """One turn read by ``count`` listeners, each iterated by its own task; all subscribe
        (``listen()``) and their tasks reach their first wait before the send. The wall time runs
        from just before the send to the last listener seeing the turn's end."""
        listeners = [self.session.listen(maxsize=0) for _ in range(count)]
        fanned = Fanned(count)

        async def read(i: int, listener: Any) -> None:
            delta_type, status_type = self.ET.MESSAGE_DELTA, self.ET.PARTICIPANT_STATUS
            error_type = self.ET.ERROR
            events = deltas = 0
            processing = False
            async for event in listener:
                events += 1
                kind = event.type
                if kind is delta_type:
                    deltas += 1
                elif kind is status_type:
                    status = event.data.get("status")
                    if status == "Processing":
                        processing = True
                    elif status == "Idle" and processing:
                        fanned.done(i, events, deltas)
                        return
                elif kind is error_type and not _overflow(event):
                    raise TurnFailed(f"listener {i}: error event: {event}")
            raise TurnFailed(f"listener {i}: listen() ended before the turn did")

        tasks = [asyncio.ensure_future(read(i, lis)) for i, lis in enumerate(listeners)]
        try:
            await asyncio.sleep(0)  # every task runs up to its first wait
            fanned.start = perf_counter()
            await self.session.send(text)
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for listener in listeners:
                await listener.aclose()
        return fanned

    async def ping(self) -> float:
        """No public ping: the frame goes through the session's own transport (private, for
        the benchmark only) and the ``PONG`` comes back through ``listen()``."""
        session = self.session
        frame = ping_frame(session.session_id or "")
        async with session.listen(event_types=[self.ET.PONG], maxsize=0) as listener:
            start = perf_counter()
            await session._conn._transport.send(frame)  # type: ignore[union-attr]
            async for _ in listener:
                return perf_counter() - start
        raise TurnFailed("listen() ended before the pong came")

    async def close(self) -> None:
        await self.session.disconnect()


# --- the official client (asyncio, aiohttp) --------------------------------------------------


class OfficialAsync:
    """``vectorshift.session.Session`` (0.1.15). Its ``listen()`` subscribes on its first step,
    so each turn starts that step before ``send()`` (events sent earlier would be lost)."""

    label = "official vectorshift Session"

    def __init__(self, *, ping_loop: bool = True) -> None:
        self.ping_loop = ping_loop

    async def open(self, ws_base: str) -> None:
        os.environ["VECTORSHIFT_WS_URL"] = ws_base
        os.environ["VECTORSHIFT_BASE_URL"] = ws_base.replace("ws://", "http://", 1)
        from vectorshift.events import SessionEventType
        from vectorshift.session import Session

        self.ET = SessionEventType
        self.session = Session(owner_type="agent", owner_id=AGENT_ID, api_key="bench")
        await self.session.connect()
        if not self.ping_loop and self.session._ping_task is not None:
            self.session._ping_task.cancel()  # its pongs would land in the ping timings

    async def _subscribed(self, **listen_options: Any) -> tuple[Any, asyncio.Future[Any]]:
        events = self.session.listen(**{"maxsize": 0, **listen_options})
        first = asyncio.ensure_future(events.__anext__())
        for _ in range(3):  # let listen() run up to its first wait: it has subscribed
            await asyncio.sleep(0)
        return events, first

    async def turn(self, text: str, maxsize: int = 0) -> tuple[int, float]:
        delta_type, status_type = self.ET.MESSAGE_DELTA, self.ET.PARTICIPANT_STATUS
        deltas, first, processing = 0, 0.0, False
        events, first_event = await self._subscribed(maxsize=maxsize)
        try:
            await self.session.send(text)
            event = await first_event
            while True:
                if event.type == delta_type:
                    if not deltas:
                        first = perf_counter()
                    deltas += 1
                elif event.type == status_type:
                    status = event.data.get("status")
                    if status == "Processing":
                        processing = True
                    elif status == "Idle" and processing:
                        return deltas, first
                elif event.type == self.ET.ERROR and not _overflow(event):
                    raise TurnFailed(f"error event: {event}")
                event = await events.__anext__()
        finally:
            await events.aclose()

    async def drain(self, text: str, maxsize: int, counts: dict[str, int]) -> None:
        """As ``OursAsync.drain``."""
        events, first_event = await self._subscribed(maxsize=maxsize)
        try:
            await self.session.send(text)
            event = await first_event
            while True:
                _count(event, counts)
                if event.is_turn_end and counts["processing"]:
                    return
                event = await events.__anext__()
        finally:
            await events.aclose()

    async def ping(self) -> float:
        events, first_event = await self._subscribed(event_types=[self.ET.PONG])
        try:
            start = perf_counter()
            await self.session._ws_send(
                {"type": "ping_session", "session_id": self.session.session_id}
            )
            await first_event
            return perf_counter() - start
        finally:
            await events.aclose()

    async def close(self) -> None:
        await self.session.disconnect()


# --- raw floors, blocking --------------------------------------------------------------------


class _RawBlocking:
    label = ""
    ws: Any
    session_id: str

    def _connect(self, url: str) -> Any:
        raise NotImplementedError

    def open(self, ws_base: str) -> None:
        self.ws = self._connect(ws_base + "/ws/session")
        self.ws.send(create_frame())
        self.session_id = json.loads(self.ws.recv())["session_id"]
        self.ws.send(connect_frame(self.session_id))
        _check(json.loads(self.ws.recv()))

    def turn(self, text: str) -> tuple[int, float]:
        recv, loads = self.ws.recv, json.loads
        self.ws.send(post_frame(self.session_id, text))
        deltas, first, processing = 0, 0.0, False
        while True:
            frame = loads(recv())
            kind = frame["type"]
            if kind == "message_delta":
                if not deltas:
                    first = perf_counter()
                deltas += 1
            elif kind == "participant_status":
                status = frame["message"]["status"]
                if status == "Processing":
                    processing = True
                elif status == "Idle" and processing:
                    return deltas, first
            else:
                _check(frame)

    def ping(self) -> float:
        start = perf_counter()
        self.ws.send(ping_frame(self.session_id))
        while json.loads(self.ws.recv())["type"] != "pong":
            pass
        return perf_counter() - start

    def close(self) -> None:
        self.ws.close()


class RawWebsocketsSync(_RawBlocking):
    """A plain ``websockets.sync`` loop."""

    label = "raw websockets.sync"

    def _connect(self, url: str) -> Any:
        from websockets.sync.client import connect

        return connect(url, compression=None)


class RawWebsocketClient(_RawBlocking):
    """A plain ``websocket-client`` loop (``skip_utf8_validation`` as given)."""

    def __init__(self, *, skip_utf8_validation: bool = False) -> None:
        self.skip = skip_utf8_validation
        self.label = "raw websocket-client" + (", skip_utf8_validation" if self.skip else "")

    def _connect(self, url: str) -> Any:
        import websocket

        ws = websocket.WebSocket(skip_utf8_validation=self.skip)
        ws.connect(url)
        return ws


class RawWebsocketClientThread(RawWebsocketClient):
    """The same loop, but a reader thread receives and hands each text to the caller through a
    ``queue.SimpleQueue``: the floor of any blocking client with a background reader (``Session``
    has one, so that several threads can listen and send at once)."""

    def __init__(self) -> None:
        super().__init__(skip_utf8_validation=True)
        self.label = "raw websocket-client + reader thread"

    def open(self, ws_base: str) -> None:
        import queue
        import threading

        self.conn = self._connect(ws_base + "/ws/session")
        self.texts: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.ws = self  # the inherited loops call self.ws.send / self.ws.recv
        self.send(create_frame())
        self.session_id = json.loads(self.recv())["session_id"]
        self.send(connect_frame(self.session_id))
        _check(json.loads(self.recv()))

    def _read(self) -> None:
        try:
            while True:
                self.texts.put(self.conn.recv())
        except Exception:
            self.texts.put(None)

    def send(self, text: str) -> None:
        self.conn.send(text)

    def recv(self) -> str:
        text = self.texts.get()
        if text is None:
            raise TurnFailed("the connection closed")
        return text

    def close(self) -> None:
        self.conn.abort()  # wakes the reader, which ends
        self.reader.join(5)
        self.conn.shutdown()


# --- this package, blocking ------------------------------------------------------------------


class OursSync:
    """``vectorshift_sessions.Session`` (threads + websocket-client): ``send()`` then ``listen()``."""

    label = "Session (ours, blocking)"

    def __init__(self, **options: Any) -> None:
        self.options = options

    def open(self, ws_base: str) -> None:
        from vectorshift_sessions import Session, SessionEventType

        self.ET = SessionEventType
        self.session = Session(
            owner_type="agent", owner_id=AGENT_ID, ws_url=ws_base, **self.options
        )
        self.session.connect()

    def turn(self, text: str, maxsize: int = 0) -> tuple[int, float]:
        delta_type, status_type = self.ET.MESSAGE_DELTA, self.ET.PARTICIPANT_STATUS
        deltas, first, processing = 0, 0.0, False
        with self.session.listen(maxsize=maxsize) as listener:
            self.session.send(text)
            for event in listener:
                if event.type is delta_type:
                    if not deltas:
                        first = perf_counter()
                    deltas += 1
                elif event.type is status_type:
                    status = event.data.get("status")
                    if status == "Processing":
                        processing = True
                    elif status == "Idle" and processing:
                        return deltas, first
                elif event.type is self.ET.ERROR and not _overflow(event):
                    raise TurnFailed(f"error event: {event}")
        raise TurnFailed("listen() ended before the turn did")

    def drain(self, text: str, maxsize: int, counts: dict[str, int]) -> None:
        """As ``OursAsync.drain``."""
        with self.session.listen(maxsize=maxsize) as listener:
            self.session.send(text)
            for event in listener:
                _count(event, counts)
                if event.is_turn_end and counts["processing"]:
                    return

    def fan_out(self, text: str, count: int, timeout: float = 300.0) -> Fanned:
        """As ``OursAsync.fan_out``, each listener iterated by its own thread; the threads are
        started (and past a barrier) before the send."""
        import threading

        listeners = [self.session.listen(maxsize=0) for _ in range(count)]
        fanned = Fanned(count)
        failures: list[BaseException] = []
        barrier = threading.Barrier(count + 1)

        def read(i: int, listener: Any) -> None:
            delta_type, status_type = self.ET.MESSAGE_DELTA, self.ET.PARTICIPANT_STATUS
            error_type = self.ET.ERROR
            events = deltas = 0
            processing = False
            barrier.wait()
            try:
                for event in listener:
                    events += 1
                    kind = event.type
                    if kind is delta_type:
                        deltas += 1
                    elif kind is status_type:
                        status = event.data.get("status")
                        if status == "Processing":
                            processing = True
                        elif status == "Idle" and processing:
                            fanned.done(i, events, deltas)
                            return
                    elif kind is error_type and not _overflow(event):
                        raise TurnFailed(f"listener {i}: error event: {event}")
                raise TurnFailed(f"listener {i}: listen() ended before the turn did")
            except BaseException as exc:
                failures.append(exc)

        readers = [
            threading.Thread(target=read, args=(i, lis), daemon=True)
            for i, lis in enumerate(listeners)
        ]
        try:
            for reader in readers:
                reader.start()
            barrier.wait()
            fanned.start = perf_counter()
            self.session.send(text)
            deadline = fanned.start + timeout
            for reader in readers:
                reader.join(max(0.0, deadline - perf_counter()))
        finally:
            for listener in listeners:
                listener.close()
        if failures:
            raise failures[0]
        if any(reader.is_alive() for reader in readers):
            raise TurnFailed(f"the turn did not end within {timeout} s for every listener")
        return fanned

    def ping(self) -> float:
        """As ``OursAsync.ping``: the frame through the private transport, the pong through
        ``listen()``."""
        session = self.session
        frame = ping_frame(session.session_id or "")
        with session.listen(event_types=[self.ET.PONG], maxsize=0) as listener:
            start = perf_counter()
            session._conn._transport.send(frame)  # type: ignore[union-attr]
            for _ in listener:
                return perf_counter() - start
        raise TurnFailed("listen() ended before the pong came")

    def close(self) -> None:
        self.session.disconnect()


#: name -> (flavour, factory(latency=False) -> adapter)
CLIENTS: dict[str, tuple[str, Any]] = {
    "ours-async": (
        "async",
        lambda quiet=False: OursAsync(**({"ping_interval": None} if quiet else {})),
    ),
    "official": ("async", lambda quiet=False: OfficialAsync(ping_loop=not quiet)),
    "raw-websockets": ("async", lambda quiet=False: RawWebsocketsAsync()),
    "raw-aiohttp": ("async", lambda quiet=False: RawAiohttp()),
    "ours-sync": (
        "sync",
        lambda quiet=False: OursSync(**({"ping_interval": None} if quiet else {})),
    ),
    "raw-websockets-sync": ("sync", lambda quiet=False: RawWebsocketsSync()),
    "raw-websocket-client": ("sync", lambda quiet=False: RawWebsocketClient()),
    "raw-websocket-client-skip": (
        "sync",
        lambda quiet=False: RawWebsocketClient(skip_utf8_validation=True),
    ),
    "raw-websocket-client-thread": ("sync", lambda quiet=False: RawWebsocketClientThread()),
}


def make(name: str, *, quiet: bool = False) -> Any:
    """A fresh adapter; ``quiet`` turns off the client's own heartbeat (latency runs)."""
    return CLIENTS[name][1](quiet)


def flavour(name: str) -> str:
    return CLIENTS[name][0]


def label(name: str) -> str:
    return str(make(name).label)
