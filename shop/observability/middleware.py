"""The first middleware: one request id, one latency observation and one access-log line per request."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from shop.observability import context
from shop.observability.metrics import http_request_duration

access_logger = logging.getLogger("shop.request")
CONTROL_CHARACTERS = {code: f"\\x{code:02x}" for code in range(32)}
UNRESOLVED = "<unresolved>"  # no URL pattern matched (a 404): one label value, not one per path


class ObservabilityMiddleware:
    """Binds the request id (the client's well-formed X-Request-ID, or a fresh one) for the
    request's log lines and the tasks it sends, returns it in X-Request-ID, observes
    shop_http_request_duration_seconds{view, method, status} and logs one line per request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        request_id = context.accept_request_id(request.headers.get(context.REQUEST_ID_HEADER))
        request.request_id = request_id
        with context.bind(request_id=request_id, request=request):
            response = self.get_response(request)
            elapsed = time.perf_counter() - started
            match = request.resolver_match
            view = (match.view_name or match._func_path) if match is not None else UNRESOLVED
            http_request_duration.labels(view, request.method, str(response.status_code)).observe(elapsed)
            if access_logger.isEnabledFor(logging.INFO):
                path = request.path.translate(CONTROL_CHARACTERS)  # a %0A in the URL never splits a line
                access_logger.info(
                    "%s %s %s %.1f ms", request.method, path, response.status_code, elapsed * 1000,
                    extra={"method": request.method, "path": path, "status": response.status_code,
                           "duration_ms": round(elapsed * 1000, 2), "view": view},
                )  # fmt: skip
        response[context.REQUEST_ID_HEADER] = request_id
        return response
