"""DRF's JSON parser with bounds on the body's size and nesting (docs/security.md).

``BoundedJSONParser`` (the default parser) reads at most API_MAX_BODY_BYTES (a chunked body
without Content-Length is cut there too: 413) and refuses JSON nested deeper than
API_MAX_JSON_DEPTH with a 400 ``malformed_request``, where the standard parser's recursion
overflowed into a 500. Kept free of shop.api.errors: DRF imports the parser while it builds
APIView, so this module must not import DRF's views.
"""

from __future__ import annotations

import json

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import JSONParser


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "payload_too_large"

    def __init__(self) -> None:
        super().__init__(too_large_message())


def too_large_message() -> str:
    return f"The request body is larger than {settings.API_MAX_BODY_BYTES} bytes."


def _depth_exceeds(value, limit: int) -> bool:
    """True when containers nest deeper than `limit` (iterative: no recursion to overflow)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with a size and a nesting bound (module docstring)."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge()
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        depth = settings.API_MAX_JSON_DEPTH
        try:
            data = json.loads(raw.decode(encoding), parse_constant=_refuse_constant)
        except RecursionError as exc:
            raise exceptions.ParseError(f"JSON nested deeper than {depth} levels.") from exc
        except ValueError as exc:  # includes UnicodeDecodeError
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc
        if _depth_exceeds(data, depth):
            raise exceptions.ParseError(f"JSON nested deeper than {depth} levels.")
        return data


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")  # NaN, Infinity: DRF's strict parser refuses them too
