from django.http import HttpRequest

from catalog import selectors


def menu_categories(request: HttpRequest) -> dict:
    """The header's category menu (lazy: evaluated only when a template shows it)."""
    return {"menu_categories": selectors.list_menu_categories}
