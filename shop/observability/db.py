"""Database timings without replacing the database backend.

Every connection (the primary and each replica) gets an execute wrapper when it connects, so
the settings' connect_timeout, the replica router and multi-host URLs work as before.
"""

from __future__ import annotations

import time

from django.db import DatabaseError
from django.db.backends.signals import connection_created

from shop.observability.metrics import db_errors, db_query_duration


def time_statement(execute, sql, params, many, context):
    alias = context["connection"].alias
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    except DatabaseError as exc:
        db_errors.labels(alias, exc.__class__.__name__).inc()
        raise
    finally:
        db_query_duration.labels(alias).observe(time.perf_counter() - started)


def _on_connection_created(sender, connection, **kwargs) -> None:
    # First in the list: a caller's own `with connection.execute_wrapper(...)` pops the last one.
    if time_statement not in connection.execute_wrappers:
        connection.execute_wrappers.insert(0, time_statement)


def install() -> None:
    connection_created.connect(_on_connection_created, weak=False, dispatch_uid="shop.observability.db")
