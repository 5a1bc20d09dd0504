"""The catalog's block of the staff dashboard (shop.dashboard): products about to run out.

Stock levels and thresholds come from inventory's selector, titles and SKUs from the catalog's
own table (catalog.selectors.list_low_stock_products, shared with the daily digest); the
block shows to staff who may see stock (`inventory.view_stockitem`: Catalog managers, Fulfilment).
"""

from __future__ import annotations

from datetime import datetime

from catalog import selectors
from inventory import selectors as inventory_selectors
from shop.dashboard import Block, register

DASHBOARD_LOW_STOCK_ROWS = 10


def low_stock_figures(*, now: datetime, memo: dict) -> dict:
    return {
        "threshold": inventory_selectors.default_low_stock_threshold(),
        "products": selectors.list_low_stock_products(limit=DASHBOARD_LOW_STOCK_ROWS),
    }


register(Block("low_stock", "Running out", "inventory.view_stockitem", "catalog/dashboard/low_stock.html",
               low_stock_figures, order=30))  # fmt: skip
