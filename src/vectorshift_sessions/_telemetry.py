"""OpenTelemetry traces and metrics for sessions: the one module that knows OpenTelemetry.

Nothing here imports ``opentelemetry`` until a session starts a turn, and nothing records
unless the application configured a provider: the ``tracer_provider`` / ``meter_provider``
given to the session (or to the client that opened it), else OpenTelemetry's global ones.
This package never sets a global provider. ``docs/telemetry.md`` describes what is recorded.

How it stays free when nothing records: each turn decides at its start (``begin``, called as
the post goes out) whether its span records (``Span.is_recording()``) or a meter provider
that records is configured (one that is not opentelemetry-api's own no-op or placeholder). If
neither, nothing is kept and the session's core is left alone. If so, the core is asked to
show this module every event it publishes until no turn is open (``SessionCore.observe``),
and the hot path is exactly as fast as without this module otherwise.

Traces (GenAI semantic conventions):

- a span per turn, ``invoke_agent {owner id}`` (kind CLIENT), from the post to the turn's end
  (``Idle`` after ``Processing``), to a failed post, or to the session detaching while the
  turn runs (``disconnect()``, or the connection given up); an approval answer
  (``respond``) with no turn span open on this session starts one, ``vectorshift.turn.continued``;
- a child span per tool call, ``execute_tool {tool name}`` (kind INTERNAL), from ``TOOL_CALL``
  to the ``TOOL_RESULT`` with the same ``tool_id`` (a call still open ends with its turn);
- span events for approval and re-authorization requests, approval answers, the connection
  lost and recovered, listeners' overflow notices and the agent's or engine's errors.

Metrics: ``gen_ai.client.operation.duration`` (s), ``vectorshift.turn.time_to_first_delta``
(s), ``vectorshift.turn.deltas`` ({delta}), and the counter ``vectorshift.session.reconnects``
({reconnect}), with low-cardinality attributes only (the agent's id, never the session's).

Message content (what the user sent, the answer's text, tools' results, error messages) is
left out unless ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``, the GenAI
instrumentations' convention, read at the start of each turn.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from . import _codec as codec
from . import _logs
from ._types import ParticipantStatus, SessionEvent, SessionEventType

if TYPE_CHECKING:
    from ._core import SessionCore

__all__ = ["CAPTURE_CONTENT_ENV", "SessionTelemetry", "available"]

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
INSTRUMENTATION = "vectorshift_sessions"
PROVIDER_NAME = "vectorshift"

ET = SessionEventType
_STATUS = ET.PARTICIPANT_STATUS
_PROCESSING = ParticipantStatus.PROCESSING.value
_IDLE = ParticipantStatus.IDLE.value
_OFFLINE = ParticipantStatus.OFFLINE.value
_CONNECTED = ParticipantStatus.CONNECTED.value
#: Tool statuses that say a tool failed.
_TOOL_FAILED = frozenset({"error", "failed", "failure"})

COMPLETED = "completed"
ERROR = "error"
DETACHED = "detached"

#: The GenAI conventions' advice for ``gen_ai.client.operation.duration`` (seconds).
_SECONDS_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                    40.96, 81.92)  # fmt: skip
_DELTA_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576)


# --- opentelemetry-api, imported once, at the first turn --------------------------------------

# What this package uses of opentelemetry-api, as protocols: it is optional, so the package's
# types must not depend on it being installed; its providers, tracers, spans, meters and
# instruments (the API's and the SDK's) fit them. Values this package only passes back to the
# API (a span kind, a status, a context) are Any.


class Span(Protocol):
    def is_recording(self) -> bool: ...
    def set_attribute(self, key: str, value: Any, /) -> None: ...
    def set_attributes(self, attributes: Mapping[str, Any], /) -> None: ...
    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None, /) -> None: ...
    def set_status(self, status: Any, description: str | None = None, /) -> None: ...
    def record_exception(self, exception: BaseException, /) -> None: ...
    def end(self) -> None: ...


class Tracer(Protocol):
    def start_span(
        self,
        name: str,
        context: Any = None,
        kind: Any = ...,
        attributes: Mapping[str, Any] | None = None,
    ) -> Span: ...


class TracerProvider(Protocol):
    def get_tracer(self, name: str, version: str | None = None, /) -> Tracer: ...


class Histogram(Protocol):
    def record(self, amount: float, attributes: Mapping[str, Any] | None = None, /) -> None: ...


class Counter(Protocol):
    def add(self, amount: float, attributes: Mapping[str, Any] | None = None, /) -> None: ...


class Meter(Protocol):
    def create_histogram(
        self,
        name: str,
        unit: str = "",
        description: str = "",
        *,
        explicit_bucket_boundaries_advisory: Sequence[float] | None = None,
    ) -> Histogram: ...
    def create_counter(self, name: str, unit: str = "", description: str = "") -> Counter: ...


class MeterProvider(Protocol):
    def get_meter(self, name: str, version: str | None = None, /) -> Meter: ...


class _TraceApi(Protocol):
    def get_tracer_provider(self) -> TracerProvider: ...
    def set_span_in_context(self, span: Span, /) -> Any: ...


class _MetricsApi(Protocol):
    def get_meter_provider(self) -> MeterProvider: ...


class _Api:
    """opentelemetry-api's modules (importing it costs some 30 ms: paid at the first turn)."""

    def __init__(self) -> None:
        # By name: typed by the protocols above, whether opentelemetry-api is installed or not.
        trace: Any = importlib.import_module("opentelemetry.trace")
        metrics: Any = importlib.import_module("opentelemetry.metrics")
        self.trace: _TraceApi = trace
        self.metrics: _MetricsApi = metrics
        self.client: Any = trace.SpanKind.CLIENT
        self.internal: Any = trace.SpanKind.INTERNAL
        self.ok: Any = trace.Status(trace.StatusCode.OK)
        self.error_code: Any = trace.StatusCode.ERROR


