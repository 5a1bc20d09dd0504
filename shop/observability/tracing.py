"""OpenTelemetry traces: Django, psycopg, Redis and Celery, exported over OTLP/HTTP.

Switched on by OTEL_EXPORTER_OTLP_ENDPOINT (the SDK reads it and the other OTEL_* variables,
such as OTEL_SERVICE_NAME); without it nothing is instrumented and nothing is exported, so it
costs nothing. The outbox stores the trace context of the change that wrote a message
(`inject()`), and sends the message inside it (`attached()`), so the task's span continues the
checkout's trace even when the relay sends it minutes later from beat.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

logger = logging.getLogger(__name__)

_instrumented = False


def enabled() -> bool:
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def configure() -> bool:
    """Set up the exporting tracer provider and the instrumentations when an endpoint is set.
    Called once per process (ShopConfig.ready); returns whether tracing is on."""
    if not enabled():
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "shop")}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    instrument()
    return True


def instrument(tracer_provider=None) -> None:
    """Instrument Django (a span per request), psycopg (per statement), Redis and Celery
    (publish and run, the context carried in the task headers), with the global tracer provider
    or the one given (tests: an in-memory exporter). Idempotent."""
    global _instrumented
    if _instrumented:
        return
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    DjangoInstrumentor().instrument(tracer_provider=tracer_provider)
    PsycopgInstrumentor().instrument(tracer_provider=tracer_provider, skip_dep_check=True)
    RedisInstrumentor().instrument(tracer_provider=tracer_provider)
    CeleryInstrumentor().instrument(tracer_provider=tracer_provider)
    _instrumented = True


def uninstrument() -> None:
    """Undo instrument() (tests)."""
    global _instrumented
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    for instrumentor in (CeleryInstrumentor(), RedisInstrumentor(), PsycopgInstrumentor(), DjangoInstrumentor()):
        instrumentor.uninstrument()
    _instrumented = False


def inject() -> dict:
    """The current trace context as headers (traceparent ...); {} when no span is recording."""
    if not trace.get_current_span().get_span_context().is_valid:
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextmanager
def attached(carrier: dict | None) -> Iterator[None]:
    """Run the block inside the trace context `inject()` stored (nothing to do when empty)."""
    if not carrier:
        yield
        return
    token = otel_context.attach(propagate.extract(carrier))
    try:
        yield
    finally:
        otel_context.detach(token)


def batch_span(name: str, carriers: list[dict], *, tracer_provider=None):
    """A span for work that decides many orders at once (a batch allocation), linked to the trace
    of each order it decides (`carriers`: the trace contexts stored with their outbox messages).
    Used as a context manager; a no-op span when tracing is off."""
    links = []
    for carrier in carriers:
        span_context = trace.get_current_span(propagate.extract(carrier or {})).get_span_context()
        if span_context.is_valid:
            links.append(trace.Link(span_context))
    return trace.get_tracer("shop", tracer_provider=tracer_provider).start_as_current_span(name, links=links)
