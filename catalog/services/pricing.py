"""Price changes: the storefront and the API show the new price on the next request."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from catalog.models import Product
from catalog.selectors import ProductNotFound
from catalog.services.products import schedule_product_invalidation


@transaction.atomic(durable=True)
def update_product_price(*, product_id: int, price: Decimal, compare_at_price: Decimal | None = None) -> Product:
    """Set a product's price (and was price); its cached data is dropped on commit.

    Raises ProductNotFound, or ValidationError naming the field (negative price, was price below price).
    """
    product = Product.objects.select_for_update(of=("self",)).filter(pk=product_id).first()
    if product is None:
        raise ProductNotFound()
    product.price, product.compare_at_price = price, compare_at_price
    product.full_clean(validate_unique=False)
    product.version += 1
    product.save(update_fields=["price", "compare_at_price", "version", "updated_at"])  # locked: no lost bump
    # on commit: its cached data moves to the new version; the search index carries the price too
    schedule_product_invalidation(product_id=product.pk, slugs=[product.slug], bump=False)
    return product
