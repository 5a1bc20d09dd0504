"""Fixtures for observability tests: JSON log lines as LOG_FORMAT=json writes them, and an
in-memory span exporter behind the shop's OpenTelemetry instrumentation."""

from __future__ import annotations

import io
import json
import logging

import pytest

from shop.observability import tracing
from shop.observability.logs import ContextFilter, json_formatter


@pytest.fixture
def json_lines():
    """A callable returning every log line written meanwhile (any thread), parsed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def spans():
    """Django, psycopg, Redis and Celery instrumented into an in-memory exporter; a callable
    returning the finished spans. Instrumentation is removed afterwards."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.instrument(tracer_provider=provider)
    yield exporter.get_finished_spans
    tracing.uninstrument()
    provider.shutdown()
