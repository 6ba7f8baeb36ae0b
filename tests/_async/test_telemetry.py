"""OpenTelemetry spans and metrics, recorded in memory by the SDK, against the real local engine.

Written once; tests/_sync/ is generated from it, so both flavours are traced the same way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests._agents import ChatterAgent, HeldAgent
from vectorshift_sessions import (
    AsyncClient,
    AsyncSession,
    ReconnectPolicy,
    SessionDisconnectedError,
    SessionEventType,
    TurnStatus,
)
from vectorshift_sessions._telemetry import CAPTURE_CONTENT_ENV
from vectorshift_sessions.engine import LocalEngine

ET = SessionEventType
DEMO = "agent-demo"
ECHO = "agent-echo"
FAST = ReconnectPolicy(initial_delay=0.005, max_delay=0.05, deadline=30)


class Recorded:
    """A tracer provider and a meter provider that keep everything in memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self, prefix: str = "") -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.name.startswith(prefix)]

    def points(self, name: str) -> list[Any]:
        """The data points of metric ``name`` (empty if it was never recorded)."""
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found

    def providers(self) -> dict[str, Any]:
        return {"tracer_provider": self.tracer_provider, "meter_provider": self.meter_provider}


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    before = (trace.get_tracer_provider(), metrics.get_meter_provider())
    recording = Recorded()
    yield recording
    recording.tracer_provider.shutdown()
    recording.meter_provider.shutdown()
    # The package never sets a global provider.
    assert (trace.get_tracer_provider(), metrics.get_meter_provider()) == before


def new_session(
    engine: LocalEngine, recorded: Recorded, owner_id: str = ECHO, **options: Any
) -> AsyncSession:
    return AsyncSession(
        owner_type="agent",
        owner_id=owner_id,
        ws_url=engine.ws_url,
        **recorded.providers(),
        **options,
    )


def every_value(span: ReadableSpan) -> str:
    """Every attribute value of the span and of its events, as one text."""
    values = [str(v) for v in (span.attributes or {}).values()]
    for event in span.events:
        values += [str(v) for v in (event.attributes or {}).values()]
    return "\n".join(values)


async def test_a_demo_turn_is_a_span_with_its_tools_and_approval(
    engine: LocalEngine, recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CAPTURE_CONTENT_ENV, raising=False)
    async with new_session(engine, recorded, DEMO) as session:
        await session.send("book a meeting room")
        async for event in session.listen():
            if event.type == ET.APPROVAL_REQUEST:
                await session.respond(event, approved=True)
            if event.is_turn_end:
                break
        session_id = session.session_id

    (turn,) = recorded.spans("invoke_agent")
    assert turn.name == f"invoke_agent {DEMO}"
    assert turn.kind is SpanKind.CLIENT
    assert turn.status.status_code is StatusCode.OK
    attributes = dict(turn.attributes or {})
    assert attributes["gen_ai.operation.name"] == "invoke_agent"
    assert attributes["gen_ai.conversation.id"] == session_id
    assert attributes["gen_ai.agent.id"] == DEMO
    assert attributes["vectorshift.turn.outcome"] == "completed"
    assert attributes["vectorshift.turn.messages.sent"] == 1
    assert int(attributes["vectorshift.turn.messages.received"]) >= 5  # type: ignore[arg-type]
    assert int(attributes["vectorshift.turn.deltas"]) > 0  # type: ignore[arg-type]
    names = [e.name for e in turn.events]
    assert names.index("vectorshift.approval_request") < names.index(
        "vectorshift.approval_response"
    )
    (request,) = [e for e in turn.events if e.name == "vectorshift.approval_request"]
    assert (request.attributes or {})["gen_ai.tool.name"] == "create_ticket"

    tools = recorded.spans("execute_tool")
    assert sorted(s.name for s in tools) == [
        "execute_tool create_ticket",
        "execute_tool knowledge_base_search",
    ]
    for tool in tools:
        assert tool.parent is not None and tool.parent.span_id == turn.context.span_id
        assert tool.context.trace_id == turn.context.trace_id
        tool_attributes = tool.attributes or {}
        assert tool.name == f"execute_tool {tool_attributes['gen_ai.tool.name']}"
        assert str(tool_attributes["gen_ai.tool.call.id"]).startswith("call_")
        assert turn.start_time is not None and tool.start_time is not None
        assert turn.end_time is not None and tool.end_time is not None
        assert turn.start_time <= tool.start_time <= tool.end_time <= turn.end_time

    # No content by default: not the user's text, not the answer, not the tools' results.
    for span in (turn, *tools):
        shown = every_value(span)
        assert "meeting room" not in shown and "DEMO-1042" not in shown
        assert not any(
            k.startswith(("gen_ai.input", "gen_ai.output")) for k in span.attributes or {}
        )
        assert "gen_ai.tool.call.result" not in (span.attributes or {})

    (duration,) = recorded.points("gen_ai.client.operation.duration")
    assert duration.count == 1 and duration.sum > 0
    assert duration.attributes["gen_ai.agent.id"] == DEMO
    assert duration.attributes["vectorshift.turn.outcome"] == "completed"
    assert "gen_ai.conversation.id" not in duration.attributes  # never the session id
    (first,) = recorded.points("vectorshift.turn.time_to_first_delta")
    assert first.count == 1 and 0 < first.sum <= duration.sum
    (deltas,) = recorded.points("vectorshift.turn.deltas")
    assert deltas.sum == attributes["vectorshift.turn.deltas"]


