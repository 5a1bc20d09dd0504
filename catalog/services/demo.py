"""Every write of the catalog app."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils.text import slugify

from catalog.models import Category, Product

DEMO_SKU_PREFIX = "DEMO-"
DEMO_CATEGORIES = {
    "Electronics": ["Phones", "Laptops", "Headphones", "Cameras"],
    "Home & Kitchen": ["Cookware", "Furniture", "Lighting", "Bedding"],
    "Fashion": ["Shoes", "Jackets", "Bags", "Watches"],
    "Sports & Outdoors": ["Cycling", "Camping", "Running", "Fitness"],
    "Books": ["Fiction", "Science", "Cooking", "Travel"],
    "Toys & Games": ["Board games", "Puzzles", "Building sets", "Outdoor toys"],
}
_ADJECTIVES = ["Classic", "Compact", "Deluxe", "Eco", "Essential", "Lightweight", "Premium", "Pro", "Smart", "Urban"]
_COLOURS = ["Black", "Blue", "Green", "Grey", "Red", "Sand", "White"]


@dataclass(frozen=True)
class DemoCatalogResult:
    categories_created: int
    products_created: int
    products_total: int


def _demo_categories() -> list[Category]:
    """Create the demo category tree once (in bulk); return the leaf categories in a stable order."""
    parents = [
        Category(name=name, slug=slugify(name), position=position) for position, name in enumerate(DEMO_CATEGORIES)
    ]
    Category.objects.bulk_create(parents, ignore_conflicts=True)
    parent_by_slug = Category.objects.in_bulk([p.slug for p in parents], field_name="slug")
    leaves = [
        Category(name=child, slug=slugify(f"{name}-{child}"), parent=parent_by_slug[slugify(name)], position=position)
        for name, children in DEMO_CATEGORIES.items()
        for position, child in enumerate(children)
    ]
    Category.objects.bulk_create(leaves, ignore_conflicts=True)
    leaf_by_slug = Category.objects.in_bulk([leaf.slug for leaf in leaves], field_name="slug")
    return [leaf_by_slug[leaf.slug] for leaf in leaves]


def _demo_product(number: int, category: Category) -> Product:
    rng = random.Random(number)  # deterministic: the same number always gives the same product
    noun = category.name.rstrip("s") if category.name.endswith("s") else category.name
    title = f"{rng.choice(_ADJECTIVES)} {noun} {rng.choice(_COLOURS)} {number}"
    sku = f"{DEMO_SKU_PREFIX}{number:07d}"
    return Product(
        sku=sku,
        slug=slugify(f"{title}-{sku}"),
        title=title,
        description=f"A {title.lower()} from our {category.name.lower()} range.\nSKU {sku}.",
        price=Decimal(rng.randrange(199, 99999)) / 100,
        category=category,
    )


def load_demo_catalog(
    *, products: int, batch_size: int = 1000, progress: Callable[[int], None] | None = None
) -> DemoCatalogResult:
    """Make sure demo products DEMO-0000001..N exist; idempotent (existing SKUs are skipped).

    Inserts in batches (one transaction per batch) and reports each batch to `progress`.
    """
    categories_before = Category.objects.count()
    with transaction.atomic():
        leaves = _demo_categories()
    created = 0
    for start in range(1, products + 1, batch_size):
        numbers = range(start, min(start + batch_size, products + 1))
        skus = [f"{DEMO_SKU_PREFIX}{n:07d}" for n in numbers]
        existing = set(Product.objects.filter(sku__in=skus).values_list("sku", flat=True))
        batch = [
            _demo_product(n, leaves[n % len(leaves)]) for n in numbers if f"{DEMO_SKU_PREFIX}{n:07d}" not in existing
        ]
        with transaction.atomic():
            Product.objects.bulk_create(batch, ignore_conflicts=True)
        created += len(batch)
        if progress:
            progress(len(numbers))
    return DemoCatalogResult(
        categories_created=Category.objects.count() - categories_before,
        products_created=created,
        products_total=Product.objects.filter(sku__startswith=DEMO_SKU_PREFIX).count(),
    )
