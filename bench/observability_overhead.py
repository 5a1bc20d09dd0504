"""The in-process cost of metrics and logging on the product page (issue 14).

Requests the same warm product page through Django's handler in this process (no network, no
server), in alternating rounds with and without observability, and prints ms per request:

- with: the ObservabilityMiddleware (request id, latency histogram, one JSON access-log line
  written to a file), the database execute wrapper, the timed cache client (when REDIS_URL is
  set), the pipeline's and the probes' metric objects;
- without: none of them (the middleware left out, the wrapper removed, django-redis's own
  client, the access log off).

The database is DATABASE_URL (default: a throw-away SQLite file); REDIS_URL makes the page warm
from Redis as in production. Bounded: ROUNDS x REQUESTS per mode (default 10 x 400 = 4,000).

    flock /tmp/shop-bench.lock .venv/bin/python bench/observability_overhead.py [--rounds 10 --requests 400]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--products", type=int, default=50)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="obs-bench-")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{work}/bench.sqlite3")
    os.environ.update(DEBUG="0", SECRET_KEY="bench-" + "x" * 50, ALLOWED_HOSTS="testserver",
                      SECURE_SSL_REDIRECT="false", LOG_FORMAT="json", LOG_LEVEL="INFO")  # fmt: skip
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    import django

    django.setup()
    from django.conf import settings
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client, override_settings

    from catalog.models import Product
    from shop.observability.db import time_statement

    call_command("migrate", verbosity=0)
    call_command("load_demo_catalog", products=args.products, no_images=True, verbosity=0)
    product = Product.objects.filter(is_active=True).order_by("pk").first()
    url = product.get_absolute_url()

    # Log lines go to a file, as a container's stdout would go to a pipe.
    log_file = open(Path(work) / "access.log", "w")  # noqa: SIM115
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(log_file)

    observability = "shop.observability.middleware.ObservabilityMiddleware"
    plain_middleware = [m for m in settings.MIDDLEWARE if m != observability]
    redis = settings.CACHES["default"]["BACKEND"] == "django_redis.cache.RedisCache"

    def switch(on: bool) -> None:
        wrappers = connection.execute_wrappers
        if on and time_statement not in wrappers:
            wrappers.insert(0, time_statement)
        if not on and time_statement in wrappers:
            wrappers.remove(time_statement)
        logging.getLogger("shop.request").setLevel(logging.INFO if on else logging.WARNING)
        if redis:
            from django.utils.module_loading import import_string

            client = "shop.observability.cache.TimedClient" if on else "django_redis.client.DefaultClient"
            backend = cache._cache if hasattr(cache, "_cache") else cache
            backend._client_cls, backend._client = import_string(client), None

    clients = {"with": Client(), "without": Client()}
    switch(True)
    assert clients["with"].get(url).status_code == 200
    with override_settings(MIDDLEWARE=plain_middleware):  # the handler loads its middleware once
        switch(False)
        assert clients["without"].get(url).status_code == 200
    assert "X-Request-ID" in clients["with"].get(url) and "X-Request-ID" not in clients["without"].get(url)

    def run(mode: str) -> float:
        switch(mode == "with")
        client = clients[mode]
        started = time.perf_counter()
        for _ in range(args.requests):
            response = client.get(url)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200
        return elapsed / args.requests * 1000

    for mode in ("with", "without"):  # warm both paths
        run(mode)
    results: dict[str, list[float]] = {"with": [], "without": []}
    for number in range(args.rounds):
        order = ("with", "without") if number % 2 == 0 else ("without", "with")
        for mode in order:
            results[mode].append(run(mode))
    log_file.close()
    lines = sum(1 for _ in open(Path(work) / "access.log"))  # noqa: SIM115
    with_ms, without_ms = statistics.median(results["with"]), statistics.median(results["without"])
    print(f"product page {url}, {args.rounds} rounds x {args.requests} requests per mode, "
          f"database {connection.vendor}, cache {'redis' if redis else 'local memory'}")  # fmt: skip
    print(f"without metrics and logging: {without_ms:.3f} ms/request (median of rounds; "
          f"min {min(results['without']):.3f})")  # fmt: skip
    print(f"with metrics and logging:    {with_ms:.3f} ms/request (median of rounds; min {min(results['with']):.3f})")
    print(f"overhead: {with_ms - without_ms:+.3f} ms/request = {(with_ms / without_ms - 1) * 100:+.1f} %"
          f" ({lines} JSON access-log lines written)")  # fmt: skip


if __name__ == "__main__":
    main()
