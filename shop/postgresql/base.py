"""Django's PostgreSQL backend, with the connection health check skipped when it cannot help.

Connections live across requests and tasks (CONN_MAX_AGE) and Django checks one with a
`SELECT 1` (CONN_HEALTH_CHECKS) before its first use in every request and task: a round trip that
was 9 % of a warm product page and 8 % of the allocator (docs/read-path.md, docs/pipeline.md).
A connection that ran a statement less than DATABASE_HEALTH_CHECK_IDLE_SECONDS ago was working
then and skips the check; one unused for longer (a replica this thread seldom reads, a quiet
worker: the server, a pgbouncer or a firewall may have dropped it) is still checked and replaced
before use. What counts is the last statement, not the last request: a thread serving cached
pages every few milliseconds still checks the connection it has not touched for a minute.

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
    used_at: float | None = None  # monotonic time of the last cursor opened on this connection

    def create_cursor(self, name=None):
        self.used_at = time.monotonic()
        return super().create_cursor(name)

    def close_if_unusable_or_obsolete(self) -> None:
        super().close_if_unusable_or_obsolete()
        recently = self.used_at is not None and time.monotonic() - self.used_at < settings.DATABASE_HEALTH_CHECK_IDLE_SECONDS
        if self.connection is not None and recently:
            self.health_check_done = True
