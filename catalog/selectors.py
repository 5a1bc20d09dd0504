"""Every read of the catalog that pages and other apps need.

Product pages, listings and search tolerate a few seconds of lag, so their selectors opt in to a
read replica (shop.db_router): ``@replica_ok`` covers the queries they run, and the ones that
return a lazy queryset pin it with ``.using(choose_read_alias())`` so the page's later
evaluation (pagination) reads where the decision was taken. A write path that needs the current
row reads it inside its transaction, where the router always answers with the primary.
"""

from __future__ import annotations

from django.core.cache import cache
from django.db.models import QuerySet

from catalog.models import Category, Product
from shop.db_router import choose_read_alias, replica_ok
from shop.exceptions import NotFound

MENU_CACHE_KEY = "catalog:menu:v1"
MENU_CACHE_SECONDS = 300


class ProductNotFound(NotFound):
    code = "product_not_found"
    default_message = "This product does not exist or is no longer sold."


class CategoryNotFound(NotFound):
    code = "category_not_found"
    default_message = "This category does not exist."


def _listed_products() -> QuerySet[Product]:
    return Product.objects.filter(is_active=True).select_related("category")


@replica_ok
def list_new_products(*, limit: int = 12) -> list[Product]:
    """The newest active products, for the home page (one query)."""
    return list(_listed_products().order_by("-created_at", "-id")[:limit])


@replica_ok
def list_products_in_category(*, category: Category) -> QuerySet[Product]:
    """Active products of a category and its direct children, newest first; paginate the result.

    May read a replica: the queryset carries the alias chosen now.
    """
    ids = [category.pk, *category.children.values_list("pk", flat=True)]
    return _listed_products().filter(category_id__in=ids).order_by("-created_at", "-id").using(choose_read_alias())


@replica_ok
def search_products(*, query: str) -> QuerySet[Product]:
    """The embedded search: title contains every word. The search issue replaces this backend.

    May read a replica: the queryset carries the alias chosen now.
    """
    products = _listed_products()
    for word in query.split()[:8]:
        products = products.filter(title__icontains=word[:50])
    return products.order_by("title", "id").using(choose_read_alias())


@replica_ok
def get_category(*, slug: str) -> Category:
    try:
        return Category.objects.select_related("parent").get(slug=slug)
    except Category.DoesNotExist as exc:
        raise CategoryNotFound() from exc


@replica_ok
def get_product(*, slug: str) -> Product:
    """An active product by slug. Raises ProductNotFound."""
    try:
        return _listed_products().get(slug=slug)
    except Product.DoesNotExist as exc:
        raise ProductNotFound() from exc


def list_menu_categories() -> list[dict]:
    """Top-level categories for the header menu, cached for a few minutes (a plain list of dicts)."""
    menu = cache.get(MENU_CACHE_KEY)
    if menu is None:
        menu = [
            {"name": c.name, "url": c.get_absolute_url()}
            for c in Category.objects.filter(parent__isnull=True).order_by("position", "name")[:12]
        ]
        cache.set(MENU_CACHE_KEY, menu, MENU_CACHE_SECONDS)
    return menu
