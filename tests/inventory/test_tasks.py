"""The feed task: a door onto apply_stock_updates, safe to run twice, retrying only busy lines."""

import contextlib
import json

import pytest
from celery.exceptions import Retry

from inventory import services
from inventory.exceptions import StockBusy
from inventory.models import StockItem, StockMovement
from inventory.tasks import apply_stock_updates_task
from shop.celery import queue_for_task
from tests.inventory.factories import StockItemFactory

pytestmark = pytest.mark.django_db


def test_the_task_runs_on_the_inventory_queue():
    assert apply_stock_updates_task.name == "inventory.apply_stock_updates"
    assert queue_for_task(apply_stock_updates_task.name) == "inventory"


def test_the_task_run_twice_applies_once():
    item = StockItemFactory(available=10)
    updates = [{"update_id": "u1", "product_id": item.product_id, "quantity": 3}]
    json.dumps(updates)  # the arguments travel as JSON

    first = apply_stock_updates_task.delay(source="apikey:abc", updates=updates).get()
    second = apply_stock_updates_task.delay(source="apikey:abc", updates=updates).get()

    assert (first, second) == ({"applied": 1}, {"already_applied": 1})
    assert StockItem.objects.get(pk=item.pk).available == 3
    assert StockMovement.objects.count() == 1


def test_busy_lines_are_retried_alone(monkeypatch):
    # given: the first attempt finds line u2's row busy
    item = StockItemFactory(available=10)
    other = StockItemFactory(available=10)
    real_set_level = services.set_level
    calls = []

    def set_level_busy_once(**kwargs):
        calls.append(kwargs["cause"])
        if kwargs["product_id"] == other.product_id and calls.count(kwargs["cause"]) == 1:
            raise StockBusy()
        return real_set_level(**kwargs)

    monkeypatch.setattr(services, "set_level", set_level_busy_once)
    updates = [
        {"update_id": "u1", "product_id": item.product_id, "quantity": 3},
        {"update_id": "u2", "product_id": other.product_id, "quantity": 4},
    ]

    # when: run as a worker runs it (eager tests otherwise propagate celery's Retry to the caller)
    result = apply_stock_updates_task.apply(kwargs={"source": "apikey:abc", "updates": updates}, throw=False)

    # then: u1 once, u2 twice (busy, then applied by the retry)
    assert calls == ["feed:apikey:abc:u1", "feed:apikey:abc:u2", "feed:apikey:abc:u2"]
    assert result.get() == {"applied": 1}  # the retry's own result: the busy line alone
    assert StockItem.objects.get(pk=item.pk).available == 3
    assert StockItem.objects.get(pk=other.pk).available == 4
    assert StockMovement.objects.count() == 2


def test_a_busy_retry_leaves_the_database_error_budget_of_the_process_at_ten(monkeypatch):
    """Celery keeps a retry(max_retries=...) on the task object: the busy lines' limit of 5 must
    not become every later database-error retry's limit in the same worker process."""
    from django.db import OperationalError

    from inventory import tasks

    test_busy_lines_are_retried_alone(monkeypatch)  # one busy retry in this process
    attempts = []

    def database_down(**kwargs):
        attempts.append(1)
        raise OperationalError("the server closed the connection")

    monkeypatch.setattr(services, "apply_stock_updates", database_down)
    updates = [{"update_id": "u9", "product_id": 1, "quantity": 1}]
    # the 7th delivery: within a budget of 10 it is retried, a budget of 5 would fail it at once
    # (eagerly the retry runs inside this attempt, and its failure comes out of it)
    assert tasks.DATABASE_MAX_RETRIES == 10
    with contextlib.suppress(OperationalError, Retry):
        apply_stock_updates_task.apply(kwargs={"source": "apikey:abc", "updates": updates}, retries=6, throw=False)
    assert len(attempts) > 1


def test_lines_still_busy_after_five_retries_fail_the_task(monkeypatch):
    def always_busy(**kwargs):
        raise StockBusy()

    monkeypatch.setattr(services, "set_level", always_busy)
    item = StockItemFactory(available=10)
    updates = [{"update_id": "u1", "product_id": item.product_id, "quantity": 3}]
    result = apply_stock_updates_task.apply(kwargs={"source": "apikey:abc", "updates": updates}, retries=5, throw=False)
    assert result.failed() and isinstance(result.result, apply_stock_updates_task.MaxRetriesExceededError)
    assert StockItem.objects.get(pk=item.pk).available == 10
