"""The catalog's block of the staff dashboard (shop.dashboard): products about to run out.

Stock levels come from inventory's selector, titles and SKUs from the catalog's own table; the
block shows to staff who may see stock (`inventory.view_stockitem`: Catalog managers, Fulfilment).
"""

from __future__ import annotations

from datetime import datetime

from catalog.models import Product
from inventory import selectors as inventory_selectors
from shop.dashboard import Block, register


def low_stock_figures(*, now: datetime, memo: dict) -> dict:
    levels = inventory_selectors.list_low_stock()
    products = {p["id"]: p for p in Product.objects.filter(pk__in=[pk for pk, _ in levels]).values("id", "title", "sku")}
    return {
        "threshold": inventory_selectors.LOW_STOCK_THRESHOLD,
        "products": [{**products[pk], "available": available} for pk, available in levels if pk in products],
    }


register(Block("low_stock", "Running out", "inventory.view_stockitem", "catalog/dashboard/low_stock.html",
               low_stock_figures, order=30))  # fmt: skip
