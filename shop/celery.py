"""The Celery app: queues default, email, inventory and images; JSON only; routing by task name.

Tasks on the inventory queue are acknowledged late and requeued when their worker dies, so a
killed allocation worker never loses an order; run that worker group with prefetch 1
(`celery -A shop worker -Q inventory --prefetch-multiplier=1`, as docker-compose.yml does).
"""

from __future__ import annotations

import os
from fnmatch import fnmatch

from celery import Celery
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

app = Celery("shop")
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