_api: _Api | None = None
_api_missing = False


def _load() -> _Api | None:
    """opentelemetry-api, or None when it is not installed (asked once per process)."""
    global _api, _api_missing
    if _api is None and not _api_missing:
        try:
            _api = _Api()
        except ImportError:
            _api_missing = True
    return _api


def available() -> bool:
    """Whether opentelemetry-api can be imported (imports it)."""
    return _load() is not None


class _Instruments:
    """The instruments, made once per meter provider."""

    __slots__ = ("deltas", "duration", "first_delta", "reconnects")

    def __init__(self, meter: Meter):
        self.duration: Histogram = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="How long a turn took, from its post to its end",
            explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS,
        )
        self.first_delta: Histogram = meter.create_histogram(
            "vectorshift.turn.time_to_first_delta",
            unit="s",
            description="From a turn's post to its first streamed delta",
            explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS,
        )
        self.deltas: Histogram = meter.create_histogram(
            "vectorshift.turn.deltas",
            unit="{delta}",
            description="Streamed deltas (MESSAGE_DELTA events) per turn",
            explicit_bucket_boundaries_advisory=_DELTA_BUCKETS,
        )
        self.reconnects: Counter = meter.create_counter(
            "vectorshift.session.reconnects",
            unit="{reconnect}",
            description="Dropped connections a session recovered from",
        )


# Per provider, so thousands of sessions share one tracer and one set of instruments. Weak:
# a provider the application drops is not kept alive here.
_tracers: weakref.WeakKeyDictionary[Any, Tracer] = weakref.WeakKeyDictionary()
_instruments: weakref.WeakKeyDictionary[Any, _Instruments | None] = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def _version() -> str:
    from . import __version__

    return __version__


_P = TypeVar("_P")
_T = TypeVar("_T")


def _per_provider(
    cache: weakref.WeakKeyDictionary[Any, _T], provider: _P, make: Callable[[_P], _T]
) -> _T:
    """``cache[provider]``, made by ``make(provider)`` the first time (a provider that cannot
    be weakly referred to is asked again each time)."""
    with _cache_lock:
        try:
            return cache[provider]
        except (KeyError, TypeError):
            pass
        made = make(provider)
        try:
            cache[provider] = made
        except TypeError:
            pass
        return made


