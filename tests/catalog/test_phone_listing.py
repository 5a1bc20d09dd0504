"""Issue 19, item 8: on a phone the category and search pages open on the products, with the
filters behind a "Filter" disclosure that works without JavaScript, and the sort at the top."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from tests.cart.factories import stocked_product
from tests.catalog.factories import CategoryFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def category(db):
    category = CategoryFactory(name="Headphones", slug="headphones")
    for index in range(3):
        stocked_product(title=f"Headphones {index}", price=Decimal("50.00"), category=category)
    return category


def panel(html: str) -> str:
    match = re.search(r'<details class="filters-panel" data-filters-panel>(.*?)</details>', html, re.S)
    assert match, "the filters are not inside a closed <details>"
    return match.group(1)


@pytest.mark.parametrize("page", ["category", "search"])
def test_the_filters_are_behind_a_filter_disclosure_closed_by_default(client, category, page):
    url = category.get_absolute_url() if page == "category" else reverse("catalog:search") + "?q=headphones"
    html = client.get(url).content.decode()
    inside = panel(html)
    assert inside.lstrip().startswith('<summary class="filters-toggle">Filter</summary>')
    assert '<form class="filters" method="get" aria-label="Filters"' in inside
    assert "Apply filters" in inside


def test_the_sort_control_comes_before_the_products_and_the_wide_screen_script_is_loaded(client, category):
    html = client.get(category.get_absolute_url()).content.decode()
    assert html.index('name="sort" onchange') < html.index('class="product-card')
    assert "js/filters.js" in html
