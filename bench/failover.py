"""Failover drill: lose the primary database under a load of checkouts, and lose no order.

    bash .ci/ha.sh up        # pg_auto_failover: monitor, primary and synchronous standby (as root)
    REDIS_URL=redis://127.0.0.1:6379/9 CELERY_BROKER_URL=amqp://guest:guest@127.0.0.1:5672/shop_drill \\
        .venv/bin/python bench/failover.py [--clients 8] [--orders 400] [--kill-after 60] [--max-recovery 45]

The shop runs on the multi-host DATABASE_URL of `.ci/ha.sh url` (libpq picks the writable node):
gunicorn, a Celery worker on every queue and beat (the outbox relay). Guest shoppers, each on its
own thread, fill a cart through the API (operations with client-made tags, so a retry adds
nothing twice) and check out with an Idempotency-Key, retrying the same request on a 503, a
5xx or a dropped connection, as a mobile app does. After `--kill-after` acknowledged orders the
primary node is lost as a machine would be: its whole process group (the pg_auto_failover
keeper and its PostgreSQL) gets SIGKILL. The HA manager promotes the synchronous standby; the
load goes on until `--orders` are acknowledged. Then the drill waits for every order to be final
and checks, on the new primary:

- every order acknowledged with 201/200 exists, exactly once (one order per Idempotency-Key);
- no product sold more units than it had; stock, ledger and order lines agree;
- the outbox drained, no order is left placed or allocated, and every customer got their e-mail
  (a task that met the lost database retried rather than dropped its work).

It prints the time from the kill to the first successful write (a checkout answered 201/200 that
was sent after the kill) and how many requests failed meanwhile, and exits non-zero when any
check fails or the recovery took longer than `--max-recovery` seconds. Only 127.0.0.1 is contacted;
every loop is bounded in requests and in time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter

from harness import PYTHON, ROOT, bench_environment, gunicorn, manage

HA = ["bash", str(ROOT / ".ci" / "ha.sh")]
FINAL = {"authorized", "rejected", "payment_failed", "cancelled"}
STOCK = [400, 300, 200, 150, 100]  # units of the first five products: the smaller ones sell out, so some orders are refused

SETUP = """
import json
from catalog.models import Product
from inventory.models import StockItem
ids = list(Product.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True)[:5])
for index, product_id in enumerate(ids):
    StockItem.objects.update_or_create(product_id=product_id, defaults={"available": STOCK[index]})
print(json.dumps({"products": ids}))
"""

REPORT = """
import json
from django.db.models import Count, Sum
from inventory.models import MovementKind, StockItem, StockMovement
from orders.models import EmailLog, Order, OrderLine
from orders.states import HOLDS_STOCK
from shop.models import OutboxMessage
orders = Order.objects.filter(email__startswith="drill-")
per_email = orders.values("email").annotate(n=Count("id")).filter(n__gt=1).count()
states = dict(orders.values_list("state").annotate(n=Count("id")))
held = {s for s in HOLDS_STOCK} | {"shipped", "delivered"}
sold = dict(OrderLine.objects.filter(order__in=orders, order__state__in=held)
            .values_list("product_id").annotate(n=Sum("quantity")))
stock = dict(StockItem.objects.filter(product_id__in=PRODUCTS).values_list("product_id", "available"))
ledger = dict(StockMovement.objects.filter(product_id__in=PRODUCTS, kind__in=[MovementKind.ALLOCATION, MovementKind.RELEASE])
              .values_list("product_id").annotate(n=Sum("quantity")))
