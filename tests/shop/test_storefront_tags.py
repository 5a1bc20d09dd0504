"""Issue 19, item 10: real page numbers in pagination, and a saving badge beside a was-price."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from shop.templatetags.storefront import page_window, saving_percent
from tests.cart.factories import stocked_product
from tests.catalog.factories import CategoryFactory


@pytest.mark.parametrize(
    ("page", "pages", "expected"),
    [
        (1, 1, [1]),
        (1, 3, [1, 2, 3]),
        (1, 12, [1, 2, 3, None, 12]),
        (6, 12, [1, None, 4, 5, 6, 7, 8, None, 12]),
        (4, 12, [1, 2, 3, 4, 5, 6, None, 12]),  # a gap of one page shows that page
        (12, 12, [1, None, 10, 11, 12]),
    ],
)
def test_page_window_shows_the_ends_and_two_pages_around_the_current_one(page, pages, expected):
    assert page_window(page, pages) == expected


@pytest.mark.parametrize(
    ("price", "was", "expected"),
    [("37.99", "45.99", 17), ("80.00", "100.00", 20), ("10.00", "10.00", None), ("12.00", "10.00", None), ("1", "", None)],
)
def test_saving_is_a_whole_percent_rounded_down(price, was, expected):
    assert saving_percent(price, was) == expected


@pytest.mark.django_db
def test_a_category_page_links_each_page_by_its_number(client):
    category = CategoryFactory()
    for index in range(50):
        stocked_product(title=f"Tent {index}", category=category)
    html = client.get(category.get_absolute_url(), {"page": 2, "page_size": 10}).content.decode()
    pagination = html[html.index('<nav class="pagination"'):]
    numbers = re.findall(r'<li>(?:<a href="\?[^"]*page=\d+" aria-label="Page \d+">|<span aria-current="page">)(\d+)<', pagination)
    assert numbers and numbers[0] == "1" and "2" in numbers
    assert '<span aria-current="page">2</span>' in pagination


@pytest.mark.django_db
def test_a_was_price_shows_its_currency_and_the_saving(client):
    product = stocked_product(title="Rain jacket", price=Decimal("80.00"), compare_at_price=Decimal("100.00"))
    for url in (product.get_absolute_url(), product.category.get_absolute_url()):
        html = client.get(url).content.decode()
        assert '<s class="was-price"><span class="visually-hidden">was </span>100.00 EUR</s>' in html
        assert '<span class="saving-badge">Save 20%</span>' in html
