"""Faults through a real TCP proxy: cuts, stalls, an engine restart, an engine gone for good.

Written once; tests/_sync/ is generated from it, so both flavours face the same faults.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from vectorshift_sessions import (
    AsyncSession,
    DeliveryUnknownError,
    ReconnectFailedError,
    ReconnectPolicy,
    SessionDisconnectedError,
    SessionEvent,
    SessionEventType,
    SessionMessageStatus,
)
from vectorshift_sessions._backends import _asyncio_backend as backend
from vectorshift_sessions.engine import LocalEngine
from vectorshift_sessions.testing import FaultyProxy
from vectorshift_sessions.testing._cassette import Cassette

ET = SessionEventType
FAST = ReconnectPolicy(initial_delay=0.005, max_delay=0.05, deadline=30)


@pytest.fixture
def proxy(engine: LocalEngine) -> Iterator[FaultyProxy]:
    with FaultyProxy(engine.port) as running:
        yield running


def session_via(proxy: FaultyProxy, **options: object) -> AsyncSession:
    options.setdefault("reconnect", FAST)
    return AsyncSession(owner_type="agent", owner_id="agent-echo", ws_url=proxy.ws_url, **options)  # type: ignore[arg-type]


def client_status(event: SessionEvent) -> str | None:
    """The status of a client-side connection event (Offline / Connected), else None."""
    if event.type == ET.PARTICIPANT_STATUS and event.data.get("source") == "client":
        return str(event.data["status"])
    return None


async def send_once(session: AsyncSession, text: str) -> None:
    """Send, and if a drop made delivery unknown, look in the history before sending again."""
    try:
        await session.send(text)
    except DeliveryUnknownError:
        history = await session.get_messages()
        if not any(m.is_user and m.text == text for m in history):
            await session.send(text)


@pytest.fixture(scope="module")
def paced_engine() -> Iterator[LocalEngine]:
    """An engine that paces its turns, so a cut surely lands while the turn is still streaming
    (unpaced, a whole turn can sit in the client's socket buffer before the cut is noticed)."""
    with LocalEngine(db=":memory:", turn_delay=0.002) as running:
        yield running


async def test_a_cut_mid_turn_loses_nothing_and_repeats_nothing(paced_engine: LocalEngine) -> None:
    with FaultyProxy(paced_engine.port) as proxy:
        await cut_mid_turn(proxy)


async def cut_mid_turn(proxy: FaultyProxy) -> None:
    async with session_via(proxy) as session:
        listener = session.listen(maxsize=0)
        await session.send(" ".join(f"word{i}" for i in range(200)))
        seen: list[SessionEvent] = []
        cut = False
        async for event in listener:
            seen.append(event)
            if event.type == ET.MESSAGE_DELTA and not cut:
                cut = proxy.cut() > 0
            if event.is_turn_end:  # live, or re-said after the recovery if it was missed
                break
        history = await session.get_messages()
    assert cut
    statuses = [client_status(e) for e in seen if client_status(e)]
    assert statuses == ["Offline", "Connected"]
    completes = [e for e in seen if e.is_complete]
    assert len(completes) == 1
    (stored,) = [m for m in history if m.is_agent]
    assert completes[0].message_id == stored.id and completes[0].text == stored.text


@pytest.mark.parametrize("extension", [True, False], ids=["status-on-connect", "hosted-like"])
@pytest.mark.timeout(60)
async def test_a_turn_that_ends_while_away_ends_the_listeners_loop(extension: bool) -> None:
    """The turn's Idle goes out while the session is cut off; the session learns that the
    turn ended from the connect ack's status (our extension) or, without it, from the
    history, and says so: a loop waiting for ``is_turn_end`` ends."""
    with (
        LocalEngine(db=":memory:", turn_delay=0.002, extensions=extension) as engine,
        FaultyProxy(engine.port) as proxy,
    ):
        # Without the extension the end read from the history waits two quiet heartbeats.
        async with session_via(proxy, ping_interval=0.05) as session:
            assert session.session_id is not None
            listener = session.listen(maxsize=0)
            await session.send(" ".join(f"w{i}" for i in range(100)))
            async for event in listener:
                if event.type == ET.MESSAGE_DELTA:
                    break
            # The turn ends while the session is away: a witness on its own connection
            # sees the end before the session is let back in.
            async with AsyncSession(session_id=session.session_id, ws_url=engine.ws_url) as witness:
                watching = witness.listen()
                proxy.refuse()
                proxy.cut()
                async for event in watching:
                    if event.is_turn_end:
                        break
            proxy.refuse(False)
            rest = []
            async for event in listener:
                rest.append(event)
                if event.is_turn_end:
                    break
    assert [client_status(e) for e in rest if client_status(e)] == ["Offline", "Connected"]
    assert rest[-1].data.get("recovered") is True
    assert [e.text for e in rest if e.is_complete] == [" ".join(f"w{i}" for i in range(100))]


@pytest.fixture(scope="module", params=[True, False], ids=["paged", "hosted-like"])
def either_engine(request: pytest.FixtureRequest) -> Iterator[LocalEngine]:
    """The engine with its protocol extensions (paging the history), and without them."""
    with LocalEngine(db=":memory:", extensions=request.param) as running:
        yield running


async def test_200_turns_with_random_cuts_lose_and_repeat_nothing(
    either_engine: LocalEngine, tmp_path: Path
) -> None:
    """Each recovery asks, with paging, only for what was stored after the last history it
    read (a long session re-reads a few messages, not all); without, for all of it."""
    path = tmp_path / "cuts.jsonl"
    with FaultyProxy(either_engine.port) as proxy:
        await random_cuts(proxy, path)
    frames = [f.frame for f in Cassette.load(path).recordings[0].frames if f.frame is not None]
    asked = [f.get("after") for f in frames if f["type"] == "get_messages" and "messages" not in f]
    answers = [f for f in frames if f["type"] == "get_messages" and "messages" in f]
    rejoins = sum(f["type"] == "connect_session" and "success" in f for f in frames) - 1
    final = [m["id"] for m in answers[-1]["messages"]]  # the test's own read: all of it
    assert len(final) == 400
    paged = [answer for answer in answers if "after" in answer]
    if either_engine.extensions:
        # Every recovery but the first asks for a part (a cut may take a request, or its
        # answer): what was stored after the last message it read, in order, no more.
        assert len(paged) >= rejoins // 2 >= 10
        assert sum(a is not None for a in asked) >= len(paged)
        for answer in paged:
            start = final.index(answer["after"]) + 1
            assert [m["id"] for m in answer["messages"]] == final[
                start : start + len(answer["messages"])
            ]
        assert sum(len(a["messages"]) for a in paged) < len(final)
    else:
        assert paged == [] and set(asked) == {None}


async def random_cuts(proxy: FaultyProxy, path: Path) -> None:
    rng = random.Random(20261125)
    completes: list[SessionEvent] = []
    arrived = backend.Event()

    async def collect(listener: object) -> None:
        async for event in listener:  # type: ignore[attr-defined]
            completes.append(event)
            arrived.set()

    async with session_via(proxy, record_to=path) as session:
        worker = backend.spawn(
            collect, session.listen(event_types=[ET.MESSAGE_COMPLETE], maxsize=0), name="collect"
        )
        cuts = 0
        for turn in range(200):
            arrived.clear()
            if rng.random() < 0.15:
                cuts += proxy.cut()  # before sending: the send meets a dead connection
            await send_once(session, f"turn {turn} " + "x " * rng.randrange(1, 50))
            if rng.random() < 0.15:
                cuts += proxy.cut()  # mid-turn
            while len(completes) < turn + 1:
                assert await arrived.wait(30), f"turn {turn}: no complete message"
                arrived.clear()
        history = await session.get_messages()
        await session.disconnect()
        await worker.join()
    assert cuts >= 30
    stored = [m for m in history if m.is_agent and m.status == SessionMessageStatus.COMPLETE]
    assert len(stored) == 200, "every turn ran exactly once"
    delivered = [e.message_id for e in completes]
    assert len(delivered) == len(set(delivered)) == 200, "no complete message twice"
    assert set(delivered) == {m.id for m in stored}, "none lost"


async def test_a_silent_connection_is_detected_and_recovered(proxy: FaultyProxy) -> None:
    async with session_via(proxy, ping_interval=0.05, heartbeat_timeout=0.3) as session:
        statuses = session.listen(event_types=[ET.PARTICIPANT_STATUS])
        proxy.stall()  # open but silent: only the heartbeat can notice
        offline = await statuses.__anext__()
        assert client_status(offline) == "Offline"
        proxy.resume()
        assert client_status(await statuses.__anext__()) == "Connected"
        assert (await session.ask("alive again")).text == "alive again"


async def test_send_during_recovery_waits_and_sends_once(proxy: FaultyProxy) -> None:
    async with session_via(proxy) as session:
        statuses = session.listen(event_types=[ET.PARTICIPANT_STATUS])
        proxy.refuse()
        proxy.cut()
        assert client_status(await statuses.__anext__()) == "Offline"
        assert not session.is_connected
        sending = backend.spawn(session.send, "sent while recovering", name="send")
        proxy.refuse(False)
        await sending.join()
        history = await session.get_messages()
        assert [m.text for m in history if m.is_user] == ["sent while recovering"]


async def test_an_engine_gone_past_the_deadline_ends_listeners_with_a_typed_error(
    proxy: FaultyProxy,
) -> None:
    session = session_via(proxy, reconnect=ReconnectPolicy(initial_delay=0.01, deadline=0.3))
    await session.connect()
    listener = session.listen()
    proxy.refuse()
    proxy.cut()
    with pytest.raises(ReconnectFailedError, match="could not be restored"):
        async for _ in listener:
            pass
    with pytest.raises(ReconnectFailedError):
        await session.send("anyone?")
    assert not session.is_connected
    proxy.refuse(False)
    await session.connect()  # and it can be resumed later
    try:
        assert (await session.ask("back")).text == "back"
    finally:
        await session.disconnect()


async def test_without_reconnect_a_drop_ends_listeners_with_an_error(proxy: FaultyProxy) -> None:
    session = session_via(proxy, reconnect=False)
    await session.connect()
    listener = session.listen()
    proxy.cut()
    with pytest.raises(SessionDisconnectedError, match=r"connection to .* was lost") as info:
        async for _ in listener:
            pass
    assert not isinstance(info.value, ReconnectFailedError)
    await session.disconnect()


class PartAskedTap(io.StringIO):
    """A recording in memory that says when a paged history request has been sent."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = backend.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        if '"sent"' in text and '"get_messages"' in text and '"after"' in text:
            self.asked.set()
        return written


async def test_a_history_asked_again_of_an_engine_that_stopped_paging_has_no_after(
    tmp_path: Path,
) -> None:
    """``get_messages(after=...)`` cut off by a drop is asked again after the recovery; the
    engine now reached does not page, so it is asked without ``after`` (never sent to an
    engine that did not offer it) and the whole history is cut in the client."""
    db, tap, results = tmp_path / "engine.sqlite3", PartAskedTap(), []
    with LocalEngine(db=str(db)) as first, FaultyProxy(first.port) as proxy:
        async with session_via(proxy, record_to=tap) as session:
            one = await session.ask("one")
            await session.ask("two")
            answer_id = next(e.message_id for e in one.events if e.is_complete)
            assert answer_id is not None

            async def read() -> None:
                results.append(await session.get_messages(after=answer_id))

            with LocalEngine(db=str(db), extensions=False) as second:
                proxy.stall()  # the request goes out, and no further than the proxy
                worker = backend.spawn(read, name="read")
                assert await tap.asked.wait(30)
                proxy.retarget(second.port)
                proxy.cut()
                proxy.resume()
                await worker.join()
    (rest,) = results
    assert [(m.is_user, m.text) for m in rest] == [(True, "two"), (False, "two")]
    path = tmp_path / "read.jsonl"
    path.write_text(tap.getvalue(), encoding="utf-8")
    frames = [f.frame for f in Cassette.load(path).recordings[0].frames if f.frame]
    asked = [f for f in frames if f["type"] == "get_messages" and "messages" not in f]
    # The part, cut off; the recovery's own (the whole history: none was read before); again.
    assert [f.get("after") for f in asked] == [answer_id, None, None]


async def test_an_engine_restart_mid_turn(tmp_path: Path) -> None:
    db = tmp_path / "engine.sqlite3"
    first = LocalEngine(db=str(db), turn_delay=0.001)
    first.__enter__()
    try:
        with FaultyProxy(first.port) as proxy:
            async with session_via(proxy) as session:
                await session.ask("before the restart")
                listener = session.listen(maxsize=0)
                await session.send(" ".join(f"w{i}" for i in range(500)))
                seen: list[SessionEvent] = []
                async for event in listener:
                    seen.append(event)
                    if event.type == ET.MESSAGE_DELTA:
                        break  # mid-turn: now the engine dies
                first.__exit__(None, None, None)
                with LocalEngine(db=str(db)) as second:
                    proxy.retarget(second.port)
                    async for event in listener:
                        seen.append(event)
                        if client_status(event) == "Connected":
                            break
                    result = await session.ask("after the restart")
                    history = await session.get_messages()
    finally:
        first.__exit__(None, None, None)
    assert result.text == "after the restart"
    assert [client_status(e) for e in seen if client_status(e)] == ["Offline", "Connected"]
    user_texts = [m.text for m in history if m.is_user]
    assert user_texts[0] == "before the restart" and user_texts[-1] == "after the restart"
    # The turn cut off by the restart either finished before the engine stopped (then its
    # message was stored and is delivered once, by the backfill) or never completed.
    big = [m for m in history if m.is_agent and (m.text or "").startswith("w0 w1")]
    assert [e.message_id for e in seen if e.is_complete] == [m.id for m in big]
