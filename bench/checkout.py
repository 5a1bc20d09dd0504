"""The order pipeline end to end: gunicorn + PostgreSQL + Redis + RabbitMQ + Celery workers, all on 127.0.0.1.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop_bench_checkout REDIS_URL=redis://127.0.0.1:6379/8 \\
    CELERY_BROKER_URL=amqp://guest:guest@127.0.0.1:5672/shop_bench \\
        .venv/bin/python bench/checkout.py [--mode live|flash|drain] [--orders N] [--clients 8] [--workers 2]

Migrates, loads 200 demo products (no images). One product is "hot": every order wants it.
Worker groups: the inventory queue (`--allocators` processes, prefetch 1), payments, payment_results
and default (`--payments` processes, 2) and email (one process), as docs/pipeline.md sizes them.

- live (default): `--orders` accounts with a 3-line cart (the hot product and two others) check
  out over POST /api/v1/checkout from `--clients` connections while the workers run.
- flash: a flash sale. The hot product has `--units` units (10,000) and `--orders` buyers (20,000)
  each want one: exactly `--units` must be sold, every other buyer told "sold out" (409 at
  checkout, or the order rejected), nothing oversold, nothing stuck.
- drain: allocation speed on its own. `--orders` placed orders (3 lines, the hot product in each;
  written in bulk, with their "order.placed" messages published) wait with the inventory consumer
  stopped; then it starts and the time until no order is left placed is measured. `--drain-only`
  stops there (no payments, nothing settled: for comparing two versions of the allocator quickly).

Every mode then waits until no order is left in a state the pipeline moves by itself (placed,
allocated: every order authorized, rejected, payment_failed or cancelled) and reports orders/s
placed with p50/p95/p99 of the request, lines/s allocated (first to last decision), the
placed-to-authorized latency p50/p95/p99, the largest backlog of placed orders (sampled every
0.2 s) and the hot product's units sold against its stock; live and flash also print the CPU
each process group used per order placed, during the load and until settled (what limits the
rate on one machine: bench/harness.py CPU_GROUPS). Every loop is bounded in requests and
in time; nothing but 127.0.0.1 is contacted.
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

import psycopg
from harness import (
    PYTHON,
    ROOT,
    bench_environment,
    cpu_seconds_by_group,
    gunicorn,
    manage,
    percentile,
    print_cpu_split,
    run_load,
)

SETUP = """
import json, uuid
from django.db import transaction
from cart.models import Cart, CartAdd
from catalog.models import Product
from inventory.models import StockItem
from rest_framework_simplejwt.tokens import AccessToken
from accounts.models import User
MODE, ORDERS, UNITS = "MODE_", ORDERS_, UNITS_
products = list(Product.objects.filter(is_active=True).order_by("pk").values_list("pk", "price")[:200])
hot = products[0]
StockItem.objects.filter(product_id__in=[p for p, _ in products]).update(available=10_000_000)
if MODE == "flash":
    StockItem.objects.filter(product_id=hot[0]).update(available=UNITS)
tokens = []
if MODE != "drain":
    with transaction.atomic():
        prefix = "bench-checkout-RUN"
        users = User.objects.bulk_create([User(email=f"{prefix}-{i}@example.com", full_name=f"Bench {i}") for i in range(ORDERS)])
        carts = Cart.objects.bulk_create([Cart(user=u) for u in users])
        adds = []
        for i, cart in enumerate(carts):
            basket = (hot,) if MODE == "flash" else (hot, products[1 + i % 199], products[1 + (i * 7 + 3) % 199])
            for product_id, price in basket:
                adds.append(CartAdd(cart=cart, tag=uuid.uuid4(), product_id=product_id, quantity=1, unit_price=price))
        CartAdd.objects.bulk_create(adds, batch_size=5000)
        tokens = [str(AccessToken.for_user(u)) for u in users]