def _tracer(provider: TracerProvider) -> Tracer:
    tracer: Tracer = _per_provider(
        _tracers, provider, lambda p: p.get_tracer(INSTRUMENTATION, _version())
    )
    return tracer


def _records(provider: MeterProvider) -> bool:
    """Whether a meter provider records anything: opentelemetry-api's own (its no-op, and the
    placeholder the global stands for until the application sets one) never do."""
    return not type(provider).__module__.startswith("opentelemetry.metrics")


def _instruments_of(provider: MeterProvider) -> _Instruments | None:
    instruments: _Instruments | None = _per_provider(
        _instruments,
        provider,
        lambda p: _Instruments(p.get_meter(INSTRUMENTATION, _version())) if _records(p) else None,
    )
    return instruments


def _capture_content() -> bool:
    return os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() in ("true", "1")


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # a circular structure, say
        return json.dumps(str(value))


def _input_part(content: Any) -> dict[str, Any]:
    """One posted item as a GenAI message part (files by name and type, never their bytes)."""
    if isinstance(content, str):
        return {"type": "text", "content": content}
    if isinstance(content, dict):
        content = cast("dict[str, Any]", content)
        kind, value = content.get("type_string"), content.get("value")
        if kind == "file" and isinstance(value, dict):
            meta: dict[str, Any] = cast("dict[str, Any]", value).get("metadata") or {}
            return {"type": "file", "name": meta.get("name"), "mime_type": meta.get("mime_type")}
        if isinstance(value, str):
            return {"type": "text", "content": value, "mime_type": kind}
    return {"type": "unknown"}


# --- one turn ---------------------------------------------------------------------------------


class _Turn:
    """A turn being recorded: its span (recording or not), its tools' spans, its counts."""

    __slots__ = (
        "capture",
        "continued",
        "deltas",
        "done",
        "error_text",
        "error_type",
        "first_delta",
        "instruments",
        "metric_attributes",
        "processing",
        "received",
        "sent",
        "span",
        "started",
        "text",
        "tools",
    )

    def __init__(
        self,
        span: Span,
        instruments: _Instruments | None,
        metric_attributes: dict[str, str],
        sent: int,
        capture: bool,
        continued: bool,
    ):
        self.span = span
        self.instruments = instruments
        self.metric_attributes = metric_attributes
        self.sent = sent
        self.capture = capture
        self.continued = continued
        self.started = time.monotonic()
        self.first_delta: float | None = None
        self.deltas = 0
        self.received: set[str] = set()  # the agent's messages in the turn, by id
        self.tools: dict[str, Span] = {}  # open tool calls, by tool id
        self.processing = False  # the engine said Processing: what follows is this turn's
        self.error_type: str | None = None
        self.error_text: str | None = None  # the agent's error message, kept only to capture it
        self.text: str | None = None  # the last complete message, kept only to capture it
        self.done = False


