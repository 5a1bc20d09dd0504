"""The catalog back office: products with their pictures, bulk actions, filters, categories, brands."""

from __future__ import annotations

import json
import sys

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.urls import reverse
from PIL import Image

from catalog.cache import product_key
from catalog.models import ImageStatus, Product, ProductImage
from catalog.selectors import CategoryNotFound
from catalog.services import add_product_image, move_products_to_category, set_products_active
from tests.accounts.factories import UserFactory
from tests.catalog.conftest import picture_bytes, stored_files
from tests.catalog.factories import BrandFactory, CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db

PRODUCTS_URL = reverse("admin:catalog_product_changelist")
CATEGORIES_URL = reverse("admin:catalog_category_changelist")
BRANDS_URL = reverse("admin:catalog_brand_changelist")


def change_url(product: Product) -> str:
    return reverse("admin:catalog_product_change", args=[product.pk])


def change_form_data(product: Product, **overrides) -> dict:
    """What the product change form posts for this product, with no image rows."""
    data = {
        "sku": product.sku,
        "slug": product.slug,
        "title": product.title,
        "description": product.description,
        "price": str(product.price),
        "compare_at_price": "" if product.compare_at_price is None else str(product.compare_at_price),
        "category": product.category_id,
        "brand": product.brand_id or "",
        "attributes": json.dumps(product.attributes),
        "images-TOTAL_FORMS": "0",
        "images-INITIAL_FORMS": "0",
        "images-MIN_NUM_FORMS": "0",
        "images-MAX_NUM_FORMS": "1000",
    }
    if product.is_active:
        data["is_active"] = "on"
    return {**data, **overrides}


def with_new_image(data: dict, product: Product, upload) -> dict:
    return {
        **data,
        "images-TOTAL_FORMS": "1",
        "images-0-id": "",
        "images-0-product": product.pk,
        "images-0-original": upload,
        "images-0-alt_text": "Side view",
        "images-0-position": "0",
    }


def run_action(client, action: str, products: list[Product], **extra):
    return client.post(
        PRODUCTS_URL, {"action": action, ACTION_CHECKBOX_NAME: [p.pk for p in products], **extra}, follow=True
    )


def cache_product_pages(*products: Product) -> None:
    for product in products:
        cache.set(product_key(product.slug), {"title": product.title})


# --- Product pictures through the change form ------------------------------------------------


def test_admin_refuses_a_corrupt_picture_with_the_clear_message(superuser_client, media_root, make_upload):
    product = ProductFactory()
    corrupt = make_upload("broken.jpg", picture_bytes()[:50])

    response = superuser_client.post(change_url(product), with_new_image(change_form_data(product), product, corrupt))

    assert response.status_code == 200  # the form again, with the error
    html = response.content.decode()
    assert "This file is not an image we can read (the file is damaged or is not a picture)" in html
    assert ProductImage.objects.count() == 0
    assert stored_files(media_root) == {}


def test_admin_accepts_a_good_picture_and_its_thumbnails_are_made_on_commit(
    superuser_client, media_root, make_upload, django_capture_on_commit_callbacks
):
    # given
    product = ProductFactory()
    data = with_new_image(change_form_data(product), product, make_upload("side.png", image_format="PNG"))

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(change_url(product), data)

    # then
    assert response.status_code == 302
    image = ProductImage.objects.get(product=product)
    assert (image.alt_text, image.status) == ("Side view", ImageStatus.READY)
    assert sorted(stored_files(media_root)) == sorted(
        [image.original.name, image.thumbnail_small, image.thumbnail_large]
    )


def test_admin_without_commit_leaves_a_new_picture_pending(superuser_client, media_root, make_upload):
    product = ProductFactory()

    superuser_client.post(change_url(product), with_new_image(change_form_data(product), product, make_upload()))

    assert ProductImage.objects.get(product=product).status == ImageStatus.PENDING


def test_replacing_a_picture_in_the_admin_makes_new_thumbnails(
    superuser_client, media_root, make_upload, django_capture_on_commit_callbacks
):
    # given: a ready image 1600 x 1200
    product = ProductFactory()
    with django_capture_on_commit_callbacks(execute=True):
        image = add_product_image(product_id=product.pk, file=make_upload(size=(1600, 1200)))
    data = {
        **change_form_data(product),
        "images-TOTAL_FORMS": "1",
        "images-INITIAL_FORMS": "1",
        "images-0-id": image.pk,
        "images-0-product": product.pk,
        "images-0-original": make_upload("tall.jpg", size=(600, 1200)),
        "images-0-alt_text": "Tall",
        "images-0-position": "0",
    }

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(change_url(product), data)

    # then: the thumbnails follow the new picture
    assert response.status_code == 302
    image.refresh_from_db()
    assert image.status == ImageStatus.READY
    assert image.original.name.startswith(f"products/{product.pk}/originals/tall")
    with Image.open(media_root / image.thumbnail_small) as small:
        assert small.size == (160, 320)


