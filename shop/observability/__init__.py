"""Observability: metrics (Prometheus), JSON logs with one request id, traces (OpenTelemetry).

- context:    the request id, user and order number of what this thread or task is doing now
- middleware: the request id of each request, its latency histogram and its access-log line
- logs:       the logging filter and formatters (plain for `make run`, JSON with LOG_FORMAT=json)
- metrics:    the shop-wide metrics, the scrape-time probes apps register, the /metrics view
- probes:     cheap, time-boxed reads of the outbox, dead letters, queues and replicas
- celery:     task metrics, request id and order number from task headers, worker metrics port
- tracing:    OpenTelemetry, switched on by OTEL_EXPORTER_OTLP_ENDPOINT
- cache:      the Redis cache backend with operation timings

docs/observability.md explains what is measured and what each alert means.
"""
