"""OpenTelemetry's providers where the public surface takes them: checked only where
opentelemetry-api and its SDK are installed (``nox -s typecheck`` checks this file before it
uninstalls them; the package's own types never need them)."""

from __future__ import annotations

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from vectorshift_sessions import AsyncClient, AsyncSession, Client, Session


def providers() -> None:
    tracer_provider, meter_provider = TracerProvider(), MeterProvider()
    AsyncSession(session_id="id", tracer_provider=tracer_provider, meter_provider=meter_provider)
    Session(session_id="id", tracer_provider=tracer_provider, meter_provider=meter_provider)
    AsyncClient(tracer_provider=trace.get_tracer_provider())
    Client(meter_provider=metrics.get_meter_provider())
    Client(tracer_provider=trace.NoOpTracerProvider(), meter_provider=metrics.NoOpMeterProvider())
