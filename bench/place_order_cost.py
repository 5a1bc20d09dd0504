"""The cost of one place-order call, in process: SQL statements, transactions and milliseconds.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/wt_x_cost CELERY_BROKER_URL=amqp://... \\
        .venv/bin/python bench/place_order_cost.py [--calls 50]

Two doors, each called `--calls` times by a signed-in customer whose 3-line cart is refilled
before each call (the refill is not counted): POST /api/v1/checkout (JWT, Idempotency-Key) and
the storefront's "Place order" step (the review form's POST, the three steps before it not
counted). Counts every statement the request runs on the primary (Django's
CaptureQueriesContext), the wall time of the request in this process (Django's test client,
no network) and the CPU time this process spent on it (the wall time less the waits for
PostgreSQL and the broker): the median over the calls. With CELERY_BROKER_URL set the after-commit hand-off
publishes to that broker (nothing consumes it here; the queues are purged at the end);
without it, tasks run eagerly inside the request, as in the embedded shop.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 50)
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("THROTTLE_RATE_USER", "10000000/minute")
os.environ.setdefault("LOG_LEVEL", "ERROR")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import User
    from cart import services as cart_services
    from catalog.models import Product
    from inventory.models import StockItem
    from shop.celery import app

    call_command("migrate", "--noinput", verbosity=0)
    if Product.objects.filter(is_active=True).count() < 3:
        call_command("load_demo_catalog", "--products", "20", "--no-images", verbosity=0)
    products = list(Product.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True)[:3])
    StockItem.objects.filter(product_id__in=products).update(available=10_000_000)
    user = User.objects.create_user(email=f"cost-{uuid.uuid4().hex[:12]}@example.com", password="x" * 12)

    def refill() -> None:
        cart = cart_services.get_or_create_cart(user=user, guest_token=None)
        cart_services.apply_operations(
            cart_id=cart.pk, base_epoch=cart.epoch,
            operations=[cart_services.AddOperation(tag=uuid.uuid4(), product_id=p, quantity=1) for p in products],
        )  # fmt: skip

    address = {"full_name": "Cost Buyer", "line1": "1 Load Street", "city": "Berlin", "postal_code": "10115",
               "country": "DE"}  # fmt: skip
    api = Client(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    body = json.dumps({"address": address, "delivery_option": "standard", "payment_method": "tok_visa"})

    def api_call():
        return api.post("/api/v1/checkout", body, content_type="application/json",
                        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))  # fmt: skip

    browser = Client()
    browser.force_login(user)

    def storefront_call():
        browser.post("/checkout/", address)
        browser.post("/checkout/delivery/", {"delivery_option": "standard"})
        browser.post("/checkout/payment/", {"payment_method": "tok_visa"})
        review = browser.get("/checkout/review/").content.decode()
        form = {name: re.search(rf'name="{name}" value="([^"]*)"', review).group(1)
                for name in ("token", "expected_total")}  # fmt: skip
        return lambda: browser.post("/checkout/review/", form)

    print(f"database: {connection.settings_dict['NAME']}, "
          f"tasks: {'eager' if app.conf.task_always_eager else 'broker'}; {args.calls} calls per door")  # fmt: skip
    for door, prepare in (("POST /api/v1/checkout", lambda: api_call), ("storefront place order", storefront_call)):
        statements, transactions, millis, cpu = [], [], [], []
        for _ in range(args.calls):
            refill()
            call = prepare()
            with CaptureQueriesContext(connection) as queries:
                started, cpu_started = time.perf_counter(), time.process_time()
                response = call()
                millis.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - cpu_started) * 1000)
            assert response.status_code in (201, 302), (response.status_code, response.content[:300])
            sql = [q["sql"] for q in queries.captured_queries]
            statements.append(len(sql))
            transactions.append(sum(1 for s in sql if s.startswith(("BEGIN", "SAVEPOINT"))))
        print(f"{door:<26} statements {statistics.median(statements):>5.0f}  savepoints+begins "
              f"{statistics.median(transactions):>3.0f}  in-process ms p50 {statistics.median(millis):6.1f} "
              f"min {min(millis):6.1f}  CPU ms p50 {statistics.median(cpu):6.1f}")  # fmt: skip
    if not app.conf.task_always_eager:
        app.control.purge()


if __name__ == "__main__":
    main()
