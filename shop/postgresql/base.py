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

import sys
import time

from django.conf import settings
from django.db.backends.postgresql import base, operations


class PreparingCursor(base.ServerBindingCursor):
    """Binds parameters on the server and prepares each statement it runs (psycopg keeps the
    connection's last `prepared_max`, 100, and runs a known one by name)."""

    def execute(self, query, params=None, *, prepare=True, **kwargs):
        return super().execute(query, params, prepare=prepare, **kwargs)


class DatabaseOperations(operations.DatabaseOperations):
    def last_executed_query(self, cursor, sql, params):
        if isinstance(cursor, PreparingCursor):  # a prepared run keeps no query text to show
            return self.compose_sql(sql, params)
        return super().last_executed_query(cursor, sql, params)


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
    used_at: float | None = None  # monotonic time of the last cursor opened on this connection

    def create_cursor(self, name=None):
        self.used_at = time.monotonic()
        return super().create_cursor(name)

    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        if connection.prepare_threshold is None:
            # Django turns psycopg's preparing off (None) unless OPTIONS names a threshold; a
            # threshold never reached prepares only what PreparingCursor asks for by name.
            connection.prepare_threshold = sys.maxsize
        return connection

    def prepared_cursor(self):
        """A cursor whose statements are prepared (PreparingCursor, not Django's default
        ClientCursor, which never prepares): PostgreSQL parses and plans each once per
        connection, not on every run. For the few statements every page runs (the availability of
        the products shown): planning was about 70 of its 190 microseconds. Wrapped as `cursor()`
        is (queries are counted and timed, errors are Django's); a statement here must be valid
        with server-side binding (no parameter where PostgreSQL takes none, such as in SET)."""
        self.close_if_health_check_failed()
        self.ensure_connection()
        raw = self.connection
        factory, raw.cursor_factory = raw.cursor_factory, PreparingCursor
        try:
            return self.cursor()
        finally:
            raw.cursor_factory = factory

    def close_if_unusable_or_obsolete(self) -> None:
        super().close_if_unusable_or_obsolete()
        recently = self.used_at is not None and time.monotonic() - self.used_at < settings.DATABASE_HEALTH_CHECK_IDLE_SECONDS
        if self.connection is not None and recently:
            self.health_check_done = True
