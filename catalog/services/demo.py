"""The demo catalog behind `manage.py load_demo_catalog`: believable, deterministic, bulk.

Categories two levels deep, brands, products with per-category attributes, prices that fit the
product (a paperback costs what a paperback costs; some on sale, with a was-price), popularity,
stock (through inventory's services) and pictures drawn with Pillow (catalog/services/
demo_pictures.py: the category's shape in the colour the title names; one picture per category
and colour, shared by the products that match, so a large load stays fast; `images=False`
skips them). Idempotent: existing SKUs are skipped.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.text import slugify

from catalog import search
from catalog.models import Brand, Category, ImageStatus, Product, ProductImage
from catalog.services import demo_pictures
from inventory import services as inventory_services

DEMO_SKU_PREFIX = "DEMO-"
# top category -> {leaf: (noun, {attribute: values})}
DEMO_CATALOG: dict[str, dict[str, tuple[str, dict[str, list[str]]]]] = {
    "Electronics": {
        "Phones": ("Smartphone", {"storage": ["64 GB", "128 GB", "256 GB", "512 GB"], "colour": ["Black", "Silver", "Blue"]}),
        "Laptops": ("Laptop", {"memory": ["8 GB", "16 GB", "32 GB"], "screen": ["13 inch", "14 inch", "16 inch"]}),
        "Headphones": ("Headphones", {"type": ["Over-ear", "On-ear", "In-ear"], "colour": ["Black", "White", "Sand"]}),
        "Cameras": ("Camera", {"sensor": ["APS-C", "Full frame", "Micro Four Thirds"], "colour": ["Black", "Silver"]}),
    },
    "Home & Kitchen": {
        "Cookware": ("Frying Pan", {"material": ["Cast iron", "Stainless steel", "Ceramic"], "size": ["20 cm", "24 cm", "28 cm"]}),
        "Furniture": ("Armchair", {"material": ["Oak", "Walnut", "Fabric"], "colour": ["Grey", "Green", "Sand"]}),
        "Lighting": ("Desk Lamp", {"colour": ["Black", "White", "Brass"], "bulb": ["LED", "Halogen"]}),
        "Bedding": ("Duvet Cover", {"size": ["Single", "Double", "King"], "material": ["Cotton", "Linen"]}),
    },
    "Fashion": {
        "Shoes": ("Running Shoe", {"size": ["38", "39", "40", "41", "42", "43", "44", "45"], "colour": ["Black", "White", "Red", "Blue"]}),
        "Jackets": ("Rain Jacket", {"size": ["S", "M", "L", "XL"], "colour": ["Navy", "Olive", "Yellow"]}),
        "Bags": ("Backpack", {"capacity": ["15 l", "20 l", "30 l"], "colour": ["Black", "Grey", "Green"]}),
        "Watches": ("Watch", {"strap": ["Leather", "Steel", "Silicone"], "colour": ["Black", "Silver", "Gold"]}),
    },
    "Sports & Outdoors": {
        "Cycling": ("Bike Helmet", {"size": ["S", "M", "L"], "colour": ["Black", "White", "Red"]}),
        "Camping": ("Tent", {"capacity": ["1 person", "2 persons", "4 persons"], "season": ["3-season", "4-season"]}),
        "Running": ("Running Vest", {"size": ["S", "M", "L", "XL"], "colour": ["Blue", "Orange", "Black"]}),
        "Fitness": ("Yoga Mat", {"thickness": ["4 mm", "6 mm", "8 mm"], "colour": ["Purple", "Green", "Grey"]}),
    },
    "Books": {
        "Fiction": ("Novel", {"format": ["Hardcover", "Paperback", "E-book"], "language": ["English", "German", "French"]}),
        "Science": ("Science Book", {"format": ["Hardcover", "Paperback"], "language": ["English", "German"]}),
        "Cooking": ("Cookbook", {"format": ["Hardcover", "Paperback"], "cuisine": ["Italian", "Japanese", "Vegetarian"]}),
        "Travel": ("Travel Guide", {"format": ["Paperback", "E-book"], "region": ["Europe", "Asia", "Americas"]}),
    },
    "Toys & Games": {
        "Board games": ("Board Game", {"players": ["2", "2-4", "2-6"], "age": ["6+", "8+", "12+"]}),
        "Puzzles": ("Jigsaw Puzzle", {"pieces": ["500", "1000", "2000"], "age": ["8+", "12+"]}),
        "Building sets": ("Building Set", {"pieces": ["250", "500", "1200"], "age": ["6+", "9+", "12+"]}),
        "Outdoor toys": ("Kite", {"colour": ["Red", "Blue", "Rainbow"], "age": ["4+", "8+"]}),
    },
}  # fmt: skip
DEMO_CATEGORIES = {top: list(leaves) for top, leaves in DEMO_CATALOG.items()}
BRANDS = {
    "Electronics": ["Voltline", "Northwind", "Lumen", "Arcadia"],
    "Home & Kitchen": ["Hearth & Co", "Oakhaven", "Brightside", "Casa Nova"],
    "Fashion": ["Trailmark", "Urban Fox", "Seabird", "Kestrel"],
    "Sports & Outdoors": ["Summit", "Pacer", "Wildcamp", "Corewell"],
    "Books": ["Penrose Press", "Blue Owl Books", "Harbour House"],
    "Toys & Games": ["Playwise", "Brickworks", "Funfair"],
}
_ADJECTIVES = ["Classic", "Compact", "Deluxe", "Eco", "Essential", "Lightweight", "Premium", "Pro", "Smart", "Urban"]
# Whole-euro price ranges that fit each kind of product (prices end in .99).
PRICE_RANGES: dict[str, tuple[int, int]] = {
    "Phones": (199, 1299), "Laptops": (499, 2499), "Headphones": (29, 399), "Cameras": (349, 2499),
    "Cookware": (19, 129), "Furniture": (249, 1199), "Lighting": (24, 189), "Bedding": (29, 149),
    "Shoes": (49, 179), "Jackets": (59, 299), "Bags": (29, 149), "Watches": (49, 699),
    "Cycling": (39, 199), "Camping": (79, 599), "Running": (19, 89), "Fitness": (15, 79),
    "Fiction": (12, 32), "Science": (18, 59), "Cooking": (19, 45), "Travel": (12, 29),
    "Board games": (19, 79), "Puzzles": (12, 39), "Building sets": (19, 149), "Outdoor toys": (12, 49),
}  # fmt: skip
# Some attribute values move the price within the range (an e-book costs less than a hardcover).
PRICE_FACTORS = {"Paperback": Decimal("0.6"), "E-book": Decimal("0.45"), "512 GB": Decimal("1.3"),
                 "256 GB": Decimal("1.15"), "64 GB": Decimal("0.85"), "32 GB": Decimal("1.25"),
                 "8 GB": Decimal("0.85"), "Full frame": Decimal("1.35"), "4 persons": Decimal("1.35"),
                 "1 person": Decimal("0.75"), "2000": Decimal("1.2"), "1200": Decimal("1.3")}  # fmt: skip
PICTURES_FOLDER = "demo/v2"  # a new drawing gets a new folder: old pictures are never reused


@dataclass(frozen=True)
class DemoCatalogResult:
    categories_created: int
    products_created: int
    products_total: int


def _demo_categories() -> list[tuple[Category, str, str, dict]]:
    """The category tree (in bulk, once); returns (leaf, top name, noun, attributes) in a stable order."""
    parents = [Category(name=name, slug=slugify(name), position=i) for i, name in enumerate(DEMO_CATALOG)]
    Category.objects.bulk_create(parents, ignore_conflicts=True)
    parent_by_slug = Category.objects.in_bulk([p.slug for p in parents], field_name="slug")
    leaves = [
        Category(name=leaf, slug=slugify(f"{top}-{leaf}"), parent=parent_by_slug[slugify(top)], position=i)
        for top, children in DEMO_CATALOG.items()
        for i, leaf in enumerate(children)
    ]
    Category.objects.bulk_create(leaves, ignore_conflicts=True)
    leaf_by_slug = Category.objects.in_bulk([leaf.slug for leaf in leaves], field_name="slug")
    return [
        (leaf_by_slug[slugify(f"{top}-{leaf}")], top, noun, attributes)
        for top, children in DEMO_CATALOG.items()
        for leaf, (noun, attributes) in children.items()
    ]


def _demo_brands() -> dict[str, list[Brand]]:
    names = [name for names in BRANDS.values() for name in names]
    Brand.objects.bulk_create([Brand(name=n, slug=slugify(n)) for n in names], ignore_conflicts=True)
    by_name = Brand.objects.in_bulk(names, field_name="name")
    return {top: [by_name[n] for n in names] for top, names in BRANDS.items()}


def _demo_product(number: int, leaf: Category, top: str, noun: str, attribute_values: dict, brands: list) -> Product:
    rng = random.Random(number)  # deterministic: the same number always gives the same product
    brand = rng.choice(brands)
    attributes = {name: rng.choice(values) for name, values in attribute_values.items()}
    model = f"{rng.choice('ABCDEFGHKLMNPRSTVX')}{rng.randrange(1, 99)}"
    detail = attributes.get("colour") or next(iter(attributes.values()))
    title = f"{brand.name} {rng.choice(_ADJECTIVES)} {noun} {model} {detail}"
    sku = f"{DEMO_SKU_PREFIX}{number:07d}"
    price = _demo_price(rng, leaf.name, attributes)
    on_sale = rng.random() < 0.2
    facts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in attributes.items())
    return Product(
        sku=sku,
        slug=slugify(f"{title}-{sku}"),
        title=title,
        description=(
            f"The {brand.name} {noun.lower()} {model} is part of our {leaf.name.lower()} range ({facts}).\n"
            f"Built to last, covered by our 30-day returns promise."
        ),
        price=price,
        compare_at_price=_was_price(price, rng) if on_sale else None,
        category=leaf,
        brand=brand,
        attributes=attributes,
        popularity=round(rng.paretovariate(1.5), 3),
    )


def _demo_price(rng: random.Random, category: str, attributes: dict) -> Decimal:
    """A price that fits the product: in its category's range, moved by telling attributes, ending in .99."""
    low, high = PRICE_RANGES.get(category, (9, 99))
    euros = Decimal(rng.randrange(low, high + 1))
    for value in attributes.values():
        euros *= PRICE_FACTORS.get(value, Decimal(1))
    return max(euros.to_integral_value(rounding=ROUND_CEILING), Decimal(2)) - Decimal("0.01")


