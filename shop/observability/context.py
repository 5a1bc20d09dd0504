"""What this thread, request or task is working on: its request id, user and order number.

Kept in context variables, so each thread and asyncio task has its own. The request middleware
binds a request's id and user; a worker binds the id and order number its task headers carry
(shop.observability.celery); the outbox binds a message's stored values while it sends it, so the
task's headers carry them. Every log line reads them through logs.ContextFilter.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.utils.functional import empty

REQUEST_ID_HEADER = "X-Request-ID"
_WELL_FORMED = re.compile(r"[A-Za-z0-9_-]{1,64}")

request_id_var: ContextVar[str | None] = ContextVar("shop_request_id", default=None)
order_number_var: ContextVar[str | None] = ContextVar("shop_order_number", default=None)
request_var: ContextVar[object | None] = ContextVar(
    "shop_request", default=None
)  # the HttpRequest, for user and channel


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """The client's id when it is at most 64 letters, digits, '-' or '_'; otherwise a fresh one
    (a malformed id is never echoed: it could carry a newline into a log or a header)."""
    if value and _WELL_FORMED.fullmatch(value):
        return value
    return new_request_id()


def current_request_id() -> str | None:
    return request_id_var.get()


def current_order_number() -> str | None:
    return order_number_var.get()


@contextmanager
def bind(
    *, request_id: str | None = None, order_number: str | None = None, request: object | None = None
) -> Iterator[None]:
    """Work on behalf of this request id / order number inside the block; None keeps the current value."""
    tokens = []
    for var, value in ((request_id_var, request_id), (order_number_var, order_number), (request_var, request)):
        if value is not None:
            tokens.append((var, var.set(value)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current_channel() -> str:
    """Where the current work came in: "api" (a request under /api/), "storefront" (any other
    request), or "" outside requests."""
    request = request_var.get()
    if request is None:
        return ""
    return "api" if getattr(request, "path", "").startswith("/api/") else "storefront"


def current_user_id() -> int | None:
    """The signed-in user of the current request, without loading it: only a user the request
    has already read (Django's session user, or the one DRF authenticated) is reported."""
    request = request_var.get()
    if request is None:
        return None
    user = request.__dict__.get("user")
    if user is None:
        return None
    wrapped = getattr(user, "_wrapped", user)  # SimpleLazyObject: `empty` until someone read it
    if wrapped is not empty and getattr(wrapped, "is_authenticated", False):
        return wrapped.pk
    return None
