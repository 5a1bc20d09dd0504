"""Cart sync throughput: device batches on PostgreSQL + Redis, gunicorn on 127.0.0.1.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/shop_bench_cart REDIS_URL=redis://127.0.0.1:6379/6 \\
        .venv/bin/python bench/cart.py [--clients 8] [--requests 2000] [--batch 20] [--workers 2]

Migrates, loads 200 demo products (no images), signs in one account per client (JWTs made in
`manage.py shell`) and empties their carts, then measures POST /api/v1/cart/operations with one
add per request and with batches of `--batch` adds, each client on its own cart over a keep-alive
connection, plus GET /api/v1/cart for reference. ops/s counts operations (a batch of 20 counts
20); the latencies are per request. Every loop is bounded in requests and in time.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import os
import sys
import tempfile
import uuid

from harness import bench_environment, gunicorn, manage, run_load

SETUP = """
import json
from django.contrib.auth import get_user_model
from rest_framework_simplejwt.tokens import RefreshToken
from cart.models import Cart
from catalog.models import Product
User = get_user_model()
users = [User.objects.get_or_create(email=f"bench-cart-{i}@example.com", defaults={"full_name": f"Bench {i}"})[0]
         for i in range(CLIENTS)]
Cart.objects.filter(user__in=users).delete()
products = list(Product.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True)[:200])
print(json.dumps({"tokens": [str(RefreshToken.for_user(u).access_token) for u in users], "products": products}))
"""


class Client:
    """One device of one account: its token, its products (under 100, so its cart never fills up) and
    the cart epoch it last saw (a compaction past 400 rows raises it)."""

    def __init__(self, port: int, token: str, products: list[int]):
        self.port, self.products, self.epoch, self.sent = port, products, 0, 0
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        try:
            self.conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=self.headers)
            response = self.conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            return 0, b""

    def sync(self, batch: int) -> bool:
        operations = []
        for _ in range(batch):
            product = self.products[self.sent % len(self.products)]
            operations.append({"op": "add", "tag": str(uuid.uuid4()), "product_id": product, "quantity": 1})
            self.sent += 1
        status, body = self.request("POST", "/api/v1/cart/operations",
                                    {"base_epoch": self.epoch, "device": "bench", "operations": operations})  # fmt: skip
        if status == 200:
            self.epoch = json.loads(body)["epoch"]
        return status == 200

    def read(self, _batch: int) -> bool:
        return self.request("GET", "/api/v1/cart")[0] == 200


def run(clients: list[Client], action: str, batch: int, total: int, time_limit: float) -> dict:
    """`total` requests shared by the clients (one thread each), within `time_limit` seconds."""
    result = run_load([functools.partial(getattr(client, action), batch) for client in clients], total, time_limit)
    done = result["requests"] - result["errors"]
    elapsed = result["requests"] / result["rps"] if result["rps"] else 1
    return {**result, "ops": done * batch, "ops/s": done * batch / elapsed}


def print_table(rows: list[tuple[str, dict]]) -> None:
    print(f"{'scenario':<22} {'requests':>8} {'ops':>7} {'ops/s':>8} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'p99 ms':>7} {'errors':>6}")  # fmt: skip
    for name, r in rows:
        ops = f"{r['ops']:>7} {r['ops/s']:>8.1f}" if r["ops"] is not None else f"{'-':>7} {'-':>8}"
        print(f"{name:<22} {r['requests']:>8} {ops} {r['rps']:>7.1f} {r['p50']:>7.1f} "
              f"{r['p95']:>7.1f} {r['p99']:>7.1f} {r['errors']:>6}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8, help="concurrent devices, each on its own account's cart")
    parser.add_argument("--requests", type=int, default=2000, help="requests per scenario")
    parser.add_argument("--batch", type=int, default=20, help="adds per request in the batch scenario")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (2 cores here)")
    parser.add_argument("--time-limit", type=float, default=60, help="seconds per scenario at most")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        sys.exit("bench/cart.py measures the production setup: set DATABASE_URL (PostgreSQL) and REDIS_URL")

    env = bench_environment(
        MEDIA_ROOT=tempfile.mkdtemp(prefix="shop-bench-media-"), CACHE_KEY_PREFIX=f"benchcart{os.getpid()}",
        THROTTLE_RATE_USER="10000000/minute", THROTTLE_RATE_ANON="10000000/minute",
    )  # fmt: skip
    print(f"database: {env['DATABASE_URL'].split('@')[-1]}, cache: redis, clients: {args.clients}")
    manage(env, "migrate", "--noinput", "-v0")
    print(manage(env, "load_demo_catalog", "--products", "200", "--no-images").strip())
    setup = json.loads(manage(env, "shell", "-c", SETUP.replace("CLIENTS", str(args.clients))).strip().splitlines()[-1])
    products = setup["products"]
    with gunicorn(env, workers=args.workers) as port:
        clients = [
            Client(port, token, [products[(i * 13 + k) % len(products)] for k in range(50)])
            for i, token in enumerate(setup["tokens"])
        ]
        for client in clients:  # warm: each account's cart exists, each connection is open
            assert client.sync(1), "the first sync failed"
        rows = [
            ("1 add / request", run(clients, "sync", 1, args.requests, args.time_limit)),
            (f"{args.batch} adds / request", run(clients, "sync", args.batch, args.requests, args.time_limit)),
            ("GET cart (reference)", run(clients, "read", 1, args.requests, args.time_limit)),
        ]
        for client in clients:
            client.conn.close()
    rows[-1][1]["ops"] = None  # reads are not cart operations
    print_table(rows)
    print(f"compactions seen (epoch raised past 400 rows): {sum(c.epoch for c in clients)} over {len(clients)} carts")


if __name__ == "__main__":
    main()
