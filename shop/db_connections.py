"""Kept database connections, health-checked only when they may have gone stale.

Connections live across requests and tasks (CONN_MAX_AGE) and Django checks one with a
`SELECT 1` (CONN_HEALTH_CHECKS) before its first use in every request: a round trip that was 9 %
of a warm product page and 8 % of the allocator (docs/read-path.md, docs/pipeline.md). A
connection that finished a request or a task less than DATABASE_HEALTH_CHECK_IDLE_SECONDS ago
was working then; it skips the check. One idle for longer (a quiet worker: the server, a
pgbouncer or a firewall may have dropped it) is still checked and replaced before use.

Nothing is lost by the skip: a connection that broke in between fails its first statement, the
request answers 503 (shop.failover) or the task retries (shop.celery.retrying), and Django closes
the connection at the end of that request or task (it recorded the error), as it already does
for one that breaks mid-request.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import connections


def mark_used(**kwargs) -> None:
    """At the end of a request or task: every open connection was usable just now."""
    now = time.monotonic()
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and not connection.errors_occurred:
            connection.shop_used_at = now


def skip_fresh_health_checks(**kwargs) -> None:
    """At the start of a request or task, after Django's close_old_connections(): a connection
    used moments ago needs no `SELECT 1` before its first statement."""
    idle = settings.DATABASE_HEALTH_CHECK_IDLE_SECONDS
    now = time.monotonic()
    for connection in connections.all(initialized_only=True):
        used_at = getattr(connection, "shop_used_at", None)
        if connection.connection is not None and used_at is not None and now - used_at < idle:
            connection.health_check_done = True
