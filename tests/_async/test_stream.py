"""stream(): one call per turn that sends and iterates exactly that turn's events.

Written once; tests/_sync/ is generated from it.
"""

from __future__ import annotations

import pytest

from vectorshift_sessions import (
    AsyncSession,
    ParticipantStatus,
    SessionEvent,
    SessionEventType,
)
from vectorshift_sessions.engine import LocalEngine

ET = SessionEventType


def new_session(engine: LocalEngine, owner_id: str = "agent-echo") -> AsyncSession:
    return AsyncSession(owner_type="agent", owner_id=owner_id, ws_url=engine.ws_url)


async def collect(session: AsyncSession, content: str) -> list[SessionEvent]:
    return [event async for event in session.stream(content)]


async def test_a_turn_streams_from_the_post_to_its_end(engine: LocalEngine) -> None:
    async with new_session(engine) as session:
        first = await collect(session, "one two three")
        second = await collect(session, "four")
    assert first[0].type == ET.MESSAGE_POSTED
    assert "".join(e.delta or "" for e in first) == "one two three"
    assert [e.text for e in first if e.is_complete] == ["one two three"]
    assert first[-1].participant_status == ParticipantStatus.IDLE
    assert [e for e in first if e.is_turn_end] == [first[-1]]
    assert [e.text for e in second if e.is_complete] == ["four"]  # only its own turn


async def test_it_stops_at_an_approval_and_listen_reads_on_after_the_answer(
    engine: LocalEngine,
) -> None:
    async with new_session(engine, "agent-demo") as session:
        events = await collect(session, "hello")
        assert events[-1].type == ET.APPROVAL_REQUEST
        await session.respond(events[-1], approved=True)
        rest: list[SessionEvent] = []
        async for event in session.listen():
            rest.append(event)
            if event.is_turn_end:
                break
        assert not any(e.type == ET.APPROVAL_REQUEST for e in rest)  # read by the stream
        assert any(e.is_complete for e in rest)
        after = await collect(session, "fail")  # and the next turn streams on its own
    assert after[-1].is_turn_end
    assert any(e.type == ET.ERROR for e in after)


async def test_ask_and_stream_see_the_same_turn(engine: LocalEngine) -> None:
    async with new_session(engine) as session:
        streamed = await collect(session, "same words")
        asked = await session.ask("same words")
    kinds = [e.type for e in streamed]
    assert [e.type for e in asked.events] == kinds
    assert asked.text == "same words"


async def test_bad_input_raises_before_anything_is_sent(engine: LocalEngine) -> None:
    async with new_session(engine) as session:
        with pytest.raises(TypeError, match="cannot send None"):
            await collect(session, None)  # type: ignore[arg-type]
        assert await session.get_messages() == []
        assert [e.text for e in await collect(session, "still usable") if e.is_complete] == [
            "still usable"
        ]


async def test_leaving_the_stream_early_holds_nothing_back(engine: LocalEngine) -> None:
    async with new_session(engine) as session:
        stream = session.stream("a b c d e f")
        seen: list[SessionEvent] = []
        async for event in stream:
            seen.append(event)
            if event.delta:
                break  # a browser that went away
        await stream.aclose()
        async for event in session.listen():  # the rest of the turn waits for the next reader
            seen.append(event)
            if event.is_turn_end:
                break
        assert "".join(e.delta or "" for e in seen) == "a b c d e f"
        assert [e.text for e in seen if e.is_complete] == ["a b c d e f"]
        assert [e.text for e in await collect(session, "next") if e.is_complete] == ["next"]


async def test_a_turn_sent_while_an_earlier_one_runs_streams_only_its_own(
    engine: LocalEngine,
) -> None:
    async with new_session(engine) as session:
        stream = session.stream("a b c d e f")
        async for event in stream:
            if event.delta:
                break  # the earlier turn goes on in the engine
        await stream.aclose()
        events = await collect(session, "next")
    assert events[0].type == ET.MESSAGE_POSTED
    assert "".join(e.delta or "" for e in events) == "next"
    assert [e.text for e in events if e.is_complete] == ["next"]
    assert [e for e in events if e.is_turn_end] == [events[-1]]
