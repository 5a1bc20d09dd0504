"""Django's PostgreSQL backend, with the connection health check skipped when it cannot help.

Connections live across requests and tasks (CONN_MAX_AGE) and Django checks one with a
`SELECT 1` (CONN_HEALTH_CHECKS) before its first use in every request and task: a round trip that
was 9 % of a warm product page and 8 % of the allocator (docs/read-path.md, docs/pipeline.md).
Django calls `close_if_unusable_or_obsolete()` at the start and at the end of each request (and
shop.celery around each task), so the time since its last call is how long the connection sat
idle. One idle for less than DATABASE_HEALTH_CHECK_IDLE_SECONDS was working moments ago and skips
the check; one idle for longer (a quiet worker: the server, a pgbouncer or a firewall may have
dropped it) is still checked and replaced before use.

Nothing is lost by the skip: a connection that broke in between fails its first statement, the
request answers 503 (shop.failover) or the task retries (shop.celery.retrying), and Django drops
the connection at the end of that request or task (it recorded the error), as it already does
for one that breaks mid-request. settings.py names this module as the ENGINE of every
PostgreSQL alias.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    recycled_at: float | None = None

    def close_if_unusable_or_obsolete(self) -> None:
        now = time.monotonic()
        idle = None if self.recycled_at is None else now - self.recycled_at
        self.recycled_at = now
        super().close_if_unusable_or_obsolete()
        if self.connection is not None and idle is not None and idle < settings.DATABASE_HEALTH_CHECK_IDLE_SECONDS:
            self.health_check_done = True
