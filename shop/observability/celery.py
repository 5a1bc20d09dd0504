"""Celery's side: the request id and order number travel in task headers; tasks are counted.

- before_task_publish: a task sent while a request id (or order number) is bound carries it in
  the headers `shop_request_id` / `shop_order_number`: sent from a request, from a task, or by
  the outbox (which binds the values stored with each message while it sends it).
- task_prerun / task_postrun: the worker binds them for the task's log lines (and the tasks it
  sends in turn), and observes the task's duration and final state.
- task_failure / task_retry: shop_celery_task_failures_total, shop_celery_task_retries_total.
- setup_logging: the worker logs with settings.LOGGING (JSON lines with LOG_FORMAT=json) instead
  of Celery's own format.
- worker_init: with CELERY_METRICS_PORT set, the worker's main process serves /metrics for all
  its pool processes (PROMETHEUS_MULTIPROC_DIR) on CELERY_METRICS_ADDR (default 127.0.0.1).
"""

from __future__ import annotations

import logging.config
import os
import time
from contextvars import Token

from celery import signals
from django.conf import settings

from shop.observability import context
from shop.observability.metrics import celery_task_duration, celery_task_failures, celery_task_retries, celery_tasks

REQUEST_ID_HEADER = "shop_request_id"
ORDER_NUMBER_HEADER = "shop_order_number"

_running: dict[str, tuple[float, list[tuple[object, Token]]]] = {}


@signals.before_task_publish.connect(weak=False)
def add_context_headers(headers: dict | None = None, **kwargs) -> None:
    if headers is None:
        return
    request_id, order_number = context.current_request_id(), context.current_order_number()
    if request_id and not headers.get(REQUEST_ID_HEADER):
        headers[REQUEST_ID_HEADER] = request_id
    if order_number and not headers.get(ORDER_NUMBER_HEADER):
        headers[ORDER_NUMBER_HEADER] = order_number


def _header(request, name: str) -> str | None:
    value = getattr(request, name, None) or (getattr(request, "headers", None) or {}).get(name)
    return value if isinstance(value, str) and value else None


@signals.task_prerun.connect(weak=False)
def bind_task_context(task_id: str | None = None, task=None, **kwargs) -> None:
    tokens = []
    request_id = _header(task.request, REQUEST_ID_HEADER)
    order_number = _header(task.request, ORDER_NUMBER_HEADER)
    if request_id:
        tokens.append((context.request_id_var, context.request_id_var.set(context.accept_request_id(request_id))))
    if order_number:
        tokens.append((context.order_number_var, context.order_number_var.set(order_number[:100])))
    _running[task_id] = (time.perf_counter(), tokens)


@signals.task_postrun.connect(weak=False)
def unbind_task_context(task_id: str | None = None, task=None, state: str | None = None, **kwargs) -> None:
    started, tokens = _running.pop(task_id, (None, []))
    if started is not None:
        celery_task_duration.labels(task.name).observe(time.perf_counter() - started)
    celery_tasks.labels(task.name, state or "UNKNOWN").inc()
    for var, token in reversed(tokens):
        try:
            var.reset(token)
        except ValueError:  # set in another context (eager task run inside a request): leave it
            continue


@signals.task_failure.connect(weak=False)
def count_failure(sender=None, **kwargs) -> None:
    celery_task_failures.labels(getattr(sender, "name", "unknown")).inc()


@signals.task_retry.connect(weak=False)
def count_retry(sender=None, **kwargs) -> None:
    celery_task_retries.labels(getattr(sender, "name", "unknown")).inc()


@signals.setup_logging.connect(weak=False)
def use_django_logging(**kwargs) -> None:
    logging.config.dictConfig(settings.LOGGING)


@signals.worker_init.connect(weak=False)
def serve_worker_metrics(**kwargs) -> None:
    port = os.environ.get("CELERY_METRICS_PORT")
    if not port:
        return
    from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    start_http_server(int(port), addr=os.environ.get("CELERY_METRICS_ADDR", "127.0.0.1"), registry=registry)


@signals.worker_process_shutdown.connect(weak=False)
def forget_pool_process(pid: int | None = None, **kwargs) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