async def test_content_is_recorded_only_when_asked_for(
    engine: LocalEngine, recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CAPTURE_CONTENT_ENV, "true")
    async with new_session(engine, recorded, DEMO) as session:
        await session.send("book a meeting room")
        async for event in session.listen():
            if event.type == ET.APPROVAL_REQUEST:
                await session.respond(event, approved=True)
            if event.is_turn_end:
                break
    (turn,) = recorded.spans("invoke_agent")
    attributes = turn.attributes or {}
    sent = json.loads(str(attributes["gen_ai.input.messages"]))
    assert sent == [{"role": "user", "parts": [{"type": "text", "content": "book a meeting room"}]}]
    answer = json.loads(str(attributes["gen_ai.output.messages"]))
    assert answer[0]["role"] == "assistant" and "DEMO-1042" in answer[0]["parts"][0]["content"]
    results = [
        str((s.attributes or {}).get("gen_ai.tool.call.result"))
        for s in recorded.spans("execute_tool")
    ]
    assert any("DEMO-1042" in result for result in results)


async def test_an_error_turn_and_a_failed_post_are_errors(
    engine: LocalEngine, recorded: Recorded
) -> None:
    async with new_session(engine, recorded, DEMO) as session:
        failed = await session.ask("this will fail")
        assert failed.status == TurnStatus.ERROR
    (turn,) = recorded.spans("invoke_agent")
    assert turn.status.status_code is StatusCode.ERROR
    assert (turn.attributes or {})["vectorshift.turn.outcome"] == "error"
    assert (turn.attributes or {})["error.type"] == "agent_error"
    assert "vectorshift.error" in [e.name for e in turn.events]
    assert "on purpose" not in every_value(turn)  # the error's text is content


async def test_an_approval_answered_on_another_connection_continues_the_turn(
    engine: LocalEngine, recorded: Recorded
) -> None:
    async with new_session(engine, recorded, DEMO) as session:
        paused = await session.ask("book a meeting room")
        assert paused.status == TurnStatus.AWAITING_APPROVAL
        session_id = session.session_id
    (first,) = recorded.spans("invoke_agent")
    assert (first.attributes or {})["vectorshift.turn.outcome"] == "detached"
    assert first.status.status_code is StatusCode.UNSET  # asked for: no error
    request = paused.action_event
    assert request is not None
    async with AsyncSession(
        session_id=session_id, ws_url=engine.ws_url, **recorded.providers()
    ) as resumed:
        async for _ in resumed.respond_stream(request, approved=False):
            pass
    second = [s for s in recorded.spans("invoke_agent") if s is not first]
    (continued,) = second
    assert continued.name == "invoke_agent"  # resumed by id: the owner is not known here
    attributes = continued.attributes or {}
    assert attributes["vectorshift.turn.continued"] is True
    assert attributes["vectorshift.turn.outcome"] == "completed"
    assert attributes["gen_ai.conversation.id"] == session_id
    (answer,) = [e for e in continued.events if e.name == "vectorshift.approval_response"]
    assert (answer.attributes or {})["vectorshift.approval.approved"] is False


async def test_a_recovery_is_a_span_event_and_a_reconnect(recorded: Recorded) -> None:
    held = HeldAgent()
    with LocalEngine(db=":memory:", agents={"held": held}) as engine:
        async with new_session(engine, recorded, "agent-held", reconnect=FAST) as session:
            listener = session.listen()
            await session.send("hold on")
            async for event in listener:
                if event.is_complete:  # "working": the turn holds now
                    break
            assert engine.cut_connections() >= 1
            async for event in listener:
                if event.data.get("source") == "client" and event.data["status"] == "Connected":
                    break
            held.release.set()
            async for event in listener:
                if event.is_turn_end:
                    break
    (turn,) = recorded.spans("invoke_agent")
    names = [e.name for e in turn.events]
    assert names.index("vectorshift.connection.lost") < names.index(
        "vectorshift.connection.recovered"
    )
    assert (turn.attributes or {})["vectorshift.turn.outcome"] == "completed"
    (reconnects,) = recorded.points("vectorshift.session.reconnects")
    assert reconnects.value == 1
    assert reconnects.attributes["gen_ai.agent.id"] == "agent-held"


