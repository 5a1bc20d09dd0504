"""Every read of the inventory: availability for pages, levels, the ledger, and the row locks of the services.

These read wherever the caller's read scope says (shop.db_router): the primary by default, a
replica only when the caller opted in with ``replica_ok`` (catalog pages showing a label do; a
stock decision never does, and inside a service's transaction the router always answers with
the primary).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import connections, models, router, transaction
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Coalesce

from inventory.models import StockItem, StockMovement
from shop.db_router import replica_ok
from shop.sql import quoted

LOW_STOCK_THRESHOLD = 5  # at most this many units left: the storefront's "Only n left" (staff: list_low_stock)


class StockStatus(models.TextChoices):
    IN_STOCK = "in_stock", "In stock"
    LOW_STOCK = "low_stock", "Low stock"
    OUT_OF_STOCK = "out_of_stock", "Out of stock"


@dataclass(frozen=True)
class Availability:
    """What a page shows for one product: a status, the units left and the label."""

    status: str
    quantity: int
    label: str


def availability_for(*, quantity: int) -> Availability:
    """The availability shown for `quantity` units (the one rule for labels)."""
    if quantity <= 0:
        return Availability(status=StockStatus.OUT_OF_STOCK.value, quantity=0, label="Out of stock")
    if quantity <= LOW_STOCK_THRESHOLD:
        return Availability(status=StockStatus.LOW_STOCK.value, quantity=quantity, label=f"Only {quantity} left")
    return Availability(status=StockStatus.IN_STOCK.value, quantity=quantity, label="In stock")


def get_availability(*, product_ids: list[int]) -> dict[int, Availability]:
    """Availability of each product id, in one query (none for an empty list).

    A product without a stock row is out of stock. Every id asked for is in the result.
    """
    levels = get_levels(product_ids=product_ids)
    return {product_id: availability_for(quantity=levels[product_id]) for product_id in product_ids}


def get_levels(*, product_ids: list[int]) -> dict[int, int]:
    """Units available of each product id, in one query (none for an empty list); 0 when never stocked.

    Every storefront page asks this, so it is one plain statement on the database the router
    names (as the ORM would ask): building the ORM's query cost three times the query itself
    (about 0.4 ms of a 3 ms product page, docs/read-path.md).
    """
    if not product_ids:
        return {}
    ids = sorted(set(product_ids))
    alias = router.db_for_read(StockItem)
    connection = connections[alias]
    table, (product, available) = quoted(StockItem, "product", "available", using=alias)
    if connection.vendor == "postgresql":  # one statement text whatever the number of ids
        # the ids as one array literal: psycopg adapting a list looks at each of its items
        where, params = f"{product} = ANY(%s::bigint[])", ["{" + ",".join(map(str, ids)) + "}"]
    else:
        where, params = f"{product} IN ({', '.join(['%s'] * len(ids))})", ids
    # a prepared statement on PostgreSQL: planned once per connection (shop/postgresql/base.py)
    with getattr(connection, "prepared_cursor", connection.cursor)() as cursor:
        cursor.execute(f"SELECT {product}, {available} FROM {table} WHERE {where}", params)  # noqa: S608 (quoted names)
        levels = dict(cursor.fetchall())
    return {product_id: levels.get(product_id, 0) for product_id in product_ids}


def get_level(*, product_id: int) -> int:
    """Units available now for one product; 0 when it has no stock row (never stocked)."""
    level = StockItem.objects.filter(product_id=product_id).values_list("available", flat=True).first()
    return level or 0


def list_movements(*, product_id: int) -> QuerySet[StockMovement]:
    """The product's stock ledger, newest first, with the actor joined (for admin and audits)."""
    return StockMovement.objects.filter(product_id=product_id).select_related("actor").order_by("-created_at", "-id")


def lock_stock_items(*, product_ids: list[int]) -> list[StockItem]:
    """Lock the stock rows of these products (FOR UPDATE OF the stock row), in product id order.

    Needs the caller's open transaction; the fixed order means two writers never deadlock.
    Products without a stock row are simply absent from the result.
    """
    assert transaction.get_connection().in_atomic_block, "lock_stock_items() needs an open transaction"
    queryset = (
        StockItem.objects.filter(product_id__in=set(product_ids)).order_by("product_id").select_for_update(of=("self",))
    )
    return list(queryset)  # evaluate now: a lazy queryset takes no lock


def product_ids_by_stock_status(*, status: str) -> QuerySet:
    """Ids of products whose stock row has this status, as a subquery for `product__in` / `pk__in`.

    Only products with a stock row are covered: a product never stocked is out of stock too, so a
    list of *products* that wants every out-of-stock one excludes `in_stock_product_ids()` instead.
    The queryset names no database, so it can sit inside a query on any alias.
    """
    items = StockItem.objects.all()
    if status == StockStatus.IN_STOCK:
        items = items.filter(available__gt=LOW_STOCK_THRESHOLD)
    elif status == StockStatus.LOW_STOCK:
        items = items.filter(available__gt=0, available__lte=LOW_STOCK_THRESHOLD)
    elif status == StockStatus.OUT_OF_STOCK:
        items = items.filter(available__lte=0)
    else:
        raise ValueError(f"Unknown stock status {status!r}")
    return items.values_list("product_id", flat=True)


def in_stock_product_ids() -> QuerySet:
    """Ids of products with at least one unit (in stock or low stock), as a subquery for `pk__in`."""
    return StockItem.objects.filter(available__gt=0).values_list("product_id", flat=True)


@dataclass(frozen=True)
class LowStock:
    """A stocked product at or below its low-stock threshold (its own, or the shop's default)."""

    product_id: int
    available: int
    threshold: int


def default_low_stock_threshold() -> int:
    """The threshold of products without their own (INVENTORY_LOW_STOCK_THRESHOLD)."""
    return settings.INVENTORY_LOW_STOCK_THRESHOLD


@replica_ok
def list_low_stock(*, limit: int | None = 10) -> list[LowStock]:
    """The stocked products at or below their threshold (StockItem.low_stock_threshold, or the
    default when it is empty), fewest units first, at most `limit` (None: all). One query, on the
    (available, product) index: the fewest units come first, so the scan stops early.
    The staff dashboard's "Running out" and the daily low-stock digest."""
    default = default_low_stock_threshold()
    rows = (
        StockItem.objects.filter(
            Q(low_stock_threshold__isnull=True, available__lte=default) | Q(available__lte=F("low_stock_threshold"))
        )
        .annotate(threshold=Coalesce("low_stock_threshold", Value(default)))
        .order_by("available", "product_id")
        .values_list("product_id", "available", "threshold")
    )
    if limit is not None:
        rows = rows[:limit]
    return [LowStock(product_id=p, available=a, threshold=t) for p, a, t in rows]
