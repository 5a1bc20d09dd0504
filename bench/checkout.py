"""Checkout throughput: gunicorn + PostgreSQL + Redis + RabbitMQ + Celery workers, all on 127.0.0.1.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop_bench_checkout REDIS_URL=redis://127.0.0.1:6379/8 \\
    CELERY_BROKER_URL=amqp://guest:guest@127.0.0.1:5672/shop_bench \\
        .venv/bin/python bench/checkout.py [--orders 2000] [--clients 8] [--workers 2] [--allocators 2]

Migrates, loads 200 demo products (no images) and gives every product plenty of stock. One
product is "hot": every order wants it, so every allocation updates its stock row. Then it
creates one account per order with a filled cart (3 lines: the hot product and two others),
starts gunicorn and Celery workers (the inventory queue with `--allocators` processes, prefetch 1,
late acks; one worker for the e-mail and default queues), and measures:

- POST /api/v1/checkout (Idempotency-Key, JWT): orders placed/s and p50/p95/p99 of the request,
  `--clients` concurrent connections;
- allocation by the workers: lines allocated/s from the first to the last "allocated" event,
  and how long after the last order was placed the queue was drained.

Every loop is bounded in requests and in time; nothing but 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter

from harness import PYTHON, ROOT, bench_environment, gunicorn, manage, run_load

SETUP = """
import json
from datetime import timedelta
from django.db import transaction
from django.utils import timezone
from cart.models import Cart, CartAdd
from catalog.models import Product
from inventory.models import StockItem
from orders.models import Order
from rest_framework_simplejwt.tokens import AccessToken
from accounts.models import User
products = list(Product.objects.filter(is_active=True).order_by("pk").values_list("pk", "price")[:200])
hot = products[0]
StockItem.objects.filter(product_id__in=[p for p, _ in products]).update(available=10_000_000)
tokens = []
with transaction.atomic():
    prefix = "bench-checkout-RUN"
    users = User.objects.bulk_create([User(email=f"{prefix}-{i}@example.com", full_name=f"Bench {i}") for i in range(ORDERS)])
    carts = Cart.objects.bulk_create([Cart(user=u) for u in users])
    adds = []
    for i, cart in enumerate(carts):
        for product_id, price in (hot, products[1 + i % 199], products[1 + (i * 7 + 3) % 199]):
            adds.append(CartAdd(cart=cart, tag=__import__("uuid").uuid4(), product_id=product_id, quantity=1,
                                unit_price=price))
    CartAdd.objects.bulk_create(adds, batch_size=5000)
    tokens = [str(AccessToken.for_user(u)) for u in users]
print(json.dumps({"tokens": tokens, "hot": hot[0]}))
"""

REPORT = """
import json
from django.db.models import Count, Max, Min
from orders.models import Order, OrderEvent, OrderLine
orders = Order.objects.filter(email__startswith="bench-checkout-RUN")
states = dict(orders.values_list("state").annotate(n=Count("id")))
events = OrderEvent.objects.filter(order__in=orders, to_state="allocated")
span = events.aggregate(first=Min("created_at"), last=Max("created_at"))
placed = OrderEvent.objects.filter(order__in=orders, to_state="placed").aggregate(last=Max("created_at"))
lines = OrderLine.objects.filter(order__in=orders, order__state__in=["allocated", "authorized"]).count()
print(json.dumps({
    "states": states, "lines": lines,
    "allocation_seconds": (span["last"] - span["first"]).total_seconds() if span["first"] else None,
    "drained_after_last_placed": (span["last"] - placed["last"]).total_seconds() if span["last"] else None,
}))
"""

ADDRESS = {
    "full_name": "Bench Buyer",
    "line1": "1 Load Street",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}


def start_workers(env: dict, allocators: int) -> list[subprocess.Popen]:
    common = [PYTHON, "-m", "celery", "-A", "shop", "worker", "--without-mingle", "--without-gossip", "-l", "warning"]
    return [
        subprocess.Popen([*common, "-Q", "inventory", "--concurrency", str(allocators), "--prefetch-multiplier", "1",
                          "-n", f"inventory-{os.getpid()}@%h"], cwd=ROOT, env=env),
        subprocess.Popen([*common, "-Q", "email,default", "--concurrency", "1", "-n", f"email-{os.getpid()}@%h"],
                         cwd=ROOT, env=env),
    ]  # fmt: skip


class Checkout:
    """One client: checks out the next account's cart over its own keep-alive connection."""

    def __init__(self, port: int, tokens: list[str], statuses: Counter, lock: threading.Lock) -> None:
        self.port, self.tokens, self.statuses, self.lock = port, tokens, statuses, lock
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.body = json.dumps({"address": ADDRESS, "delivery_option": "standard", "payment_method": "tok_visa"})

    def __call__(self) -> bool:
        with self.lock:
            token = self.tokens.pop()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                   "Idempotency-Key": str(uuid.uuid4())}  # fmt: skip
        try:
            self.conn.request("POST", "/api/v1/checkout", body=self.body, headers=headers)
            response = self.conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            status = 0
        with self.lock:
            self.statuses[status] += 1
        return status == 201