def test_the_change_form_previews_the_small_thumbnail(
    superuser_client, media_root, make_upload, django_capture_on_commit_callbacks
):
    product = ProductFactory()
    with django_capture_on_commit_callbacks(execute=True):
        add_product_image(product_id=product.pk, file=make_upload(), alt_text="Front")

    html = superuser_client.get(change_url(product)).content.decode()

    assert f'<img src="/media/products/{product.pk}/thumbs/' in html
    assert '-320.webp" alt="Front"' in html


def test_saving_a_product_in_the_admin_forgets_its_cached_page_under_the_old_and_new_slug(
    superuser_client, django_capture_on_commit_callbacks
):
    # given
    product = ProductFactory(slug="old-slug")
    cache.set(product_key("old-slug"), {"price": "19.99"})
    cache.set(product_key("new-slug"), {"price": "stale"})

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(change_url(product), change_form_data(product, slug="new-slug", price="9.99"))

    # then
    assert response.status_code == 302
    assert cache.get(product_key("old-slug")) is None
    assert cache.get(product_key("new-slug")) is None
    product.refresh_from_db()
    assert (product.slug, str(product.price)) == ("new-slug", "9.99")


# --- Bulk actions ----------------------------------------------------------------------------


def test_activate_shows_the_selected_products_and_forgets_their_cached_pages(
    superuser_client, django_capture_on_commit_callbacks
):
    # given
    hidden, also_hidden, untouched = ProductFactory.create_batch(3, is_active=False)
    cache_product_pages(hidden, also_hidden, untouched)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(superuser_client, "activate", [hidden, also_hidden])

    # then
    assert "2 product(s) activated." in response.content.decode()
    assert set(Product.objects.filter(is_active=True)) == {hidden, also_hidden}
    assert cache.get(product_key(hidden.slug)) is None
    assert cache.get(product_key(also_hidden.slug)) is None
    assert cache.get(product_key(untouched.slug)) is not None


def test_deactivate_hides_the_selected_products_and_forgets_their_cached_pages(
    superuser_client, django_capture_on_commit_callbacks
):
    shown, kept = ProductFactory.create_batch(2)
    cache_product_pages(shown, kept)

    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(superuser_client, "deactivate", [shown])

    assert "1 product(s) deactivated." in response.content.decode()
    assert list(Product.objects.filter(is_active=False)) == [shown]
    assert cache.get(product_key(shown.slug)) is None
    assert cache.get(product_key(kept.slug)) is not None


def test_move_to_category_moves_the_selected_products_and_forgets_their_cached_pages(
    superuser_client, django_capture_on_commit_callbacks
):
    # given
    shoes = CategoryFactory(name="Shoes")
    first, second, other = ProductFactory.create_batch(3)
    cache_product_pages(first, second, other)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(superuser_client, "move_to_category", [first, second], category=shoes.pk)

    # then
    assert "2 product(s) moved to Shoes." in response.content.decode()
    assert set(shoes.products.all()) == {first, second}
    assert cache.get(product_key(first.slug)) is None
    assert cache.get(product_key(second.slug)) is None
    assert cache.get(product_key(other.slug)) is not None


def test_move_to_category_without_a_category_changes_nothing(superuser_client):
    product = ProductFactory()

    response = run_action(superuser_client, "move_to_category", [product])

    assert "Choose a category beside the action" in response.content.decode()
    assert Product.objects.get(pk=product.pk).category_id == product.category_id


