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
    event_from_json,
    to_sse,
)
from vectorshift_sessions.engine import LocalEngine

from .._agents import ChatterAgent, HeldAgent

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


async def test_a_quiet_turn_yields_heartbeats_until_its_events_come(engine: LocalEngine) -> None:
    held = HeldAgent()
    agent_id = engine.add_agent("held", held)
    try:
        async with new_session(engine, agent_id) as session:
            seen: list[SessionEvent | None] = []
            async for item in session.stream("hi", heartbeat=0.02):
                seen.append(item)
                if seen.count(None) == 3:
                    held.release.set()  # three heartbeats while the agent held its turn
    finally:
        held.release.set()
    events = [item for item in seen if item is not None]
    assert [e.text for e in events if e.is_complete] == ["working", "done"]
    working = next(i for i, e in enumerate(seen) if e is not None and e.text == "working")
    assert seen[working + 1 :].count(None) >= 3  # the held agent's silence
    assert events[-1].is_turn_end and seen[-1] is events[-1]


async def test_without_heartbeat_a_stream_yields_only_events(engine: LocalEngine) -> None:
    async with new_session(engine) as session:
        items = [item async for item in session.stream("x")]
    assert None not in items


async def test_respond_stream_answers_and_streams_the_rest_of_the_turn(
    engine: LocalEngine,
) -> None:
    async with new_session(engine, "agent-demo") as session:
        request = (await collect(session, "hello"))[-1]
        assert request.type == ET.APPROVAL_REQUEST
        rest = [
            e
            async for e in session.respond_stream(
                request, approved=True, confirm={"priority": "high"}
            )
        ]
        assert not any(e.type == ET.APPROVAL_REQUEST for e in rest)
        assert any(e.type == ET.TOOL_RESULT for e in rest)
        (text,) = [e.text for e in rest if e.is_complete]
        assert "DEMO-1042 (priority high)" in (text or "")
        assert rest[-1].is_turn_end
        after = await collect(session, "fail")  # the session goes on as usual
    assert after[-1].is_turn_end


async def test_an_approval_posted_back_from_a_browser_is_answered_in_a_new_request(
    engine: LocalEngine,
) -> None:
    """The web pattern: one request streams up to the approval request and detaches; the
    next resumes by id, answers what the browser posted back, and streams the rest."""
    async with new_session(engine, "agent-demo") as first:
        request = (await collect(first, "hello"))[-1]
        session_id = first.session_id or ""
    posted_back = to_sse(request).split("data: ", 1)[1]  # what the page JSON.parse()d
    async with AsyncSession(session_id=session_id, ws_url=engine.ws_url) as second:
        rest = [
            e
            async for e in second.respond_stream(
                event_from_json(posted_back), approved=False, deny_reason="not now"
            )
        ]
        history = await second.get_messages()
    (text,) = [e.text for e in rest if e.is_complete]
    assert "You declined the ticket (not now)" in (text or "")
    assert rest[-1].is_turn_end
    assert history[-1].text == text


async def test_bad_input_to_a_turn_raises_at_the_call_and_sends_nothing(
    engine: LocalEngine,
) -> None:
    async with new_session(engine, "agent-demo") as session:
        with pytest.raises(TypeError, match="cannot send None"):
            session.stream(None)  # type: ignore[call-overload]
        with pytest.raises(ValueError, match="heartbeat must be a positive, finite number"):
            session.stream("x", heartbeat=0)
        with pytest.raises(ValueError, match="timeout must be a positive, finite number"):
            session.stream("x", timeout=float("inf"))
        with pytest.raises(ValueError, match="lone surrogate"):
            session.stream("broken \ud800 text")
        with pytest.raises(TypeError, match="timeout must be a number of seconds"):
            session.stream("x", timeout="soon")  # type: ignore[call-overload]
        request = (await collect(session, "hello"))[-1]
        not_a_request = SessionEvent(ET.MESSAGE_DELTA, session.session_id or "", "m", {})
        with pytest.raises(TypeError, match="cannot respond to a message_delta event"):
            session.respond_stream(not_a_request, approved=True)
        with pytest.raises(TypeError, match="requires approved=True"):
            session.respond_stream(request)
        elsewhere = SessionEvent(ET.APPROVAL_REQUEST, "another-session", request.message_id)
        with pytest.raises(ValueError, match="belongs to session 'another-session'"):
            session.respond_stream(elsewhere, approved=True)
        # nothing was sent: the request still waits, and answers as usual
        rest = [e async for e in session.respond_stream(request, approved=True)]
        assert rest[-1].is_turn_end
        users = [m for m in await session.get_messages() if m.is_user]
        assert [m.text for m in users] == ["hello", None]  # the question and one answer


async def test_events_of_an_earlier_turn_do_not_hold_back_the_heartbeat(
    engine: LocalEngine,
) -> None:
    """Skipped events (the rest of an earlier turn, still streaming) are not this turn's: a
    turn that waits behind another is quiet, and its heartbeat says so."""
    chatter = ChatterAgent()
    agent_id = engine.add_agent("chatter", chatter)
    try:
        async with new_session(engine, agent_id) as session:
            earlier = session.stream("first")
            async for event in earlier:
                if event.delta:
                    break  # the first turn streams on, unread
            await earlier.aclose()  # type: ignore[attr-defined]
            seen: list[SessionEvent | None] = []
            async for item in session.stream("second", heartbeat=0.05, timeout=30):
                seen.append(item)
                if seen.count(None) == 2:
                    chatter.release.set()  # the first turn ends; then the second runs
    finally:
        chatter.release.set()
    assert seen.count(None) >= 2
    assert seen[-1] is not None and seen[-1].is_turn_end