print(json.dumps({"tokens": tokens, "hot": hot[0], "level": StockItem.objects.get(product_id=hot[0]).available}))
"""

# Drain mode: orders written in bulk as place_order leaves them (placed, lines, an "order.placed"
# outbox row each), then their messages handed to the broker with the inventory consumer stopped.
PLACE_IN_BULK = """
import json
from decimal import Decimal
from django.db import transaction
from catalog.models import Product
from orders.models import Order, OrderLine, new_order_number
from orders.services import _allocation_request  # the message place_order writes, in one place
from shop import outbox
from shop.models import OutboxMessage
ORDERS = ORDERS_
products = list(Product.objects.filter(is_active=True).order_by("pk").values_list("pk", "price", "title", "sku")[:200])
hot = products[0]
ids = []
for start in range(0, ORDERS, 2000):
    with transaction.atomic():
        orders = Order.objects.bulk_create([
            Order(number=new_order_number(), email=f"bench-checkout-RUN-{i}@example.com", full_name="Bench Buyer",
                  line1="1 Load Street", city="Berlin", postal_code="10115", country="DE", delivery_option="standard",
                  payment_method="tok_visa", subtotal=Decimal("10.00"), total=Decimal("10.00"))
            for i in range(start, min(ORDERS, start + 2000))
        ])
        lines = []
        for i, order in enumerate(orders, start=start):
            second, third = 1 + i % 199, 1 + (i * 7 + 3) % 199
            third = third if third != second else 1 + second % 199  # one line per product
            for p in (hot, products[second], products[third]):
                lines.append(OrderLine(order=order, product_id=p[0], title=p[2], sku=p[3], unit_price=p[1],
                                       quantity=1, subtotal=p[1]))
        OrderLine.objects.bulk_create(lines)
        messages = [_allocation_request(o) for o in orders]
        rows = OutboxMessage.objects.bulk_create([OutboxMessage(topic=m.topic, key=m.key, payload=m.payload) for m in messages])
    ids.extend(row.pk for row in rows)
for start in range(0, len(ids), 1000):
    outbox.dispatch(message_ids=ids[start:start + 1000])
