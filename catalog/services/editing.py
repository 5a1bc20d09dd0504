"""Creating and changing one product from outside the admin (the catalog write API).

Values are checked by catalog.services.product_values (the CSV import uses the same rules); each
change raises the product's version and, on commit, moves its cached data and re-indexes it, as
an admin edit does (schedule_product_invalidation).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.db import transaction

from catalog import selectors
from catalog.models import Product
from catalog.services.product_values import Lookups, changed_values, clean_product_values
from catalog.services.products import schedule_product_invalidation
from shop import idempotency
from shop.exceptions import DomainError
from shop.idempotency import Created, IdempotencyRequest


class ProductVersionMismatch(DomainError):
    """An update based on a version of the product that is no longer the current one."""

    code = "version_mismatch"
    status_code = 412

    def __init__(self, *, expected: int, current: int) -> None:
        self.current = current
        super().__init__(
            f"The product is at version {current}, not {expected}: someone changed it. "
            "Read it again, then send your change with If-Match naming the new version."
        )


@transaction.atomic(durable=True)
def create_product(*, values: Mapping[str, object], request: IdempotencyRequest | None = None) -> Created[Product]:
    """Create a product from outside values (sku, title, price and category required).

    One durable transaction. With an idempotency `request`, a replay returns the product the first
    request made (created=False). On commit: cache invalidation, the listing generation and the
    search index, as for an admin edit. Raises ValidationError naming every bad field (an SKU or
    slug already taken included), IdempotencyKeyReused.
    """
    if (ref := idempotency.claim(request)) is not None:
        return Created(Product.objects.get(pk=idempotency.referenced_pk(ref)), created=False)
    cleaned, errors = clean_product_values(values, lookups=Lookups.load([values]))
    _check_unique(cleaned, errors, product_id=None)
    if errors:
        raise ValidationError(errors)
    product = Product(**cleaned)
    product.full_clean(validate_unique=False)  # the rules above are the model's too; this is the last line
    product.save()
    schedule_product_invalidation(product_id=product.pk, slugs=[product.slug], bump=False)
    idempotency.complete(request, product)
    return Created(product, created=True)


@transaction.atomic(durable=True)
def update_product(*, product_id: int, values: Mapping[str, object], expected_version: int | None) -> Product:
    """Change the given fields of a product (a partial update); returns it as saved.

    Locks the product's row; with `expected_version` the change applies only to that version
    (optimistic concurrency: ProductVersionMismatch otherwise, nothing written). Values equal to
    the stored ones change nothing and raise no version. On commit: cache invalidation under the
    old and new slug, the listing generation and the search index. Raises ProductNotFound,
    ProductVersionMismatch, ValidationError naming every bad field.
    """
    product = selectors.lock_product(product_id=product_id)
    if expected_version is not None and product.version != expected_version:
        raise ProductVersionMismatch(expected=expected_version, current=product.version)
    cleaned, errors = clean_product_values(values, lookups=Lookups.load([values]), current=product)
    changed = changed_values(product, cleaned)
    _check_unique(changed, errors, product_id=product.pk)
    if errors:
        raise ValidationError(errors)
    if not changed:
        return product
    previous_slug = product.slug
    for name, value in changed.items():
        setattr(product, name, value)
    product.full_clean(validate_unique=False)
    product.version += 1  # the row is locked: no concurrent bump is lost
    product.save(update_fields=[*changed, "version", "updated_at"])
    schedule_product_invalidation(product_id=product.pk, slugs=[previous_slug, product.slug], bump=False)
    return product


def _check_unique(cleaned: dict[str, object], errors: dict[str, list[str]], *, product_id: int | None) -> None:
    """Name the SKU or slug already used by another product (the unique indexes stay the last line)."""
    for name in ("sku", "slug"):
        if name in cleaned and name not in errors:
            taken = Product.objects.filter(**{name: cleaned[name]}).exclude(pk=product_id)
            if taken.exists():
                errors[name] = [f"Another product already has this {name.upper() if name == 'sku' else name}."]
