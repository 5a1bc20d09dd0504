"""One request, one read of the catalog's listing generation (catalog.cache.request_scope)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from catalog import cache as catalog_cache


class CatalogCacheMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with catalog_cache.request_scope():
            return self.get_response(request)
