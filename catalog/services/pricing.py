"""Price changes: the storefront and the API show the new price on the next request."""

from __future__ import annotations

from decimal import Decimal

from catalog.models import Product
from catalog.services.editing import update_product


def update_product_price(*, product_id: int, price: Decimal, compare_at_price: Decimal | None = None) -> Product:
    """Set a product's price (and was price); its cached data is dropped on commit.

    One durable transaction (update_product's). Raises ProductNotFound, or ValidationError naming
    the field (negative price, too many decimals, was price below price).
    """
    return update_product(
        product_id=product_id, values={"price": price, "compare_at_price": compare_at_price}, expected_version=None
    )
