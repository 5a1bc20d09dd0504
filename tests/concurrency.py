"""Helpers of the tests against the real PostgreSQL: N threads released together, and the
primary's connection arguments for a second connection of a test's own."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection, connections


def run_concurrently(target: Callable[[int], object], count: int) -> list:
    """Run target(0..count-1) in threads released together by a barrier; return each result or
    exception. Every thread closes its own database connection."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = target(index)
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a thread is still running"
    return results


def primary_connection_args(*, dbname: str | None = None) -> dict:
    """psycopg.connect() arguments for the primary of the `default` alias (its test database, or
    `dbname`): a connection outside Django's, to end a session or read the server as it is."""
    primary = connections["default"].settings_dict
    return {"host": primary["HOST"], "port": primary["PORT"] or 5432, "user": primary["USER"],
            "password": primary["PASSWORD"], "dbname": dbname or primary["NAME"]}  # fmt: skip
