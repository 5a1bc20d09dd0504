"""Liveness and readiness for the load balancer and the orchestrator.

/healthz does no I/O: the process answers, so it is alive. /readyz checks the primary
database, the cache and the broker, each with its latency, and reports each replica (ok,
lagging, down, with its lag) and the broker's queue depths; only the primary database being down
makes the instance unready (503). Redis, the broker and replicas are reported as degraded, because
the shop still takes orders without them (docs/architecture.md, Failure rules).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection
from kombu.exceptions import OperationalError as KombuOperationalError

from shop.observability import probes

OK, DEGRADED, DOWN, DISABLED = "ok", "degraded", "down", "disabled"


def _timed(check: Callable[[], str]) -> dict:
    started = time.perf_counter()
    status, error = check(), None
    if isinstance(status, tuple):
        status, error = status
    result = {"status": status, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
    if error:
        result["error"] = error
    return result


def _check_database():
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        connections["default"].close_if_unusable_or_obsolete()
        return DOWN, exc.__class__.__name__
    return OK


def _check_cache():
    # With django-redis errors are ignored by design, so a dead Redis shows as a lost write.
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    found = cache.get(key) == "1"
    cache.delete(key)
    return OK if found else (DEGRADED, "cache did not keep a value")


def _check_broker():
    if not settings.CELERY_BROKER_URL:
        return DISABLED
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=1) as conn:
            conn.ensure_connection(max_retries=1, timeout=1)
    except (KombuOperationalError, OSError) as exc:
        return DEGRADED, exc.__class__.__name__
    return OK


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": OK})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": _timed(_check_database),
        "cache": _timed(_check_cache),
        "broker": _timed(_check_broker),
    }
    replicas = {
        replica.alias: {"status": replica.status, "lag_seconds": replica.lag_seconds}
        for replica in probes.replica_statuses()
    }
    queues = _queue_depths() if checks["broker"]["status"] == OK else {}
    if checks["database"]["status"] == DOWN:
        overall, status_code = DOWN, 503
    elif any(check["status"] == DEGRADED for check in checks.values()) or any(
        replica["status"] != probes.OK for replica in replicas.values()
    ):
        overall, status_code = DEGRADED, 200
    else:
        overall, status_code = OK, 200
    body = {"status": overall, "checks": checks, "replicas": replicas, "queues": queues}
    return JsonResponse(body, status=status_code)


def _queue_depths() -> dict[str, int]:
    """Messages waiting per queue; {} when the broker does not answer in time (never an error)."""
    try:
        return probes.queue_depths()
    except Exception:  # a report, never a reason to fail readiness (timeouts, refusals, AMQP errors)
        return {}
