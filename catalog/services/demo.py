"""The demo catalog behind `manage.py load_demo_catalog`: believable, deterministic, bulk.

Categories two levels deep, brands, products with per-category attributes, prices (some on
sale), popularity, stock (through inventory's services) and generated images (Pillow cards with
the product's name; one picture per category and colour, shared by the products that match, so
a large load stays fast; `images=False` skips them). Idempotent: existing SKUs are skipped.
"""

from __future__ import annotations

import io
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.text import slugify

from catalog import search
from catalog.models import Brand, Category, ImageStatus, Product, ProductImage
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
_PALETTE = ["#0f766e", "#1d4ed8", "#b45309", "#7c3aed", "#be123c", "#15803d", "#334155", "#a16207"]


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
    price = Decimal(rng.randrange(499, 149999)) / 100
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
        compare_at_price=(price * Decimal("1.25")).quantize(Decimal("0.01")) if on_sale else None,
        category=leaf,
        brand=brand,
        attributes=attributes,
        popularity=round(rng.paretovariate(1.5), 3),
    )


def _card_image(text: str, colour: str, size: int) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), colour)
    draw = ImageDraw.Draw(image)
    draw.rectangle(
        [size // 12, size // 12, size - size // 12, size - size // 12], outline="white", width=max(2, size // 100)
    )
    lines = text.split(" ")
    step = size // (len(lines) + 2)
    for i, word in enumerate(lines):
        draw.text((size // 2, step * (i + 1.5)), word, fill="white", anchor="mm", font_size=size // 10)
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", quality=80)
    return buffer.getvalue()


def _shared_image(key: str, text: str) -> dict[str, str]:
    """One demo picture (and its two sizes) per key, written once to the default storage."""
    colour = _PALETTE[zlib.crc32(key.encode()) % len(_PALETTE)]
    names = {}
    for label, size in (("original", 800), ("large", 800), ("small", 320)):
        name = f"demo/{slugify(key)}-{label}.webp"
        if not default_storage.exists(name):
            name = default_storage.save(name, ContentFile(_card_image(text, colour, size)))
        names[label] = name
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
    for pk, _sku, category_name, attributes in saved:
        detail = attributes.get("colour") or next(iter(attributes.values()), "")
        names = _shared_image(f"{category_name}-{detail}", f"{category_name} {detail}")
        rows.append(
            ProductImage(
                product_id=pk, original=names["original"], thumbnail_large=names["large"], thumbnail_small=names["small"],
                alt_text=f"{category_name}, {detail}", status=ImageStatus.READY,
            )
        )  # fmt: skip
    ProductImage.objects.bulk_create(rows)