def _was_price(price: Decimal, rng: random.Random) -> Decimal:
    """The price before the sale: 15 to 40 % above, ending in .99."""
    markup = Decimal(100 + rng.choice([15, 20, 25, 30, 40])) / 100
    return (price * markup).to_integral_value(rounding=ROUND_CEILING) - Decimal("0.01")


def _shared_image(category: str, colour_name: str | None) -> dict[str, str]:
    """One demo picture (and its two sizes) per category and colour, written once to the default storage."""
    key = slugify(f"{category}-{colour_name or 'default'}")
    sizes = {"original": 800, "large": 800, "small": 320}
    names = {label: f"{PICTURES_FOLDER}/{key}-{label}.webp" for label in sizes}
    missing = [label for label, name in names.items() if not default_storage.exists(name)]
    if missing:
        pictures = demo_pictures.product_pictures(category, colour_name, sizes=tuple(set(sizes.values())))
        for label in missing:
            names[label] = default_storage.save(names[label], ContentFile(pictures[sizes[label]]))
    return names


def load_demo_catalog(
    *, products: int, batch_size: int = 1000, images: bool = True, progress: Callable[[int], None] | None = None
) -> DemoCatalogResult:
    """Make sure demo products DEMO-0000001..N exist with stock (and images); idempotent.

    Inserts in batches, one transaction per batch, and reports each batch to `progress`.
    """
    categories_before = Category.objects.count()
    with transaction.atomic():
        leaves = _demo_categories()
        brands = _demo_brands()
    created = 0
    for start in range(1, products + 1, batch_size):
        numbers = range(start, min(start + batch_size, products + 1))
        skus = [f"{DEMO_SKU_PREFIX}{n:07d}" for n in numbers]
        existing = set(Product.objects.filter(sku__in=skus).values_list("sku", flat=True))
        batch = []
        for n in numbers:
            if f"{DEMO_SKU_PREFIX}{n:07d}" not in existing:
                leaf, top, noun, attributes = leaves[n % len(leaves)]
                batch.append(_demo_product(n, leaf, top, noun, attributes, brands[top]))
        if batch:
            with transaction.atomic():
                Product.objects.bulk_create(batch, ignore_conflicts=True)
                saved = Product.objects.filter(sku__in=[p.sku for p in batch]).values_list(
                    "pk", "sku", "category__name", "attributes"
                )
                saved = list(saved)
                levels = {pk: random.Random(pk).choice([0, 2, 4, 15, 40, 120]) for pk, *_ in saved}
                inventory_services.set_initial_levels(levels=levels, cause="demo")
                if images:
                    _attach_images(saved)
                search.schedule_index(product_ids=[pk for pk, *_ in saved])  # after the batch commits
        created += len(batch)
        if progress:
            progress(len(numbers))
    return DemoCatalogResult(
        categories_created=Category.objects.count() - categories_before,
        products_created=created,
        products_total=Product.objects.filter(sku__startswith=DEMO_SKU_PREFIX).count(),
    )