def test_actions_are_offered_only_to_staff_who_may_change_products(client, db):
    # given: a clerk who may only look at products
    clerk = UserFactory(staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_product"))
    client.force_login(clerk)

    # when
    response = client.get(PRODUCTS_URL)

    # then: no action at all (bulk delete needs the delete permission too), and a forged post changes nothing
    assert response.status_code == 200
    assert response.context["action_form"] is None
    product = ProductFactory(is_active=False)
    run_action(client, "activate", [product])
    assert Product.objects.get(pk=product.pk).is_active is False


def test_bulk_services_count_only_real_changes():
    active, inactive = ProductFactory(), ProductFactory(is_active=False)
    target = CategoryFactory()

    assert set_products_active(product_ids=[active.pk, inactive.pk], active=True) == 1
    assert set_products_active(product_ids=[active.pk, inactive.pk], active=True) == 0
    assert move_products_to_category(product_ids=[active.pk], category_id=target.pk) == 1
    assert move_products_to_category(product_ids=[active.pk], category_id=target.pk) == 0
    with pytest.raises(CategoryNotFound):
        move_products_to_category(product_ids=[active.pk], category_id=987654)


# --- The product list ------------------------------------------------------------------------


def test_product_list_shows_the_catalog_columns_and_finds_by_sku(superuser_client):
    ProductFactory(title="Trail Runner", sku="TR-1", brand=BrandFactory(name="Peak"), compare_at_price="29.99")
    ProductFactory(title="Desk Lamp", sku="DL-1")

    html = superuser_client.get(PRODUCTS_URL, {"q": "TR-1"}).content.decode()

    assert "Trail Runner" in html and "Peak" in html and "29.99" in html
    assert "Desk Lamp" not in html


def test_the_stock_status_filter_lists_products_by_their_stock(superuser_client):
    from inventory import services as inventory_services

    plenty, few, none, never_stocked = ProductFactory.create_batch(4)
    for product, quantity in ((plenty, 50), (few, 2), (none, 0)):
        inventory_services.set_level(product_id=product.pk, quantity=quantity, cause=f"test-{product.pk}")

    def listed(status: str) -> set[int]:
        response = superuser_client.get(PRODUCTS_URL, {"stock": status})
        assert response.status_code == 200
        return {product.pk for product in response.context["cl"].result_list}

    assert listed("in_stock") == {plenty.pk}
    assert listed("low_stock") == {few.pk}
    assert listed("out_of_stock") == {none.pk, never_stocked.pk}


def test_the_stock_status_filter_does_not_break_the_list_without_inventory_selectors(superuser_client, monkeypatch):
    # given: inventory's selectors cannot be imported (not deployed yet, or broken)
    import inventory

    products = ProductFactory.create_batch(2)
    monkeypatch.delattr(inventory, "selectors", raising=False)
    monkeypatch.setitem(sys.modules, "inventory.selectors", None)

    # when
    response = superuser_client.get(PRODUCTS_URL, {"stock": "out_of_stock"})

    # then: the list opens, unfiltered
    assert response.status_code == 200
    assert {p.pk for p in response.context["cl"].result_list} == {p.pk for p in products}


def test_product_list_queries_stay_flat(superuser_client, django_assert_max_num_queries):
    ProductFactory.create_batch(30, brand=BrandFactory())

    with django_assert_max_num_queries(12):
        assert superuser_client.get(PRODUCTS_URL).status_code == 200


# --- Categories and brands -------------------------------------------------------------------


def test_category_list_shows_the_tree_in_order_with_indented_children(superuser_client):
    # given: two top categories, created out of order, with children
    sport = CategoryFactory(name="Sport", position=2)
    home = CategoryFactory(name="Home", position=1)
    CategoryFactory(name="Running", parent=sport, position=1)
    CategoryFactory(name="Cycling", parent=sport, position=0)
    CategoryFactory(name="Lamps", parent=home, position=0)

    # when
    response = superuser_client.get(CATEGORIES_URL)

    # then
    names = [category.name for category in response.context["cl"].result_list]
    assert names == ["Home", "Lamps", "Sport", "Cycling", "Running"]
    html = response.content.decode()
    assert "\u2003└ Cycling" in html


def test_category_and_brand_lists_can_be_searched(superuser_client):
    CategoryFactory(name="Headphones")
    CategoryFactory(name="Garden")
    BrandFactory(name="Acme")
    BrandFactory(name="Zenith")

    categories = superuser_client.get(CATEGORIES_URL, {"q": "head"}).content.decode()
    brands = superuser_client.get(BRANDS_URL, {"q": "acm"}).content.decode()

    assert "Headphones" in categories and "Garden" not in categories
    assert "Acme" in brands and "Zenith" not in brands


@pytest.mark.parametrize("model", ["category", "brand"])
def test_add_pages_fill_the_slug_from_the_name(superuser_client, model):
    html = superuser_client.get(reverse(f"admin:catalog_{model}_add")).content.decode()

    assert "&quot;id&quot;: &quot;#id_slug&quot;" in html
    assert "&quot;dependency_list&quot;: [&quot;name&quot;]" in html


def test_renaming_a_category_in_the_admin_shows_in_the_menu_at_once(client, django_capture_on_commit_callbacks):
    from accounts.models import User
    from catalog.models import Category

    staff = User.objects.create_superuser(email="boss@example.com", password="x")
    category = Category.objects.create(name="Shoes", slug="shoes")
    assert ">Shoes</a>" in client.get("/").content.decode()  # the menu is now cached
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/admin/catalog/category/{category.pk}/change/",
            {"name": "Footwear", "slug": "shoes", "position": 0, "description": ""},
        )
    assert response.status_code == 302
    assert ">Footwear</a>" in client.get("/").content.decode()