async def test_a_session_given_up_ends_its_turn_as_an_error(recorded: Recorded) -> None:
    held = HeldAgent()
    with LocalEngine(db=":memory:", agents={"held": held}) as engine:
        try:
            session = new_session(engine, recorded, "agent-held", reconnect=False)
            await session.connect()
            listener = session.listen()
            await session.send("hold on")
            async for event in listener:
                if event.is_complete:
                    break
            engine.cut_connections()
            with pytest.raises(SessionDisconnectedError, match="lost"):
                async for _ in listener:
                    pass
        finally:
            held.release.set()
    (turn,) = recorded.spans("invoke_agent")
    assert (turn.attributes or {})["vectorshift.turn.outcome"] == "detached"
    assert turn.status.status_code is StatusCode.ERROR
    assert (turn.attributes or {})["error.type"] == "SessionDisconnectedError"
    (exception,) = [e for e in turn.events if e.name == "exception"]
    # its type always; its message (an engine's refusal may quote content) only when asked for
    assert dict(exception.attributes or {}) == {"exception.type": "SessionDisconnectedError"}


async def test_a_listener_that_overflows_mid_turn_is_a_span_event_and_a_warning(
    recorded: Recorded, caplog: pytest.LogCaptureFixture
) -> None:
    chatter = ChatterAgent()
    with LocalEngine(db=":memory:", agents={"chatter": chatter}) as engine:
        try:
            async with new_session(engine, recorded, "agent-chatter") as session:
                slow = session.listen(maxsize=3, event_types=[ET.MESSAGE_DELTA])
                witness = session.listen(maxsize=0)
                await session.send("go")
                seen = 0
                async for event in witness:
                    seen += event.type == ET.MESSAGE_DELTA
                    if seen == 20:
                        break
                notice = await slow.__anext__()
                assert notice.error == "subscriber queue overflow"
                chatter.release.set()
                async for event in witness:
                    if event.is_turn_end:
                        break
                session_id = session.session_id
        finally:
            chatter.release.set()
    (turn,) = recorded.spans("invoke_agent")
    (overflow,) = [e for e in turn.events if e.name == "vectorshift.listener.overflow"]
    attributes = overflow.attributes or {}
    assert attributes["vectorshift.overflow.dropped_event_type"] == "message_delta"
    assert attributes["vectorshift.overflow.dropped_count"] == notice.data["dropped_count"]
    (warning,) = [r for r in caplog.records if r.name == "vectorshift_sessions.listener"]
    assert warning.levelno == logging.WARNING and getattr(warning, "session_id", None) == session_id


async def test_a_client_passes_its_providers_to_its_sessions(
    engine: LocalEngine, recorded: Recorded
) -> None:
    async with AsyncClient(
        base_url=engine.base_url, ws_url=engine.ws_url, **recorded.providers()
    ) as client:
        agent = await client.agents.fetch(name="echo")
        async with await agent.create_session() as session:
            assert (await session.ask("hello")).text == "hello"
        result = await agent.run("again")
    assert result.text == "again"
    turns = recorded.spans("invoke_agent")
    assert [s.name for s in turns] == [f"invoke_agent {ECHO}"] * 2
    assert all((s.attributes or {})["gen_ai.agent.name"] == "echo" for s in turns)
    (duration,) = recorded.points("gen_ai.client.operation.duration")
    assert duration.count == 2


async def test_nothing_records_and_nothing_is_watched_without_a_provider(
    engine: LocalEngine,
) -> None:
    # The global providers are opentelemetry-api's placeholders (the tests never set them).
    async with AsyncSession(owner_type="agent", owner_id=DEMO, ws_url=engine.ws_url) as session:
        core = session._core
        await session.send("book a meeting room")
        # The turn decided at its start that nothing records: its events go straight to the log.
        assert core._append == core.log.append and core._extend == core.log.extend
        async for event in session.listen():
            if event.type == ET.APPROVAL_REQUEST:
                await session.respond(event, approved=True)
            if event.is_turn_end:
                break
        assert session._core.telemetry is not None and not session._core.telemetry._turns
