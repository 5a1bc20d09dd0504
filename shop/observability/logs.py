"""Log lines that say which request and order they belong to.

`ContextFilter` (on the console handler) adds `request_id`, `user_id` and `order_number` to
every record, from shop.observability.context. Two formatters: `plain` (the default, for
`make run`) and `json`, one object per line (python-json-logger) with time, level, logger,
message, the three ids and the exception, chosen by LOG_FORMAT=json (the Docker image's default).
"""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter

from shop.observability import context

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = "%(levelname)s %(name)s %(message)s %(request_id)s %(user_id)s %(order_number)s"


class ContextFilter(logging.Filter):
    """Adds request_id, user_id and order_number (None when there is none) to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            # django.request logs a 4xx/5xx after the middleware has returned: its record carries the request.
            record.request_id = context.current_request_id() or getattr(
                getattr(record, "request", None), "request_id", None
            )
        if not hasattr(record, "order_number"):
            record.order_number = context.current_order_number()
        if not hasattr(record, "user_id"):
            record.user_id = context.current_user_id()
        return True


def json_formatter() -> JsonFormatter:
    """The JSON formatter (used by settings.LOGGING through its "()" factory key)."""
    return JsonFormatter(
        JSON_FIELDS,
        rename_fields={"levelname": "level", "name": "logger", "exc_info": "exception"},
        timestamp="time",  # ISO 8601 in UTC, with microseconds
    )


def logging_config(*, log_format: str, level: str) -> dict:
    """settings.LOGGING: the console in the chosen format, every line with its context."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "shop.observability.logs.ContextFilter"}},
        "formatters": {
            "plain": {"format": PLAIN_FORMAT},
            "json": {"()": "shop.observability.logs.json_formatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json" if log_format == "json" else "plain",
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        # stripe logs each request
        "loggers": {"django_redis": {"level": "ERROR"}, "stripe": {"level": "WARNING"}},
    }