def _attach_images(saved: list[tuple]) -> None:
    rows = []
    nouns = {leaf: noun for leaves in DEMO_CATALOG.values() for leaf, (noun, _attributes) in leaves.items()}
    for pk, _sku, category_name, attributes in saved:
        colour = attributes.get("colour")
        names = _shared_image(category_name, colour)
        alt = f"{nouns.get(category_name, category_name)}{f' in {colour.lower()}' if colour else ''}"
        rows.append(
            ProductImage(
                product_id=pk, original=names["original"], thumbnail_large=names["large"], thumbnail_small=names["small"],
                alt_text=alt, status=ImageStatus.READY,
            )
        )  # fmt: skip
    ProductImage.objects.bulk_create(rows)


DEMO_ACTIVITY_DAYS = 30


def load_demo_activity(*, days: int = DEMO_ACTIVITY_DAYS, today=None) -> int:
    """A believable history of what customers did over the last `days` days, so a new shop already
    has a ranking (the caller then runs the ranking job, which reproduces it from these rows).

    Per demo product a steady interest drawn from a Pareto law (a few bestsellers, a long tail),
    seeded by the product's id (the same products are always the popular ones), with daily views
    around it; cart adds, units bought and search clicks as fractions of the views. Written only
    into an empty activity table (a shop with real activity keeps its own); the rows written."""
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from catalog import activity
    from catalog.models import ProductActivity

    if ProductActivity.objects.exists():
        return 0
    today = today or timezone.now().date()
    first = today - timedelta(days=days - 1)
    activity.ensure_partitions(first + timedelta(days=n) for n in range(days))
    rows: list[tuple] = []
    for pk in Product.objects.filter(sku__startswith=DEMO_SKU_PREFIX).order_by("pk").values_list("pk", flat=True):
        rng = random.Random(f"activity-{pk}")
        interest = rng.paretovariate(1.2) - 1  # mostly near 0, a few large
        for n in range(days):
            if views := int(rng.expovariate(1.0) * interest * 6):
                rows.append((first + timedelta(days=n), pk, views, int(views * rng.uniform(0, 0.12)),
                             int(views * rng.uniform(0, 0.04)), int(views * rng.uniform(0, 0.15))))  # fmt: skip
    with connection.cursor() as cursor:  # one statement, many rows (a bulk_create would split it by SQLite's limit)
        cursor.executemany(
            "INSERT INTO catalog_productactivity (day, product_id, views, carts, purchases, clicks) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            rows,
        )
    return len(rows)
