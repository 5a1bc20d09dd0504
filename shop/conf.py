"""Helpers that turn environment values into Django settings.

Kept apart from settings.py so that tests build the same configurations the settings do
(a Redis cache on a dead port, a replica alias) instead of writing them a second time.
"""

from __future__ import annotations

import environ
from django.utils.module_loading import import_string
from kombu import Exchange, Queue

CELERY_QUEUE_NAMES = ("default", "email", "inventory", "payments", "payment_results", "images")


REDIS_SOCKET_TIMEOUT = 0.2  # seconds; a cache call that waits longer is a miss
REDIS_CONNECT_TIMEOUT = 0.2


def redis_cache_config(
    url: str,
    *,
    key_prefix: str = "shop",
    socket_timeout: float = REDIS_SOCKET_TIMEOUT,
    connect_timeout: float = REDIS_CONNECT_TIMEOUT,
) -> dict:
    """A django-redis cache that never fails a page: errors are ignored, sockets time out fast,
    a per-process circuit breaker stops calling a failing Redis (shop.redis_guard), and each call
    is timed (shop.observability.cache)."""
    guarded = (
        "shop.redis_guard.GuardedSSLConnection" if url.startswith("rediss://") else "shop.redis_guard.GuardedConnection"
    )
    return {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": url,
        "KEY_PREFIX": key_prefix,
        "TIMEOUT": 300,
        "OPTIONS": {
            "CLIENT_CLASS": "shop.observability.cache.TimedClient",
            "IGNORE_EXCEPTIONS": True,
            "SOCKET_CONNECT_TIMEOUT": connect_timeout,
            "SOCKET_TIMEOUT": socket_timeout,
            "CONNECTION_POOL_KWARGS": {"connection_class": import_string(guarded)},
        },
    }


# Django's PostgreSQL backend with the health check skipped for a connection used moments ago.
POSTGRESQL_ENGINE = "shop.postgresql"


def with_shop_engine(config: dict) -> dict:
    """A database alias's settings with Django's PostgreSQL ENGINE replaced by shop.postgresql."""
    if config["ENGINE"] == "django.db.backends.postgresql":
        config["ENGINE"] = POSTGRESQL_ENGINE
    return config


def replica_databases(urls: list[str]) -> dict[str, dict]:
    """Database aliases replica_1..N for DATABASE_REPLICA_URLS; tests mirror them to the primary."""
    aliases = {}
    for number, url in enumerate((u for u in urls if u.strip()), start=1):
        config = with_shop_engine(environ.Env.db_url_config(url.strip()))
        config.setdefault("OPTIONS", {}).setdefault("connect_timeout", 2)
        config["CONN_HEALTH_CHECKS"] = True
        config["TEST"] = {"MIRROR": "default"}
        aliases[f"replica_{number}"] = config
    return aliases


def celery_queues() -> tuple[Queue, ...]:
    """One direct exchange per queue name; a worker group consumes some of them (-Q)."""
    return tuple(Queue(name, Exchange(name, type="direct"), routing_key=name) for name in CELERY_QUEUE_NAMES)
