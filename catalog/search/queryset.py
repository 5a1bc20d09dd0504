"""The filters and sorts of the database backends (PostgreSQL and the embedded fallback) as ORM."""

from __future__ import annotations

from django.db import connections
from django.db.models import Q, QuerySet

from catalog.models import Product
from catalog.search.base import SearchFilters
from inventory import selectors as inventory_selectors

ORDERINGS = {
    "popularity": ("-popularity", "-id"),
    "price_asc": ("price", "id"),
    "price_desc": ("-price", "-id"),
    "newest": ("-created_at", "-id"),
}


def filtered_products(filters: SearchFilters, *, alias: str) -> QuerySet[Product]:
    """Active products on `alias` that pass every filter. Inactive products never pass."""
    products = Product.objects.using(alias).filter(is_active=True)
    if filters.category_ids is not None:
        products = products.filter(category_id__in=filters.category_ids)
    if filters.brands:
        products = products.filter(brand__slug__in=filters.brands)
    if filters.price_min is not None:
        products = products.filter(price__gte=filters.price_min)
    if filters.price_max is not None:
        products = products.filter(price__lte=filters.price_max)
    if filters.in_stock:
        products = products.filter(pk__in=inventory_selectors.in_stock_product_ids())
    on_postgresql = connections[alias].vendor == "postgresql"
    for name, chosen in filters.attributes:
        # PostgreSQL: containment (@>) uses the attributes' GIN index; SQLite: a JSON key lookup.
        match = Q()
        for value in chosen:
            match |= Q(attributes__contains={name: value}) if on_postgresql else Q(**{f"attributes__{name}": value})
        products = products.filter(match)
    return products
