"""The chaos drill (issue 20, "Done when"): a storm of checkouts while random Celery pool processes
are killed (as an OOM kill or a deploy would), on a real worker on RabbitMQ and the real PostgreSQL.
Afterwards every order reaches a final state within a bounded time, and stock, ledger and order
lines agree: late acks with requeue on a lost worker, idempotent consumers and the sweep."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection

from orders.exceptions import NotEnoughStock
from orders.models import Order
from orders.services import place_order, redrive_stuck_orders
from orders.states import OrderState
from shop import outbox
from shop.celery import app
from tests.accounts.factories import UserFactory
from tests.cart.factories import stocked_product
from tests.celery_helpers import real_broker
from tests.orders.conftest import checkout_input, fill_cart
from tests.orders.test_allocation_concurrency import assert_books_balance, drain

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
CHECKOUTS = 200
THREADS = 8
KILL_EVERY = 0.3  # s
KILL_FOR = 12  # s: the drill kills for this long from the first checkout
SETTLE_WITHIN = 90  # s: every order final by then
MOVING = {OrderState.PLACED, OrderState.ALLOCATED}


def pool_children(pid: int) -> list[int]:
    """The worker's live pool processes (its direct children that are not zombies yet), from /proc."""
    try:
        children = [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return [child for child in children if _alive(child)]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def start_worker(broker_url: str) -> subprocess.Popen:
    database = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "DATABASE_REPLICA_URLS": "",
        "CELERY_BROKER_URL": broker_url,
        "ORDERS_ALLOCATION_BATCH": "20",  # many batches, so kills land in the middle of some
        "PYTHONPATH": str(ROOT),
        "LOG_LEVEL": "ERROR",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "shop", "worker", "-Q", "inventory,payments,payment_results,email,default",
         "--pool=prefork", "--concurrency=3", "--prefetch-multiplier=1", "--without-mingle", "--without-gossip",
         "-l", "error"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def wait_for_pool(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(pool_children(pid)) < 3:
        assert time.monotonic() < deadline, "the worker's pool never came up"
        time.sleep(0.1)


def test_a_storm_of_checkouts_while_pool_processes_are_killed_leaves_every_order_final(broker_url, settings):
    settings.ORDERS_REDRIVE_AFTER_SECONDS = 5
    rng = random.Random(20261204)
    products = [stocked_product(title=f"Scarce {i}", available=rng.randint(10, 30)) for i in range(10)]
    initial = {p.pk: p.stock.available for p in products}
    customers = [UserFactory() for _ in range(CHECKOUTS)]
    for customer in customers:
        fill_cart(user=customer, lines={p: rng.randint(1, 2) for p in rng.sample(products, rng.randint(1, 3))})

    with real_broker(broker_url):
        app.control.purge()
        worker = start_worker(broker_url)
        stop_killing = threading.Event()
        kills = []

        def killer() -> None:
            until = time.monotonic() + KILL_FOR
            while not stop_killing.wait(KILL_EVERY) and time.monotonic() < until:
                children = pool_children(worker.pid)
                if children:
                    victim = rng.choice(children)
                    try:
                        os.kill(victim, signal.SIGKILL)
                        kills.append(victim)
                    except ProcessLookupError:
                        pass

        chaos = threading.Thread(target=killer)
        timings = {}
        try:
            wait_for_pool(worker.pid)
            started = time.monotonic()
            chaos.start()
            refused = []

            def checkout(index: int) -> None:
                try:
                    place_order(checkout=checkout_input(), customer=customers[index])
                except NotEnoughStock:  # plainly sold out at checkout: a 409 for that customer
                    refused.append(index)

            drain(list(range(CHECKOUTS)), checkout, threads=THREADS)
            chaos.join()  # the killing goes on while the workers catch up
            timings["storm"] = time.monotonic() - started

            deadline = time.monotonic() + SETTLE_WITHIN
            while Order.objects.filter(state__in=MOVING).exists() and time.monotonic() < deadline:
                outbox.relay()  # what beat runs: the relay and the sweep
                redrive_stuck_orders()
                time.sleep(1)
            timings["settled"] = time.monotonic() - started
        finally:
            stop_killing.set()
            if chaos.is_alive():
                chaos.join()
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
            app.control.purge()

    states = Counter(Order.objects.values_list("state", flat=True))
    print(f"chaos drill: {len(set(kills))} pool processes killed, {timings}, {dict(states)}")
    assert len(set(kills)) >= 5, f"the drill killed only {len(set(kills))} pool processes"
    assert sum(states.values()) + len(refused) == CHECKOUTS
    assert sum(states.values()) >= CHECKOUTS // 2
    assert not MOVING & set(states), f"orders left moving after {SETTLE_WITHIN} s: {states}"
    assert set(states) <= {OrderState.AUTHORIZED, OrderState.REJECTED}, states
    assert_books_balance(initial)
