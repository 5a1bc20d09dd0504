"""Emptying the test cache without touching anyone else's keys; counting the cache's round trips."""

from contextlib import contextmanager

from django.core.cache import caches


def clear_cache(cache=None) -> None:
    """Forget this cache's keys (the default cache's when None). On Redis only the keys under its
    own prefix: `cache.clear()` would FLUSHDB, wiping parallel test workers' and other CI runs' keys."""
    cache = cache or caches["default"]
    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("*")
    else:
        cache.clear()


class CacheCalls:
    """Round trips to the cache server counted by `count_cache_calls()`."""

    def __init__(self) -> None:
        self.total = 0
        self.commands: list[str] = []


@contextmanager
def count_cache_calls():
    """Count the cache client's round trips, as CaptureQueriesContext counts SQL queries: on Redis
    each packet the client sends and waits for (one command, or one pipeline of many); on the
    local-memory cache each call of the cache's API."""
    from django.core.cache.backends.locmem import LocMemCache
    from redis.connection import AbstractConnection

    calls = CacheCalls()
    original_send = AbstractConnection.send_packed_command

    def send(self, command, check_health=True):
        calls.total += 1
        calls.commands.append(_describe(command))
        return original_send(self, command, check_health)

    patched = {name: getattr(LocMemCache, name) for name in _LOCMEM_CALLS}

    def counting(name):
        def call(self, *args, **kwargs):
            calls.total += 1
            calls.commands.append(name)
            return patched[name](self, *args, **kwargs)

        return call

    AbstractConnection.send_packed_command = send
    for name in _LOCMEM_CALLS:
        setattr(LocMemCache, name, counting(name))
    try:
        yield calls
    finally:
        AbstractConnection.send_packed_command = original_send
        for name, method in patched.items():
            setattr(LocMemCache, name, method)


_LOCMEM_CALLS = ("get", "get_many", "set", "set_many", "add", "incr", "delete", "delete_many", "has_key", "touch")


def _describe(command) -> str:
    parts = command if isinstance(command, list | tuple) else [command]
    text = b"".join(p if isinstance(p, bytes) else bytes(p) for p in parts)
    return " ".join(line.decode(errors="replace") for line in text.split(b"\r\n")[2:7:2])