print(json.dumps({
    "numbers": list(orders.values_list("number", flat=True)),
    "duplicated_keys": per_email, "states": states,
    "sold": {str(k): v for k, v in sold.items()}, "stock": {str(k): v for k, v in stock.items()},
    "ledger": {str(k): v for k, v in ledger.items()},
    "outbox_pending": OutboxMessage.objects.filter(dispatched_at__isnull=True).count(),
    "orders_without_email": orders.exclude(emails__sent_at__isnull=False).count(),
    "emails_not_sent": EmailLog.objects.filter(order__in=orders, sent_at__isnull=True).count(),
}))
"""

ADDRESS = {"full_name": "Drill Buyer", "line1": "1 Failover Street", "city": "Berlin", "postal_code": "10115",
           "country": "DE"}  # fmt: skip


class Shopper:
    """One guest on one thread: a cart, then a checkout retried with the same key until answered."""

    def __init__(self, port: int, products: list[int], rng: random.Random, log: Drill) -> None:
        self.port, self.products, self.rng, self.log = port, products, rng, log
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: dict | None, headers: dict) -> tuple[int, dict]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            self.conn.request(method, path, body=json.dumps(body) if body is not None else None,
                              headers={"Content-Type": "application/json", **headers})  # fmt: skip
            response = self.conn.getresponse()
            raw = response.read()
            return response.status, (json.loads(raw) if raw.startswith(b"{") else {})
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            return 0, {}

    def until_answered(self, method: str, path: str, body: dict | None, headers: dict, deadline: float):
        """The same request again (same key, same tags) on 503, 5xx or a dropped connection."""
        while time.monotonic() < deadline:
            sent = time.monotonic()
            status, data = self.request(method, path, body, headers)
            if status and status < 500:
                return sent, status, data
            self.log.failed()
            time.sleep(0.5)
        return None, 0, {}

    def shop_once(self, deadline: float) -> None:
        _, status, data = self.until_answered("POST", "/api/v1/guest-tokens", None, {}, deadline)
        if status != 201:
            return
        guest = {"X-Guest-Token": data["guest_token"]}
        adds = [{"op": "add", "tag": str(uuid.UUID(int=self.rng.getrandbits(128))), "product_id": product_id,
                 "quantity": self.rng.randint(1, 2)}
                for product_id in self.rng.sample(self.products, self.rng.randint(1, 2))]  # fmt: skip
        _, status, _ = self.until_answered(
            "POST", "/api/v1/cart/operations", {"base_epoch": 0, "operations": adds}, guest, deadline
        )
        if status != 200:
            return
        key = str(uuid.UUID(int=self.rng.getrandbits(128)))
        body = {"address": ADDRESS, "email": f"drill-{key}@example.com", "delivery_option": "standard",
                "payment_method": "tok_visa"}  # fmt: skip
        sent, status, data = self.until_answered(
            "POST", "/api/v1/checkout", body, {**guest, "Idempotency-Key": key}, deadline
        )
        self.log.answered(sent, status, data)


class Drill:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acknowledged: list[str] = []
        self.statuses: Counter = Counter()
        self.failed_requests = 0
        self.failed_after_kill = 0
        self.killed_at: float | None = None
        self.first_write_after_kill: float | None = None

    def failed(self) -> None:
        with self.lock:
            self.failed_requests += 1
            if self.killed_at is not None:
                self.failed_after_kill += 1

    def answered(self, sent: float | None, status: int, data: dict) -> None:
        with self.lock:
            self.statuses[status] += 1
            if status in (200, 201):
                self.acknowledged.append(data["number"])
                if self.killed_at is not None and sent is not None and sent >= self.killed_at:
                    done = time.monotonic()
                    if self.first_write_after_kill is None or done < self.first_write_after_kill:
                        self.first_write_after_kill = done


def ha(*args: str) -> str:
    return subprocess.run([*HA, *args], check=True, capture_output=True, text=True).stdout.strip()


def start_celery(env: dict, schedule_dir: str) -> list[subprocess.Popen]:
    common = [PYTHON, "-m", "celery", "-A", "shop"]
    return [
        subprocess.Popen([*common, "worker", "--without-mingle", "--without-gossip", "-l", "warning",
                          "--concurrency", "2", "--prefetch-multiplier", "1", "-n", f"drill-{os.getpid()}@%h"],
                         cwd=ROOT, env=env),
        subprocess.Popen([*common, "beat", "-l", "warning", "--schedule", f"{schedule_dir}/beat"], cwd=ROOT, env=env),
    ]  # fmt: skip


def report(env: dict, products: list[int]) -> dict:
    script = REPORT.replace("PRODUCTS", json.dumps(products))
    return json.loads(manage(env, "shell", "-c", script).strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--orders", type=int, default=400, help="acknowledged checkouts to reach")
    parser.add_argument("--kill-after", type=int, default=60, help="acknowledged checkouts before the primary is lost")
    parser.add_argument("--max-recovery", type=float, default=45, help="seconds from the kill to the first write, at most")
    parser.add_argument("--time-limit", type=float, default=240, help="seconds for the load, at most")
    parser.add_argument("--settle-limit", type=float, default=300, help="seconds for every order to be final")
    args = parser.parse_args()
    if not os.environ.get("CELERY_BROKER_URL", "").startswith("amqp"):
        sys.exit("bench/failover.py runs real workers: set CELERY_BROKER_URL=amqp://...")

    url = ha("url")
    primary = ha("primary")
    env = bench_environment(
        DATABASE_URL=url, DATABASE_REPLICA_URLS="", EMAIL_URL="dummymail://", CACHE_KEY_PREFIX=f"drill{os.getpid()}",
        MEDIA_ROOT=tempfile.mkdtemp(prefix="shop-drill-media-"), DATABASE_CONN_MAX_AGE="60",
        THROTTLE_RATE_USER="100000/minute", THROTTLE_RATE_ANON="100000/minute",
        ORDERS_REDRIVE_AFTER_SECONDS="20",  # the sweep re-drives what the lost primary interrupted within the drill
        # An e-mail sent just as the primary died cannot be marked sent: its claim must expire within
        # the drill for the sweep to take it again (5 minutes in production).
        EMAIL_CLAIM_TIMEOUT_SECONDS="30",
    )  # fmt: skip
    print(f"database: {url.split('@')[-1]} (primary now: {primary})")
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "load_demo_catalog", "--products", "20", "--no-images")
    products = json.loads(manage(env, "shell", "-c", SETUP.replace("STOCK", json.dumps(STOCK)))
                          .strip().splitlines()[-1])["products"]  # fmt: skip
    units = sum(STOCK)
    print(f"{len(products)} products, {units} units in stock; {args.clients} shoppers")

    drill = Drill()
    rng = random.Random(20261204)  # noqa: S311 (seeded: the same baskets every run)
    schedule_dir = tempfile.mkdtemp(prefix="shop-drill-beat-")
    celery = start_celery(env, schedule_dir)
    ok = True
    try:
        with gunicorn(env, workers=2, threads=4) as port:
            deadline = time.monotonic() + args.time_limit
            shoppers = [Shopper(port, products, random.Random(rng.getrandbits(64)), drill)  # noqa: S311
                        for _ in range(args.clients)]

            def shop(shopper: Shopper) -> None:
                while time.monotonic() < deadline and len(drill.acknowledged) < args.orders:
                    shopper.shop_once(deadline)

            threads = [threading.Thread(target=shop, args=(s,), daemon=True) for s in shoppers]
            for thread in threads:
                thread.start()
            while len(drill.acknowledged) < args.kill_after and time.monotonic() < deadline:
                time.sleep(0.05)
            with drill.lock:
                drill.killed_at = time.monotonic()
            ha("kill", primary)
            print(f"killed {primary} (keeper and PostgreSQL) after {len(drill.acknowledged)} acknowledged orders")
            ha("wait-primary", "node2" if primary == "node1" else "node1", "120")
            promoted = time.monotonic() - drill.killed_at
            print(f"standby promoted and writable {promoted:.1f} s after the kill")
            for thread in threads:
                thread.join(timeout=max(1.0, deadline - time.monotonic() + 30))

        settle_deadline = time.monotonic() + args.settle_limit
        while True:
            found = report(env, products)
            unsettled = {s: n for s, n in found["states"].items() if s not in FINAL}
            settled = not unsettled and not found["outbox_pending"] and not found["orders_without_email"]
            if (settled and not found["emails_not_sent"]) or time.monotonic() > settle_deadline:
                break
            time.sleep(2)
    finally:
        for process in celery:
            process.terminate()
        for process in celery:
            process.wait(timeout=60)

    recovery = (drill.first_write_after_kill - drill.killed_at) if drill.first_write_after_kill else None
    missing = sorted(set(drill.acknowledged) - set(found["numbers"]))
    oversold = {p: found["sold"].get(str(p), 0) - STOCK[i] for i, p in enumerate(products)
                if found["sold"].get(str(p), 0) > STOCK[i]}  # fmt: skip
    disagree = {p for i, p in enumerate(products)
                if found["stock"][str(p)] != STOCK[i] - found["sold"].get(str(p), 0)
                or -found["ledger"].get(str(p), 0) != found["sold"].get(str(p), 0)}  # fmt: skip
    print(f"\nacknowledged orders: {len(drill.acknowledged)} (statuses {dict(drill.statuses)}); "
          f"orders in the database: {len(found['numbers'])}, by state {found['states']}")  # fmt: skip
    print(f"failed requests (503, 5xx, dropped): {drill.failed_requests}, after the kill: {drill.failed_after_kill}")
    print(f"kill -> first successful write: {recovery:.1f} s" if recovery is not None else "no write after the kill")
    checks = {
        "acknowledged orders lost": len(missing),
        "orders duplicated by a retry": found["duplicated_keys"] + (len(drill.acknowledged) - len(set(drill.acknowledged))),
        "units oversold": sum(oversold.values()),
        "products whose stock, ledger and lines disagree": len(disagree),
        "orders not final": sum(n for s, n in found["states"].items() if s not in FINAL),
        "outbox messages never sent": found["outbox_pending"],
        "orders whose customer got no e-mail": found["orders_without_email"],
        "e-mails claimed and never sent": found["emails_not_sent"],
    }
    for name, value in checks.items():
        print(f"{name}: {value}")
        ok = ok and value == 0
    if recovery is None or recovery > args.max_recovery:
        print(f"FAILED: recovery above the bound of {args.max_recovery:.0f} s")
        ok = False
    if len(drill.acknowledged) < args.orders:
        print(f"FAILED: only {len(drill.acknowledged)} of {args.orders} checkouts acknowledged in time")
        ok = False
    print("drill passed" if ok else "drill FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