class SessionTelemetry:
    """One session's instrumentation: the hooks its code calls (``begin``, ``fail``,
    ``reconnected``, ``detached``) and, while a turn records, the observer of every event its
    core publishes (``event``, ``deltas``). Thread-safe: sends, the reader, the heartbeat and
    ``disconnect()`` may call it from different threads."""

    __slots__ = (
        "_core",
        "_lock",
        "_meter_provider",
        "_tracer_provider",
        "_turns",
        "owner_id",
        "owner_type",
    )

    def __init__(
        self,
        core: SessionCore,
        owner_type: str,
        owner_id: str,
        tracer_provider: TracerProvider | None,
        meter_provider: MeterProvider | None,
    ):
        self._core = core
        self.owner_type = owner_type
        self.owner_id = owner_id
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._lock = threading.Lock()
        self._turns: list[_Turn] = []  # open turns, oldest first (the engine runs them in order)

    # --- hooks the session calls --------------------------------------------------------------

    def begin(
        self, frame: codec.PostMessage | codec.PostMessages, owner_name: str | None = None
    ) -> _Turn | None:
        """A post is about to go out: a new turn (or an approval answer). The turn it records,
        or None when nothing records (then nothing else happens for it)."""
        try:
            return self._begin(frame, owner_name)
        except Exception:
            _logs.log(_logs.TELEMETRY, 30, self._core.session_id, "tracing failed", exc_info=True)
            return None

    def _begin(
        self, frame: codec.PostMessage | codec.PostMessages, owner_name: str | None
    ) -> _Turn | None:
        api = _load()
        if api is None:
            return None
        answer = getattr(frame, "parent_message_id", None) is not None  # an approval answer
        with self._lock:
            if answer and self._turns:  # the turn it answers is recorded already
                _approval_answer(self._turns[0].span, frame)
                return None
        instruments = self._instruments(api)
        tracer_provider = self._tracer_provider or api.trace.get_tracer_provider()
        session_id = self._core.session_id or ""
        attributes = self._attributes()
        metric_attributes = dict(attributes)
        attributes["gen_ai.conversation.id"] = session_id
        if owner_name:
            attributes["gen_ai.agent.name"] = owner_name
        if answer:
            attributes["vectorshift.turn.continued"] = True
        name = f"invoke_agent {self.owner_id}" if self.owner_id else "invoke_agent"
        span = _tracer(tracer_provider).start_span(name, kind=api.client, attributes=attributes)
        if not span.is_recording() and instruments is None:
            return None  # nothing records: the events are left alone
        capture = _capture_content()
        sent = len(frame.messages) if isinstance(frame, codec.PostMessages) else 1
        turn = _Turn(span, instruments, metric_attributes, sent, capture, answer)
        if answer:
            _approval_answer(span, frame)
        elif capture and span.is_recording():
            items = frame.messages if isinstance(frame, codec.PostMessages) else [frame.content]
            messages = [{"role": "user", "parts": [_input_part(item) for item in items]}]
            span.set_attribute("gen_ai.input.messages", _json(messages))
        with self._lock:
            self._turns.append(turn)
            self._core.observe(self)
        return turn

    def fail(self, turn: _Turn, error: BaseException) -> None:
        """The turn's post failed (refused, timed out, cut off): the turn ends in an error."""
        with self._lock:
            if not turn.done:
                _record_error(turn, error)
                self._finish(turn, ERROR, type(error).__name__, str(error))

    def reconnected(self) -> None:
        """The session recovered from a dropped connection (counted, turn or not)."""
        api = _load()
        if api is None:
            return
        try:
            instruments = self._instruments(api)
            if instruments is not None:
                instruments.reconnects.add(1, self._attributes())
        except Exception:
            _logs.log(_logs.TELEMETRY, 30, self._core.session_id, "metrics failed", exc_info=True)

    def detached(self, error: BaseException | None) -> None:
        """The session disconnected (``error``: the connection was given up): open turns end."""
        if not self._turns:
            return
        with self._lock:
            for turn in list(self._turns):
                if error is not None:
                    _record_error(turn, error)
                    self._finish(turn, DETACHED, type(error).__name__, str(error))
                else:
                    self._finish(turn, DETACHED, None, None)

    def overflowed(self, dropped_type: SessionEventType, count: int) -> None:
        """A listener lost ``count`` events (its overflow notice)."""
        with self._lock:  # nothing here can raise
            if self._turns:
                self._turns[0].span.add_event(
                    "vectorshift.listener.overflow",
                    {
                        "vectorshift.overflow.dropped_event_type": dropped_type.value,
                        "vectorshift.overflow.dropped_count": count,
                    },
                )

    # --- the observer: every event the core publishes while a turn records -------------------

    def deltas(self, events: list[SessionEvent]) -> None:
        """A batch of deltas (the hot path while recording: no look at each one)."""
        with self._lock:
            if self._turns:
                turn = self._turns[0]
                if turn.processing:
                    turn.deltas += len(events)
                    if turn.first_delta is None and events:
                        turn.first_delta = time.monotonic()

    def event(self, event: SessionEvent) -> None:
        try:
            with self._lock:
                if self._turns:
                    self._event(self._turns[0], event)
        except Exception:
            _logs.log(_logs.TELEMETRY, 30, self._core.session_id, "tracing failed", exc_info=True)

    def _event(self, turn: _Turn, event: SessionEvent) -> None:
        kind, data, span = event.type, event.data, turn.span
        if kind is _STATUS:
            status = data.get("status")
            if data.get("source") == "client":  # the session's own connection
                if status == _OFFLINE:
                    reason = _logs.scrub(str(data.get("reason")))[:300]
                    span.add_event("vectorshift.connection.lost", {"vectorshift.reason": reason})
                elif status == _CONNECTED:
                    backfilled = data.get("backfilled")
                    span.add_event(
                        "vectorshift.connection.recovered",
                        {"vectorshift.backfilled": backfilled if type(backfilled) is int else 0},
                    )
            elif status == _PROCESSING:
                turn.processing = True
            elif status == _IDLE and turn.processing:
                outcome = ERROR if turn.error_type else COMPLETED
                self._finish(turn, outcome, turn.error_type, turn.error_text)
            return
        if not turn.processing:
            return  # an earlier turn's, still running (or this post's acknowledgement)
        if event.message_id is not None and kind is not ET.MESSAGE_DELTA:
            turn.received.add(event.message_id)
        if kind is ET.MESSAGE_DELTA:
            turn.deltas += 1
            if turn.first_delta is None:
                turn.first_delta = time.monotonic()
        elif kind is ET.MESSAGE_COMPLETE:
            if turn.capture:
                turn.text = event.text
        elif kind is ET.TOOL_CALL:
            self._tool_call(turn, data)
        elif kind is ET.TOOL_RESULT:
            self._tool_result(turn, data)
        elif kind is ET.APPROVAL_REQUEST:
            span.add_event("vectorshift.approval_request", _tool_attributes(data, event))
        elif kind is ET.REAUTH_REQUEST:
            attributes = {"vectorshift.message.id": event.message_id or ""}
            provider = data.get("provider")
            if isinstance(provider, str):
                attributes["vectorshift.reauth.provider"] = provider
            span.add_event("vectorshift.reauth_request", attributes)
        elif kind is ET.ERROR:
            by_agent = event.message_id is not None  # a message of the turn (else the engine's)
            error_type = "agent_error" if by_agent else "engine_error"
            attributes = {"error.type": error_type}
            if turn.capture:
                attributes["vectorshift.error.message"] = str(event.error)
            if by_agent:
                turn.error_type = error_type
                turn.error_text = attributes.get("vectorshift.error.message")
            span.add_event("vectorshift.error", attributes)

    def _tool_call(self, turn: _Turn, data: dict[str, Any]) -> None:
        tool_id = data.get("tool_id")
        key = tool_id if isinstance(tool_id, str) else ""
        if key in turn.tools or not turn.span.is_recording():
            return  # the same call again (a status update)
        turn.tools[key] = self._tool_span(turn, data)

    def _tool_result(self, turn: _Turn, data: dict[str, Any]) -> None:
        if not turn.span.is_recording():
            return
        tool_id = data.get("tool_id")
        span = turn.tools.pop(tool_id if isinstance(tool_id, str) else "", None)
        if span is None:  # no call seen for it: an instant span still shows the tool ran
            span = self._tool_span(turn, data)
        if turn.capture and "output" in data:
            span.set_attribute("gen_ai.tool.call.result", _json(data["output"]))
        status = data.get("status")
        if isinstance(status, str) and status.lower() in _TOOL_FAILED:
            span.set_attribute("error.type", "tool_error")
            span.set_status(_api_or_fail().error_code, f"the tool's status: {status}")
        span.end()

    def _tool_span(self, turn: _Turn, data: dict[str, Any]) -> Span:
        api = _api_or_fail()
        name = data.get("tool_name")
        tool_name = name if isinstance(name, str) else ""
        tool_id = data.get("tool_id")
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool_name,
        }
        if isinstance(tool_id, str):
            attributes["gen_ai.tool.call.id"] = tool_id
        tracer = _tracer(self._tracer_provider or api.trace.get_tracer_provider())
        return tracer.start_span(
            f"execute_tool {tool_name}".rstrip(),
            context=api.trace.set_span_in_context(turn.span),
            kind=api.internal,
            attributes=attributes,
        )

    # --- the end of a turn ------------------------------------------------------------------

    def _finish(
        self, turn: _Turn, outcome: str, error_type: str | None, description: str | None
    ) -> None:
        """End the turn (under the lock): its open tools, its span, its metrics."""
        api = _api_or_fail()
        turn.done = True
        span = turn.span
        for tool in turn.tools.values():
            tool.set_attribute("vectorshift.tool.ended_with_turn", True)
            tool.end()
        turn.tools.clear()
        if span.is_recording():
            span.set_attributes(
                {
                    "vectorshift.turn.outcome": outcome,
                    "vectorshift.turn.messages.sent": turn.sent,
                    "vectorshift.turn.messages.received": len(turn.received),
                    "vectorshift.turn.deltas": turn.deltas,
                }
            )
            if turn.text is not None and turn.capture:
                output = [
                    {
                        "role": "assistant",
                        "parts": [{"type": "text", "content": turn.text}],
                        "finish_reason": outcome,
                    }
                ]
                span.set_attribute("gen_ai.output.messages", _json(output))
            if error_type is not None:
                span.set_attribute("error.type", error_type)
                if outcome != DETACHED or description is not None:
                    shown = description if description and turn.capture else error_type
                    span.set_status(api.error_code, shown)
            elif outcome == COMPLETED:
                span.set_status(api.ok)
        span.end()
        instruments = turn.instruments
        if instruments is not None:
            attributes = {**turn.metric_attributes, "vectorshift.turn.outcome": outcome}
            if error_type is not None:
                attributes["error.type"] = error_type
            instruments.duration.record(time.monotonic() - turn.started, attributes)
            instruments.deltas.record(turn.deltas, attributes)
            if turn.first_delta is not None:
                instruments.first_delta.record(turn.first_delta - turn.started, attributes)
        if turn in self._turns:
            self._turns.remove(turn)
        if not self._turns:
            self._core.observe(None)  # no turn records: the core publishes unobserved again

    # --- helpers ----------------------------------------------------------------------------

    def _attributes(self) -> dict[str, Any]:
        """What every span and metric of this session carries (low cardinality)."""
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.provider.name": PROVIDER_NAME,
        }
        if self.owner_id:
            attributes["gen_ai.agent.id"] = self.owner_id
        if self.owner_type:
            attributes["vectorshift.owner.type"] = self.owner_type
        return attributes

    def _instruments(self, api: _Api) -> _Instruments | None:
        return _instruments_of(self._meter_provider or api.metrics.get_meter_provider())


