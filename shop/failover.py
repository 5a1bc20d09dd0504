"""The primary database vanished (a failover, a network cut): answer 503, never a 500.

A request whose database call fails with `OperationalError` or `InterfaceError` gets
503 Service Unavailable with `Retry-After`, in the API's error shape under /api/ and as a page
elsewhere. Nothing was committed that the client cannot repeat: a write either committed before
the primary was lost (synchronous replication put it on the standby too, and a retry with the
same Idempotency-Key or form token replays it) or rolled back. Django closes the broken
connection at the end of the request (`CONN_HEALTH_CHECKS`, `close_if_unusable_or_obsolete`),
and the next request connects afresh through the multi-host `DATABASE_URL`, which libpq resolves
to whichever node is writable now (`target_session_attrs=read-write`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template import loader

from shop.api.errors import is_api_request, json_error

logger = logging.getLogger("shop.failover")

DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)


def database_unavailable_response(request: HttpRequest) -> HttpResponse:
    if is_api_request(request.path):
        response = json_error(
            "database_unavailable", "The shop's database is briefly unavailable. Retry with the same Idempotency-Key.", 503
        )
    else:
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
    response["Retry-After"] = str(settings.DATABASE_UNAVAILABLE_RETRY_AFTER)
    return response


def current_database_error() -> BaseException | None:
    """The database error being handled right now, if any (for handler500, which is given none)."""
    error = sys.exc_info()[1]
    return error if isinstance(error, DATABASE_UNAVAILABLE) else None


class DatabaseUnavailableMiddleware:
    """Turns a lost database in a view (storefront, API, admin) into a 503 with Retry-After.

    Errors raised by other middleware (sessions, authentication) reach `shop.views.server_error`,
    which gives the same answer."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DATABASE_UNAVAILABLE):
            return None
        logger.warning("database unavailable: %s %s: %s", request.method, request.path, exception)
        return database_unavailable_response(request)
