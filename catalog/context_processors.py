from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from catalog import selectors


def menu_categories(request: HttpRequest) -> dict:
    """The header's category menu (lazy: evaluated only when a template shows it), and the
    add-to-cart form's address, reversed once per page rather than once per product card."""
    return {"menu_categories": selectors.list_menu_categories, "cart_add_url": SimpleLazyObject(lambda: reverse("cart:add"))}
