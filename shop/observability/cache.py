"""django-redis's client with a timing of each call (shop_cache_operation_duration_seconds).

A subclass of django-redis's DefaultClient (shop.conf.redis_cache_config names it as
CLIENT_CLASS), so the backend and its options (ignored errors, socket timeouts) are unchanged.
"""

from __future__ import annotations

import time

from django_redis.client import DefaultClient

from shop.observability.metrics import cache_operation_duration

TIMED = ("get", "set", "add", "delete", "get_many", "set_many", "delete_many", "incr", "decr", "touch", "has_key")


def _timed(name: str):
    inner = getattr(DefaultClient, name)
    observe = cache_operation_duration.labels(name).observe

    def method(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return inner(self, *args, **kwargs)
        finally:
            observe(time.perf_counter() - started)

    method.__name__ = name
    method.__doc__ = inner.__doc__
    return method


class TimedClient(DefaultClient):
    """django_redis.client.DefaultClient whose calls are timed by operation."""


for _name in TIMED:
    setattr(TimedClient, _name, _timed(_name))
