"""The feed task: a door onto apply_stock_updates, safe to run twice, retrying only busy lines."""

import json

import pytest

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
