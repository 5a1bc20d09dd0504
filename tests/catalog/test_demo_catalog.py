"""`manage.py load_demo_catalog`: bulk, idempotent, and tops up when asked for more."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from catalog.models import Category, Product
from catalog.services import demo


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
    # limit). A query per product would be over 2,000.
    with django_assert_max_num_queries(120):
        load(2000)
    assert Product.objects.count() == 2000


@pytest.mark.django_db
def test_a_negative_count_is_refused():
    with pytest.raises(SystemExit) as exit_info:
        call_command("load_demo_catalog", products=-1, stdout=io.StringIO(), stderr=io.StringIO())
    assert exit_info.value.code == 2
    assert Product.objects.count() == 0
