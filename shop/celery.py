"""The Celery app: queues default, email, inventory and images; JSON only; routing by task name.

Tasks on the inventory queue are acknowledged late and requeued when their worker dies, so a
killed allocation worker never loses an order; run that worker group with prefetch 1
(`celery -A shop worker -Q inventory --prefetch-multiplier=1`, as docker-compose.yml does).
"""

from __future__ import annotations

import os
from fnmatch import fnmatch

from celery import Celery, Task
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")


class DeadLetteringTask(Task):
    """Every shop task: one that fails for good (past its retries, or on an error it does not
    retry) is recorded as a shop.DeadLetter that staff can retry from admin."""

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        from shop.deadletters import record  # local import: the models load after the Celery app

        record(task_name=self.name, task_id=task_id, args=args, kwargs=kwargs, exc=exc, traceback=str(einfo))


app = Celery("shop", task_cls=DeadLetteringTask)
app.config_from_object("django.conf:settings", namespace="CELERY")


def queue_for_task(name: str) -> str:
    """The queue a task is routed to by CELERY_TASK_ROUTES (first matching pattern wins)."""
    for pattern, route in settings.CELERY_TASK_ROUTES.items():
        if fnmatch(name, pattern):
            return route["queue"]
    return settings.CELERY_TASK_DEFAULT_QUEUE


class InventoryQueueAnnotation:
    """Late acknowledgement and requeue-on-worker-loss for every task routed to `inventory`."""

    def annotate(self, task) -> dict | None:
        if queue_for_task(task.name) == "inventory":
            return {"acks_late": True, "reject_on_worker_lost": True}
        return None


app.conf.task_annotations = (InventoryQueueAnnotation(),)
app.autodiscover_tasks()


@app.task(name="shop.ping")
def ping() -> str:
    """A no-op round trip used by tests and operators to prove a worker consumes its queue."""
    return "pong"
