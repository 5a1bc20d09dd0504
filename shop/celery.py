"""The Celery app: queues default, email, inventory, payments, payment_results and images; JSON only;
routing by task name.

Every task that moves an order, money or an e-mail (the inventory, payments, payment_results and
email queues, and every orders.* / payments.* task) is acknowledged late and requeued when its
worker dies, so a killed worker never loses a step of an order; run those worker groups with
prefetch 1 (`celery -A shop worker -Q inventory --prefetch-multiplier=1`, as docker-compose.yml does).
docs/pipeline.md describes the queues and how to size their workers.
"""

from __future__ import annotations

import os
from fnmatch import fnmatch

from celery import Celery, Task, signals
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

LATE_ACK_QUEUES = frozenset({"inventory", "payments", "payment_results", "email"})
LATE_ACK_PREFIXES = ("orders.", "payments.")
DEAD_LETTER_UNRECORDED_RETRY = 60  # s: a failure that could not be written down is tried again after this
# Database blips (a restart, a failover) are waited out, never lost: 1, 2, 4 ... 60 s, 10 times.
DATABASE_ERRORS = (OperationalError, InterfaceError)


def retrying(*errors: type[BaseException], max_retries: int = 10, **options) -> dict:
    """Task options that retry `errors` and database errors with exponential backoff and jitter."""
    return {"autoretry_for": (*errors, *DATABASE_ERRORS), "retry_backoff": True, "retry_backoff_max": 60,
            "retry_jitter": True, "max_retries": max_retries, **options}  # fmt: skip


class DeadLetteringTask(Task):
    """Every shop task: one that fails for good (past its retries, or on an error it does not
    retry) is recorded as a shop.DeadLetter that staff can retry from admin."""

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        from shop.deadletters import record  # local import: the models load after the Celery app

        letter = record(task_name=self.name, task_id=task_id, args=args, kwargs=kwargs, exc=exc, traceback=str(einfo))
        if letter is None and not self.request.is_eager:
            # The dead letter could not be written (the database is down too): never drop the
            # step; send the task again for later, whatever retries it used (its message is
            # acknowledged as it fails). Not self.retry(): past the task's max_retries, where a long
            # outage leads, that raises instead of sending (max_retries=None means the task's own).
            self.signature_from_request(self.request, args, kwargs, countdown=DEAD_LETTER_UNRECORDED_RETRY,
                                        retries=self.request.retries + 1).apply_async()  # fmt: skip


app = Celery("shop", task_cls=DeadLetteringTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's Django fixup closes every database connection before and after each task unless
# CELERY_DB_REUSE_MAX is set: a new PostgreSQL connection per task (2-3 ms, most of the cost of an
# "order.placed" message whose order a batch already decided). Workers keep their connections as
# web workers do: reuse_connections() below drops one that broke (an error, a failover) or is
# older than CONN_MAX_AGE, after every task.
app.conf.update(CELERY_DB_REUSE_MAX=2**31)


@signals.task_prerun.connect(weak=False)
@signals.task_postrun.connect(weak=False)
def reuse_connections(task=None, **kwargs) -> None:
    """Around each task a worker runs (never an eager one: it is inside the caller's transaction),
    close the connections that are unusable or past CONN_MAX_AGE, like Django around a request
    (and skip the health check of one a task used moments ago: shop.postgresql)."""
    if task is not None and not getattr(task.request, "is_eager", False):
        close_old_connections()


def queue_for_task(name: str) -> str:
    """The queue a task is routed to by CELERY_TASK_ROUTES (first matching pattern wins)."""
    for pattern, route in settings.CELERY_TASK_ROUTES.items():
        if fnmatch(name, pattern):
            return route["queue"]
    return settings.CELERY_TASK_DEFAULT_QUEUE


def acks_late(name: str) -> bool:
    """Whether the task is acknowledged only once it ran, and requeued when its worker dies."""
    return queue_for_task(name) in LATE_ACK_QUEUES or name.startswith(LATE_ACK_PREFIXES)


class LateAckAnnotation:
    """Late acknowledgement and requeue-on-worker-loss for every task that moves an order or money."""

    def annotate(self, task) -> dict | None:
        if acks_late(task.name):
            return {"acks_late": True, "reject_on_worker_lost": True}
        return None


app.conf.task_annotations = (LateAckAnnotation(),)
app.autodiscover_tasks()


@app.task(name="shop.ping")
def ping() -> str:
    """A no-op round trip used by tests and operators to prove a worker consumes its queue."""
    return "pong"
