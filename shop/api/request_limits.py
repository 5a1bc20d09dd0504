"""The size bound of API request bodies, before anything reads them (docs/security.md).

``ApiBodySizeMiddleware``: a body under /api/ whose Content-Length is above API_MAX_BODY_BYTES
is answered 413 in the API's error shape. The parser (shop.api.parsers) bounds what it reads
too, for bodies without a length.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from shop.api.errors import is_api_request, json_error
from shop.api.parsers import too_large_message


def payload_too_large_response() -> HttpResponse:
    return json_error("payload_too_large", too_large_message(), 413)


class ApiBodySizeMiddleware:
    """413 for an API request announcing a body above the limit; other paths are Django's business."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_request(request.path):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > settings.API_MAX_BODY_BYTES:
                return payload_too_large_response()
        return self.get_response(request)
