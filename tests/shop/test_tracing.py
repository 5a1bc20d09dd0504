"""Trace context helpers of the outbox and of batches (issue 14)."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shop.observability import tracing


def test_a_batch_span_links_to_the_trace_of_every_order_it_decides():
    exporter, provider = InMemorySpanExporter(), TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    carriers = []
    for name in ("checkout-1", "checkout-2"):
        with tracer.start_as_current_span(name):
            carriers.append(tracing.inject())
    with tracing.batch_span("allocate batch", [*carriers, {}], tracer_provider=provider):
        pass
    finished = {span.name: span for span in exporter.get_finished_spans()}
    batch = finished["allocate batch"]
    assert {link.context.trace_id for link in batch.links} == {
        finished["checkout-1"].context.trace_id, finished["checkout-2"].context.trace_id,
    }  # fmt: skip
    assert batch.context.trace_id not in {link.context.trace_id for link in batch.links}


def test_outside_any_span_inject_stores_nothing_and_attached_does_nothing():
    assert tracing.inject() == {}
    with tracing.attached({}):
        assert tracing.inject() == {}
