"""The filters and sorts of the database backends (PostgreSQL and the embedded fallback) as ORM."""

from __future__ import annotations

from django.db import connections
from django.db.models import Q, QuerySet

from catalog.models import Brand, Product
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
    if filters.price_min is not None or filters.price_max is not None:
        products = products.filter(price_condition(filters.price_min, filters.price_max))
    if filters.in_stock:
        products = products.filter(pk__in=inventory_selectors.in_stock_product_ids())
    for name, chosen in filters.attributes:
        products = products.filter(attribute_condition(name, chosen, alias=alias))
    return products


def price_condition(low, high) -> Q:
    """A price from `low` to `high`, both included; None: no bound on that side."""
    return (Q(price__gte=low) if low is not None else Q()) & (Q(price__lte=high) if high is not None else Q())


def attribute_condition(name: str, chosen: tuple[str, ...], *, alias: str) -> Q:
    """Any of these values of one attribute. PostgreSQL: containment (@>), which the attributes'
    GIN index takes; SQLite: a JSON key lookup."""
    on_postgresql = connections[alias].vendor == "postgresql"
    match = Q()
    for value in chosen:
        match |= Q(attributes__contains={name: value}) if on_postgresql else Q(**{f"attributes__{name}": value})
    return match


def facet_condition(filters: SearchFilters, facet: str, *, alias: str) -> Q:
    """The condition the customer's choice in one facet ("brands", "price_bands" or
    "attributes:<name>", as `relaxed_filters` names them) puts on a product: `filters` is
    `filters` without that choice and this condition. The brands by a subquery of their ids, so
    a row is checked without a join."""
    if facet == "brands":
        return Q(brand_id__in=Brand.objects.using(alias).filter(slug__in=filters.brands).values("pk"))
    if facet == "price_bands":
        return price_condition(filters.price_min, filters.price_max)
    name = facet.split(":", 1)[1]
    return attribute_condition(name, dict(filters.attributes)[name], alias=alias)
