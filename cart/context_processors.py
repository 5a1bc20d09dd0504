"""The header's cart count, computed only when a template shows it."""

from __future__ import annotations

import functools

from django.http import HttpRequest

from cart import selectors
from shop.guest import guest_token_from_request


def cart_summary(request: HttpRequest) -> dict:
    """{"cart_count": a callable}: the template calls it, so a page that does not show the count
    pays nothing; it runs its queries once per request however often the template asks, and none
    for a visitor with neither a signed-in session nor a guest cookie."""

    @functools.cache
    def cart_count() -> int:
        user = getattr(request, "user", None)  # absent when a page is rendered outside the middleware
        return selectors.count_items_for(user=user, guest_token=guest_token_from_request(request))

    return {"cart_count": cart_count}