def place_orders(port: int, tokens: list[str], clients: int, time_limit: float) -> dict:
    """Each of `clients` threads checks out the next account's cart (harness.run_load: one request
    per account, bounded in requests and in time)."""
    pending, statuses, lock = list(reversed(tokens)), Counter(), threading.Lock()
    senders = [Checkout(port, pending, statuses, lock) for _ in range(clients)]
    try:
        return {**run_load(senders, len(tokens), time_limit), "statuses": dict(statuses)}
    finally:
        for sender in senders:
            sender.conn.close()


def wait_until_settled(env: dict, run: str, expected: int, time_limit: float) -> dict:
    deadline = time.monotonic() + time_limit
    while True:
        report = json.loads(manage(env, "shell", "-c", REPORT.replace("RUN", run)).strip().splitlines()[-1])
        if report["states"].get("placed", 0) == 0 and sum(report["states"].values()) >= expected:
            return report
        if time.monotonic() > deadline:
            report["timed_out"] = True
            return report
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=2000, help="orders to place (one account and cart each)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent checkout connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--allocators", type=int, default=2, help="processes of the inventory-queue Celery worker")
    parser.add_argument("--time-limit", type=float, default=300, help="seconds per phase at most")
    args = parser.parse_args()
    if not (os.environ.get("DATABASE_URL", "").startswith("postgres") and os.environ.get("REDIS_URL")
            and os.environ.get("CELERY_BROKER_URL", "").startswith("amqp")):  # fmt: skip
        sys.exit("bench/checkout.py measures the production setup: set DATABASE_URL, REDIS_URL and CELERY_BROKER_URL")

    run = f"{int(time.time())}"
    env = bench_environment(
        MEDIA_ROOT=tempfile.mkdtemp(prefix="shop-bench-media-"), CACHE_KEY_PREFIX=f"benchcheckout{run}",
        EMAIL_URL="dummymail://",
    )  # fmt: skip
    print(f"database: {env['DATABASE_URL'].split('@')[-1]}, broker: {env['CELERY_BROKER_URL'].split('@')[-1]}")
    manage(env, "migrate", "--noinput", "-v0")
    print(manage(env, "load_demo_catalog", "--products", "200", "--no-images").strip())
    started = time.perf_counter()
    setup = json.loads(
        manage(env, "shell", "-c", SETUP.replace("ORDERS", str(args.orders)).replace("RUN", run))
        .strip()
        .splitlines()[-1]
    )
    print(
        f"{args.orders} accounts with a 3-line cart in {time.perf_counter() - started:.1f} s; hot product {setup['hot']}"
    )
    workers = start_workers(env, args.allocators)
    try:
        with gunicorn(env, workers=args.workers) as port:
            checkout = place_orders(port, setup["tokens"], args.clients, args.time_limit)
        settled = wait_until_settled(env, run, checkout["statuses"].get(201, 0), args.time_limit)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)

    print(
        f"\n{'POST /api/v1/checkout':<24} {'orders':>7} {'orders/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  statuses"
    )
    print(f"{'':<24} {checkout['requests']:>7} {checkout['rps']:>9.1f} {checkout['p50']:>8.1f} {checkout['p95']:>8.1f} "
          f"{checkout['p99']:>8.1f}  {checkout['statuses']}")  # fmt: skip
    seconds = settled["allocation_seconds"] or 0
    rate = settled["lines"] / seconds if seconds else 0
    print(f"\nallocation ({args.allocators} worker processes): orders by state {settled['states']}")
    print(f"  {settled['lines']} lines allocated in {seconds:.1f} s: {rate:.0f} lines/s "
          f"({rate / 3:.0f} orders/s, every order takes the hot product)")  # fmt: skip
    print(
        f"  queue drained {settled['drained_after_last_placed']:.1f} s after the last order was placed"
        + ("  (TIMED OUT)" if settled.get("timed_out") else "")
    )


if __name__ == "__main__":
    main()