def _api_or_fail() -> _Api:
    api = _load()
    assert api is not None  # a turn records only once the api was imported
    return api


def _tool_attributes(data: dict[str, Any], event: SessionEvent) -> dict[str, Any]:
    attributes: dict[str, Any] = {"vectorshift.message.id": event.message_id or ""}
    name, tool_id = data.get("tool_name"), data.get("tool_id")
    if isinstance(name, str):
        attributes["gen_ai.tool.name"] = name
    if isinstance(tool_id, str):
        attributes["gen_ai.tool.call.id"] = tool_id
    return attributes


def _approval_answer(span: Span, frame: codec.PostMessage | codec.PostMessages) -> None:
    """An approval answer, as a span event: approved or not (the reason is content)."""
    content = getattr(frame, "content", None)
    value = cast("dict[str, Any]", content).get("value") if isinstance(content, dict) else None
    answer = (
        cast("dict[str, Any]", value).get("tool_call_approval") if isinstance(value, dict) else None
    )
    approved = isinstance(answer, dict) and "confirm" in answer
    span.add_event(
        "vectorshift.approval_response",
        {
            "vectorshift.approval.approved": approved,
            "vectorshift.message.parent_id": getattr(frame, "parent_message_id", None) or "",
        },
    )


def _record_error(turn: _Turn, error: BaseException) -> None:
    """The exception on the turn's span: its message only with content capture (an engine's
    refusal may quote what was sent), its type always."""
    if turn.capture:
        turn.span.record_exception(error)
    else:
        turn.span.add_event("exception", {"exception.type": type(error).__qualname__})
