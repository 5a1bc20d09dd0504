"""Celery task counts, failures, retries and durations by task name (issue 14); the request id
goes into the headers of any task sent while one is bound."""

from __future__ import annotations

import pytest

from shop.celery import app
from shop.observability import context
from shop.observability.celery import add_context_headers
from tests.metrics_helpers import Moves


@app.task(name="tests.observability.boom")
def boom() -> None:
    raise ValueError("boom")


@app.task(name="tests.observability.flaky", bind=True, max_retries=1, default_retry_delay=0)
def flaky(self) -> str:
    if not self.request.retries:
        raise self.retry(exc=ConnectionError("first try"))
    return "ok"


@pytest.mark.django_db
def test_a_task_run_is_counted_and_timed_by_name():
    moved = Moves()
    assert app.tasks["shop.ping"].apply().get() == "pong"
    assert moved("shop_celery_tasks_total", task="shop.ping", state="SUCCESS") == 1
    assert moved("shop_celery_task_duration_seconds_count", task="shop.ping") == 1


@pytest.fixture
def as_a_worker_would():
    """Eager tasks keep their errors, as a worker does, instead of raising them into the test."""
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = True


@pytest.mark.django_db
def test_a_failing_task_counts_a_failure(as_a_worker_would):
    moved = Moves()
    assert boom.apply().failed()
    assert moved("shop_celery_task_failures_total", task="tests.observability.boom") == 1
    assert moved("shop_celery_tasks_total", task="tests.observability.boom", state="FAILURE") == 1


@pytest.mark.django_db
def test_a_retry_is_counted(as_a_worker_would):
    moved = Moves()
    flaky.apply()  # eager mode runs the retry at once
    assert moved("shop_celery_tasks_total", task="tests.observability.flaky", state="SUCCESS") == 1
    assert moved("shop_celery_task_retries_total", task="tests.observability.flaky") == 1


def test_a_task_sent_while_a_request_id_is_bound_carries_it_in_its_headers():
    headers: dict = {}
    with context.bind(request_id="req-hdr", order_number="SO-AAAAA-BBBBB"):
        add_context_headers(headers=headers)
    assert headers == {"shop_request_id": "req-hdr", "shop_order_number": "SO-AAAAA-BBBBB"}
    untouched = {"shop_request_id": "req-original"}
    with context.bind(request_id="req-other"):
        add_context_headers(headers=untouched)
    assert untouched == {"shop_request_id": "req-original"}  # a retry keeps the id it was sent with
