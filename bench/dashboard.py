"""The staff dashboard over many orders: how long the admin's index figures take, in process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop_bench_dashboard \\
        .venv/bin/python bench/dashboard.py [--orders 1000000] [--runs 5]

Migrates, loads 200 demo products (no images), and writes `--orders` orders spread evenly over
the last 365 days (states mixed as a running shop has them: most delivered, some shipped,
authorized, refunded in part or in full, cancelled, rejected, a few waiting) with two lines each,
in set-based INSERT ... SELECT generate_series statements (not through the services: only the
figures are measured), then ANALYZE. Then renders the dashboard for a superuser (every block)
`--runs` times and prints the median and worst wall time and the number of SQL statements, and
each statement's time once. PostgreSQL only (the SQL uses generate_series); the orders are
written once per database: a second run reuses them (`--fresh` writes them again).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 50)
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("LOG_LEVEL", "ERROR")

# state by the order's id modulo 100: the mix of a shop that has been running for a while
STATE_MIX = [("delivered", 70), ("shipped", 8), ("authorized", 6), ("partially_refunded", 3), ("refunded", 2),
             ("cancelled", 5), ("rejected", 3), ("payment_failed", 2), ("placed", 1)]  # fmt: skip


def _state_case() -> str:
    whens, upper = [], 0
    for state, share in STATE_MIX:
        upper += share
        whens.append(f"WHEN n %% 100 < {upper} THEN '{state}'")  # %% : the statement has parameters
    return "CASE " + " ".join(whens) + " END"


def write_orders(count: int) -> None:
    from django.db import connection

    from catalog.models import Product

    products = list(Product.objects.order_by("pk").values_list("pk", "title", "sku", "price")[:200])
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE orders_orderline, orders_orderevent, orders_emaillog, orders_refundrestock, "
                       "payments_refund, payments_payment, orders_order RESTART IDENTITY CASCADE")  # fmt: skip
        cursor.execute(
            f"""
            INSERT INTO orders_order (number, email, guest_key, state, full_name, line1, line2, city, postal_code,
                country, phone, currency, delivery_option, delivery_label, subtotal, shipping, tax, total, tax_rate,
                prices_include_tax, payment_method, payment_attempts, rejection_reason, channel, request_id, carrier,
                tracking_number, refunded_amount, created_at, updated_at)
            SELECT 'SO-B' || lpad(n::text, 11, '0'), 'buyer' || (n %% 50000) || '@example.com', '', {_state_case()},
                'Bench Buyer', '1 Bench Street', '', 'Berlin', '10115', 'DE', '', 'EUR', 'standard',
                'Standard delivery', 50 + n %% 150, 4.95, 8, 54.95 + n %% 150, 0.19, true, 'tok_visa', 1, '', 'api',
                '', '', '', CASE WHEN n %% 100 BETWEEN 84 AND 86 THEN 10
                                 WHEN n %% 100 BETWEEN 87 AND 88 THEN 54.95 + n %% 150 ELSE 0 END,
                now() - ((%s - n)::double precision / %s) * interval '365 days',
                now() - ((%s - n)::double precision / %s) * interval '365 days'
            FROM generate_series(1, %s) AS n
            """,  # noqa: S608  (no outside input: numbers only)
            [count, count, count, count, count],
        )
        for offset in (0, 1):
            values = ", ".join(
                str(cursor.mogrify("(%s, %s, %s, %s::numeric)", [pk, title, sku, price])) for pk, title, sku, price in products
            )
            cursor.execute(
                f"""
                WITH catalog (product_id, title, sku, price) AS (VALUES {values}),
                     numbered AS (SELECT row_number() OVER (ORDER BY product_id) - 1 AS i, * FROM catalog)
                INSERT INTO orders_orderline (order_id, product_id, title, sku, unit_price, quantity, subtotal)
                SELECT o.id, c.product_id, c.title, c.sku, c.price, 1 + o.id % 3, c.price * (1 + o.id % 3)
                FROM orders_order o JOIN numbered c ON c.i = (o.id * 7 + {offset} * 13) % {len(products)}
                """  # noqa: S608  (the demo catalog's own rows)
            )
        cursor.execute("ANALYZE orders_order")
        cursor.execute("ANALYZE orders_orderline")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--fresh", action="store_true", help="write the orders again even if enough are there")
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from catalog.models import Product
    from orders.models import Order
    from shop.dashboard import render_dashboard

    assert connection.vendor == "postgresql", "bench/dashboard.py needs DATABASE_URL on PostgreSQL"
    # it empties the orders and payments tables: only ever a database made for it
    assert "bench" in connection.settings_dict["NAME"], "use a database whose name says bench (it is emptied)"
    call_command("migrate", "--noinput", verbosity=0)
    if Product.objects.count() < 200:
        call_command("load_demo_catalog", "--products", "200", "--no-images", verbosity=0)
    if args.fresh or Order.objects.count() != args.orders:
        started = time.perf_counter()
        write_orders(args.orders)
        print(f"wrote {args.orders:,} orders and {2 * args.orders:,} lines in {time.perf_counter() - started:.1f} s")
    superuser = User.objects.filter(email="bench-dashboard@example.com").first() or User.objects.create_superuser(
        email="bench-dashboard@example.com", password="x" * 16
    )
    render_dashboard(superuser)  # warm: connections, templates, permission caches
    timings = []
    for _ in range(args.runs):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            render_dashboard(superuser)
            timings.append(time.perf_counter() - started)
    print(f"dashboard over {Order.objects.count():,} orders: median {statistics.median(timings) * 1000:.0f} ms, "
          f"worst {max(timings) * 1000:.0f} ms, {len(queries)} SQL statements")  # fmt: skip
    for query in queries:
        print(f"  {float(query['time']) * 1000:7.1f} ms  {query['sql'][:110]}")


if __name__ == "__main__":
    main()
