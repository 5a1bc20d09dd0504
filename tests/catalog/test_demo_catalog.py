"""`manage.py load_demo_catalog`: bulk, idempotent, and tops up when asked for more."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from PIL import Image

from catalog.models import Category, Product
from catalog.services import demo, demo_pictures


def load(products: int) -> str:
    out = io.StringIO()
    call_command("load_demo_catalog", products=products, batch_size=500, stdout=out)
    return out.getvalue()


@pytest.mark.smoke
@pytest.mark.django_db
def test_loading_twice_creates_the_products_once():
    first = load(1200)
    products, categories = Product.objects.count(), Category.objects.count()
    second = load(1200)
    assert (products, categories) == (1200, 30)
    assert (Product.objects.count(), Category.objects.count()) == (1200, 30)
    assert "1200 products created" in first
    assert "0 products created, 1200 demo products in all, 0 categories created" in second


@pytest.mark.django_db
def test_asking_for_more_tops_up_and_keeps_what_exists():
    load(100)
    first_product = Product.objects.get(sku="DEMO-0000001")
    load(250)
    assert Product.objects.count() == 250
    assert Product.objects.get(sku="DEMO-0000001").pk == first_product.pk


@pytest.mark.django_db
def test_demo_products_are_the_same_on_every_machine():
    # The loader builds product n from n alone, so two machines load the same catalog.
    load(5)
    leaves, brands = demo._demo_categories(), demo._demo_brands()
    expected = []
    for n in range(1, 6):
        leaf, top, noun, attributes = leaves[n % len(leaves)]
        product = demo._demo_product(n, leaf, top, noun, attributes, brands[top])
        expected.append((product.sku, product.title, product.price, product.attributes))
    assert list(Product.objects.order_by("sku").values_list("sku", "title", "price", "attributes")) == expected


@pytest.mark.django_db
def test_loading_is_bulk_not_a_query_per_product(django_assert_max_num_queries):
    # The category tree and brands cost a handful of queries; each batch of 500 products about
    # twenty (products, stock and ledger, images; SQLite splits a bulk insert by its variable
    # limit); then the activity history (one statement) and the ranking job with its steps (a few
    # dozen, batched). A query per product would be over 2,000.
    with django_assert_max_num_queries(160):
        load(2000)
    assert Product.objects.count() == 2000


@pytest.mark.django_db
def test_a_negative_count_is_refused():
    with pytest.raises(SystemExit) as exit_info:
        call_command("load_demo_catalog", products=-1, stdout=io.StringIO(), stderr=io.StringIO())
    assert exit_info.value.code == 2
    assert Product.objects.count() == 0


# --- Issue 19, item 10: a demo that looks like a shop ---------------------------------------------


@pytest.mark.django_db
def test_demo_prices_fit_the_product(media_root):
    load(240)
    products = list(Product.objects.select_related("category"))
    for product in products:
        low, high = demo.PRICE_RANGES[product.category.name]
        assert low * Decimal("0.4") < product.price < high * Decimal("1.4"), (product.title, product.price)
        assert str(product.price).endswith(".99")
        if product.compare_at_price is not None:
            assert product.price < product.compare_at_price <= product.price * Decimal("1.4") + 1
    novels = [p.price for p in products if p.category.name == "Fiction"]
    assert novels and max(novels) < 40  # a paperback is never 950 EUR
    assert any(p.compare_at_price for p in products)


def dominant_colour(image) -> tuple[int, int, int]:
    """The commonest colour of the picture that is not its studio background or the shadow."""
    counts = image.convert("RGB").getcolors(maxcolors=1 << 20)
    return max((n, rgb) for n, rgb in counts if max(abs(a - b) for a, b in zip(rgb, demo_pictures.BACKGROUND, strict=True)) > 30)[1]


@pytest.mark.parametrize(("category", "colour"), [("Phones", "Blue"), ("Shoes", "Red"), ("Jackets", "Yellow"),
                                                  ("Bags", "Green"), ("Headphones", "Black"), ("Running", "Orange")])  # fmt: skip
def test_a_demo_picture_is_in_the_colour_its_title_names(category, colour):
    expected = demo_pictures.COLOURS[colour]
    found = dominant_colour(Image.open(io.BytesIO(demo_pictures.product_picture(category, colour, 320))))
    assert max(abs(a - b) for a, b in zip(found, expected, strict=True)) < 40, (found, expected)


def test_each_category_has_its_own_shape_not_text_on_a_square():
    masks = {}
    for category in ("Phones", "Laptops", "Shoes", "Camping", "Fiction", "Outdoor toys"):
        image = demo_pictures.draw_product(category, "Black", 64).convert("L")
        masks[category] = bytes(0 if value > 200 else 1 for value in image.getdata())
        assert 0.05 < sum(masks[category]) / len(masks[category]) < 0.6  # an object on a background
    assert len(set(masks.values())) == len(masks)


@pytest.mark.django_db
def test_demo_products_show_their_own_colour_and_name_it_in_the_alt_text(media_root):
    load(30)
    for product in Product.objects.exclude(attributes__colour=None).prefetch_related("images")[:10]:
        colour = product.attributes.get("colour")
        if not colour:
            continue
        image = product.images.get()
        assert colour in product.title and image.alt_text.endswith(f"in {colour.lower()}")
        with default_storage.open(image.thumbnail_small) as picture:
            found = dominant_colour(Image.open(picture))
        expected = demo_pictures.COLOURS[colour]
        assert max(abs(a - b) for a, b in zip(found, expected, strict=True)) < 40, (product.title, found)