print(json.dumps({"placed": len(ids)}))
"""

MOVING = ("placed", "allocated")  # states the pipeline still moves by itself
TOOK_STOCK = ("allocated", "authorized", "payment_failed", "shipped", "delivered")
ADDRESS = {"full_name": "Bench Buyer", "line1": "1 Load Street", "city": "Berlin", "postal_code": "10115",
           "country": "DE"}  # fmt: skip


def start_worker(env: dict, queues: str, concurrency: int, name: str, prefetch: int = 1) -> subprocess.Popen:
    return subprocess.Popen(
        [PYTHON, "-m", "celery", "-A", "shop", "worker", "--without-mingle", "--without-gossip", "-l", "warning",
         "-Q", queues, "--concurrency", str(concurrency), "--prefetch-multiplier", str(prefetch),
         "-n", f"{name}-{os.getpid()}@%h"],
        cwd=ROOT, env=env,
    )  # fmt: skip


def start_payments_and_email(env: dict, payments: int) -> list[subprocess.Popen]:
    """The worker groups beside the allocator: payments (with their results and the default
    queue) and e-mail."""
    return [start_worker(env, "payments,payment_results,default", payments, "payments"), start_worker(env, "email", 1, "email")]


def stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()


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
        return status in (201, 409)  # 409: sold out at checkout (flash sale), an answer too


def place_orders(port: int, tokens: list[str], clients: int, time_limit: float) -> dict:
    pending, statuses, lock = list(reversed(tokens)), Counter(), threading.Lock()
    senders = [Checkout(port, pending, statuses, lock) for _ in range(clients)]
    try:
        return {**run_load(senders, len(tokens), time_limit), "statuses": dict(statuses)}
    finally:
        for sender in senders:
            sender.conn.close()


class Backlog(threading.Thread):
    """Samples the number of placed orders of this run every 0.2 s; keeps the largest."""

    def __init__(self, dsn: str, run: str) -> None:
        super().__init__(daemon=True)
        self.dsn, self.pattern, self.largest, self.stopped = dsn, f"bench-checkout-{run}-%", 0, threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stopped.wait(0.2):
                count = conn.execute("SELECT count(*) FROM orders_order WHERE state = 'placed' AND email LIKE %s",
                                     [self.pattern]).fetchone()[0]  # fmt: skip
                self.largest = max(self.largest, count)


def states(conn, run: str) -> dict[str, int]:
    rows = conn.execute("SELECT state, count(*) FROM orders_order WHERE email LIKE %s GROUP BY state",
                        [f"bench-checkout-{run}-%"]).fetchall()  # fmt: skip
    return dict(rows)


def wait_until_settled(conn, run: str, time_limit: float) -> tuple[dict, float, bool]:
    started = time.monotonic()
    while True:
        current = states(conn, run)
        if not any(current.get(state) for state in MOVING):
            return current, time.monotonic() - started, False
        if time.monotonic() - started > time_limit:
            return current, time.monotonic() - started, True
        time.sleep(0.5)


def report(conn, run: str, hot: int, level: int) -> dict:
    pattern = f"bench-checkout-{run}-%"
    decided = conn.execute(
        "SELECT min(e.created_at), max(e.created_at), count(DISTINCT e.order_id) FROM orders_orderevent e "
        "JOIN orders_order o ON o.id = e.order_id WHERE o.email LIKE %s AND e.to_state IN ('allocated', 'rejected')",
        [pattern],
    ).fetchone()
    lines = conn.execute(
        "SELECT count(*) FROM orders_orderline l JOIN orders_order o ON o.id = l.order_id WHERE o.email LIKE %s "
        "AND EXISTS (SELECT 1 FROM orders_orderevent e WHERE e.order_id = o.id AND e.to_state = 'allocated')",
        [pattern],
    ).fetchone()[0]
    latencies = [row[0] for row in conn.execute(
        "SELECT extract(epoch FROM e.created_at - o.created_at) FROM orders_orderevent e "
        "JOIN orders_order o ON o.id = e.order_id WHERE o.email LIKE %s AND e.to_state = 'authorized'", [pattern],
    ).fetchall()]  # fmt: skip
    sold = conn.execute(
        "SELECT coalesce(sum(l.quantity), 0) FROM orders_orderline l JOIN orders_order o ON o.id = l.order_id "
        "WHERE o.email LIKE %s AND l.product_id = %s AND o.state = ANY(%s)", [pattern, hot, list(TOOK_STOCK)],
    ).fetchone()[0]  # fmt: skip
    now = conn.execute("SELECT available FROM inventory_stockitem WHERE product_id = %s", [hot]).fetchone()[0]
    seconds = (decided[1] - decided[0]).total_seconds() if decided[0] else 0.0
    return {
        "decided_orders": decided[2], "allocated_lines": lines, "decision_seconds": seconds,
        "lines_per_second": lines / seconds if seconds else 0.0,
        "authorized_latency": [percentile([float(x) for x in latencies], q) for q in (50, 95, 99)],
        "hot_sold": sold, "hot_stock": level, "hot_left": now, "oversold": max(0, sold - level),
        "books_agree": level - sold == now,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("live", "flash", "drain"), default="live")
    parser.add_argument("--orders", type=int, help="orders or buyers (live 2,000; flash 20,000; drain 20,000)")
    parser.add_argument("--units", type=int, default=10_000, help="flash: units of the hot product")
    parser.add_argument("--clients", type=int, default=8, help="concurrent checkout connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--allocators", type=int, default=1, help="processes of the inventory-queue Celery worker")
    parser.add_argument("--allocator-prefetch", type=int, default=1, help="the inventory worker's --prefetch-multiplier")
    parser.add_argument("--payments", type=int, default=2, help="processes of the payments, payment_results and default worker")
    parser.add_argument("--time-limit", type=float, default=600, help="seconds per phase at most")
    parser.add_argument("--drain-only", action="store_true",
                        help="drain: stop once the backlog is decided (no payments, no settling; for quick comparisons)")
    args = parser.parse_args()
    orders = args.orders or (2000 if args.mode == "live" else 20_000)
    if not (os.environ.get("DATABASE_URL", "").startswith("postgres") and os.environ.get("REDIS_URL")
            and os.environ.get("CELERY_BROKER_URL", "").startswith("amqp")):  # fmt: skip
        sys.exit("bench/checkout.py measures the production setup: set DATABASE_URL, REDIS_URL and CELERY_BROKER_URL")

    run = f"{int(time.time())}"
    env = bench_environment(MEDIA_ROOT=tempfile.mkdtemp(prefix="shop-bench-media-"), CACHE_KEY_PREFIX=f"benchcheckout{run}",
                            EMAIL_URL="dummymail://")  # fmt: skip
    dsn = env["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    print(f"mode {args.mode}, {orders} orders; database: {dsn.split('@')[-1]}, broker: {env['CELERY_BROKER_URL'].split('@')[-1]}")
    manage(env, "migrate", "--noinput", "-v0")
    print(manage(env, "load_demo_catalog", "--products", "200", "--no-images").strip())
    manage(env, "shell", "-c", "from shop.celery import app; app.control.purge()")
    script = SETUP.replace("MODE_", args.mode).replace("ORDERS_", str(orders)).replace("UNITS_", str(args.units))
    setup = json.loads(manage(env, "shell", "-c", script.replace("RUN", run)).strip().splitlines()[-1])
    level = setup["level"]
    others = start_payments_and_email(env, args.payments)
    inventory: list[subprocess.Popen] = []
    backlog = Backlog(dsn, run)
    checkout = None
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            if args.mode == "drain":
                stop(others)  # allocation alone: nothing else competes for the cores while it drains
                started = time.perf_counter()
                placed = json.loads(manage(env, "shell", "-c", PLACE_IN_BULK.replace("ORDERS_", str(orders))
                                           .replace("RUN", run)).strip().splitlines()[-1])  # fmt: skip
                print(f"{placed['placed']} orders placed in bulk with their messages queued in "
                      f"{time.perf_counter() - started:.1f} s; the inventory consumer is stopped")  # fmt: skip
                backlog.start()
                cpu_start, started = cpu_seconds_by_group(), time.monotonic()
                inventory = [start_worker(env, "inventory", args.allocators, "inventory", args.allocator_prefetch)]
                while states(conn, run).get("placed", 0) and time.monotonic() - started < args.time_limit:
                    time.sleep(0.2)
                drain_seconds = time.monotonic() - started
                decided = placed["placed"] - states(conn, run).get("placed", 0)  # all of them unless timed out
                print(f"\ndrain: {decided} orders decided {drain_seconds:.1f} s after the inventory consumer "
                      f"started ({args.allocators} process, prefetch {args.allocator_prefetch}): "
                      f"{decided * 3 / drain_seconds:.0f} lines/s; settling the payments ...", end="")  # fmt: skip
                print_cpu_split(cpu_start, cpu_seconds_by_group(), per=decided, unit="order decided",
                                wall=drain_seconds)  # fmt: skip
                sys.stdout.flush()
                if args.drain_only:
                    print("\n--drain-only: the payments were not settled")
                    return
                others = start_payments_and_email(env, args.payments)
            else:
                inventory = [start_worker(env, "inventory", args.allocators, "inventory", args.allocator_prefetch)]
                backlog.start()
                with gunicorn(env, workers=args.workers) as port:
                    cpu_start, load_started = cpu_seconds_by_group(), time.monotonic()
                    checkout = place_orders(port, setup["tokens"], args.clients, args.time_limit)
                    cpu_load, load_seconds = cpu_seconds_by_group(), time.monotonic() - load_started
            final, settle_seconds, timed_out = wait_until_settled(conn, run, args.time_limit)
            if checkout:
                cpu_settled = cpu_seconds_by_group()
            backlog.stopped.set()
            figures = report(conn, run, setup["hot"], level)
    finally:
        backlog.stopped.set()
        stop(inventory + others)

    if checkout:
        print(f"\n{'POST /api/v1/checkout':<24} {'requests':>8} {'orders/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  statuses")
        print(f"{'':<24} {checkout['requests']:>8} {checkout['rps']:>9.1f} {checkout['p50']:>8.1f} {checkout['p95']:>8.1f} "
              f"{checkout['p99']:>8.1f}  {checkout['statuses']}")  # fmt: skip
    if checkout:
        placed = checkout["statuses"].get(201, 0)
        print("\nduring the load:", end="")
        print_cpu_split(cpu_start, cpu_load, per=placed, unit="order placed", wall=load_seconds)
        print("\nfrom the load's start until every order settled:", end="")
        print_cpu_split(cpu_start, cpu_load, cpu_settled, per=placed, unit="order placed",
                        wall=load_seconds + settle_seconds)  # fmt: skip
    print(f"\nallocation: {figures['allocated_lines']} lines allocated, first to last decision {figures['decision_seconds']:.1f} s: "
          f"{figures['lines_per_second']:.0f} lines/s (the hot product in every order)")  # fmt: skip
    p50, p95, p99 = figures["authorized_latency"]
    print(f"placed -> authorized: p50 {p50 / 1000:.2f} s, p95 {p95 / 1000:.2f} s, p99 {p99 / 1000:.2f} s")
    print(f"largest backlog of placed orders: {backlog.largest}")
    print(f"settled {settle_seconds:.1f} s after the load{' (TIMED OUT)' if timed_out else ''}: orders by state {final}")
    print(f"hot product: {figures['hot_sold']} units sold of {figures['hot_stock']}, {figures['hot_left']} left, "
          f"oversold {figures['oversold']}, stock and orders agree: {figures['books_agree']}")  # fmt: skip
    if args.mode == "flash" and checkout:
        print(f"buyers told sold out: {checkout['statuses'].get(409, 0)} at checkout, {final.get('rejected', 0)} rejected")


if __name__ == "__main__":
    main()
