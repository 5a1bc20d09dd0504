"""The shop's Prometheus metrics and GET /metrics.

Counters and histograms are prometheus_client objects, updated where the event happens. With
PROMETHEUS_MULTIPROC_DIR set (gunicorn's workers, Celery's prefork children) prometheus_client
keeps them in files of that directory, and /metrics (or a worker's metrics port) adds up every
process's files; without it they live in this process.

Gauges that describe shared state (outbox, dead letters, queues, replicas, breakers, the
catalog cache) are read when scraped, by *probes*: shop registers its own, and apps register
theirs in a `metrics.py` module (found like `tasks.py`, see ShopConfig.ready), so shop never
imports an app. Each probe runs with a deadline; a probe that fails or is late is left out of
that scrape (shop_scrape_probe_ok says which), so a slow broker never fails a scrape.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from django.conf import settings
from django.db import close_old_connections
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
PROBE_DEADLINE_SECONDS = 1.5  # a whole scrape's probes; Prometheus's own scrape timeout is 10 s

# --- HTTP, database, cache ------------------------------------------------------------------
http_request_duration = Histogram(
    "shop_http_request_duration_seconds", "Time to answer a request, by view (URL name), method and status.",
    ["view", "method", "status"], buckets=LATENCY_BUCKETS,
)  # fmt: skip
db_query_duration = Histogram(
    "shop_db_query_duration_seconds", "Time of one database statement, by connection alias.", ["alias"],
    buckets=FAST_BUCKETS,
)  # fmt: skip
db_errors = Counter("shop_db_errors_total", "Database statements that raised, by alias and error.", ["alias", "error"])
cache_operation_duration = Histogram(
    "shop_cache_operation_duration_seconds", "Time of one cache call, by operation.", ["operation"],
    buckets=FAST_BUCKETS,
)  # fmt: skip

# --- Celery ---------------------------------------------------------------------------------
celery_tasks = Counter("shop_celery_tasks_total", "Tasks run, by task name and final state.", ["task", "state"])
celery_task_failures = Counter("shop_celery_task_failures_total", "Task runs that raised, by task name.", ["task"])
celery_task_retries = Counter("shop_celery_task_retries_total", "Task retries scheduled, by task name.", ["task"])
celery_task_duration = Histogram(
    "shop_celery_task_duration_seconds", "Time a task ran, by task name.", ["task"], buckets=(*LATENCY_BUCKETS, 30.0, 60.0)
)  # fmt: skip


# --- Scrape-time probes ---------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    """One value of a gauge: the probe's metric name is given at registration."""

    value: float
    labels: dict[str, str] | None = None


@dataclass(frozen=True)
class Probe:
    name: str  # the metric family it reports
    documentation: str
    labelnames: tuple[str, ...]
    read: Callable[[], Iterable[Sample]]
    kind: str = "gauge"  # or "counter" (a total kept elsewhere, such as the catalog cache's hits)
    inline: bool = False  # run in the scraping thread (reads of the primary, with their own timeout)


_probes: dict[str, Probe] = {}


def register_probe(
    name: str, documentation: str, read: Callable[[], Iterable[Sample]], *, labelnames: Iterable[str] = (),
    kind: str = "gauge", inline: bool = False,
) -> None:  # fmt: skip
    """Report `name` at every scrape with the samples `read()` returns. `read` must be cheap and
    bounded (short timeouts). It runs in a worker thread, abandoned at the scrape's deadline,
    unless `inline` (a read of the primary database, which bounds itself with a statement timeout)."""
    _probes[name] = Probe(name, documentation, tuple(labelnames), read, kind, inline)


def registered_probes() -> dict[str, Probe]:
    return dict(_probes)


def _run_probe(probe: Probe) -> list[Sample]:
    try:
        return list(probe.read())
    finally:
        close_old_connections()  # the thread's own database connections


_this_scrape: dict[str, object] = {}


def once_per_scrape(key: str, read: Callable[[], object]):
    """What `read()` returned earlier in this scrape, or its value now: two gauges of one read
    (the outbox's count and age) cost one query."""
    if key not in _this_scrape:
        _this_scrape[key] = read()
    return _this_scrape[key]


_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="metrics-probe")
_in_flight: dict[str, Future] = {}


def _submit(probe: Probe) -> Future:
    """Run the probe in the pool, unless its previous run is still stuck (a broker that accepts
    connections and never answers): then that run's future, which this scrape will not wait for."""
    running = _in_flight.get(probe.name)
    if running is not None and not running.done():
        return running
    future = _in_flight[probe.name] = _executor.submit(_run_probe, probe)
    return future


class ProbeCollector(Collector):
    """Runs every probe in parallel at scrape time; one that fails or misses the deadline is
    reported as shop_scrape_probe_ok{probe}=0 and otherwise left out."""

    def collect(self):
        _this_scrape.clear()
        probes = list(_probes.values())
        deadline = time.monotonic() + PROBE_DEADLINE_SECONDS
        futures = {probe.name: _submit(probe) for probe in probes if not probe.inline}
        ok = GaugeMetricFamily("shop_scrape_probe_ok", "1 if the probe answered within the scrape's deadline.",
                               labels=["probe"])  # fmt: skip
        for probe in probes:
            name = probe.name
            try:
                if probe.inline:
                    samples = list(probe.read())
                else:
                    samples = futures[name].result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                logger.warning("metrics probe %s missed the scrape deadline", name)
                ok.add_metric([name], 0)
                continue
            except Exception as exc:  # a probe's failure is a missing series, never a failed scrape
                logger.warning("metrics probe %s failed: %s: %s", name, exc.__class__.__name__, exc)
                ok.add_metric([name], 0)
                continue
            ok.add_metric([name], 1)
            yield _family(probe, samples)
        yield ok


def _family(probe: Probe, samples: list[Sample]):
    from prometheus_client.core import CounterMetricFamily

    family_class = CounterMetricFamily if probe.kind == "counter" else GaugeMetricFamily
    name = probe.name.removesuffix("_total") if probe.kind == "counter" else probe.name
    family = family_class(name, probe.documentation, labels=list(probe.labelnames))
    for sample in samples:
        family.add_metric([(sample.labels or {}).get(label, "") for label in probe.labelnames], sample.value)
    return family


_probe_registry = CollectorRegistry(auto_describe=False)
_probe_registry.register(ProbeCollector())


def render() -> bytes:
    """The exposition text: this process's (or, in multi-process mode, every process's) metrics,
    then the probes'."""
    return process_metrics() + generate_latest(_probe_registry)


def process_metrics() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


# --- GET /metrics ---------------------------------------------------------------------------
def metrics_allowed(request: HttpRequest) -> bool:
    """With METRICS_TOKEN set, only `Authorization: Bearer <token>`; without one, only loopback
    clients and only with DEBUG on (the embedded default). An address is no proof behind a proxy
    on the same host, so production needs the token."""
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    if not settings.DEBUG:
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format; 404 (as if it did not exist) to anyone metrics_allowed refuses."""
    if not metrics_allowed(request):
        raise Http404()
    return HttpResponse(render(), content_type=CONTENT_TYPE_LATEST)
