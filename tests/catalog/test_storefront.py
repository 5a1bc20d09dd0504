"""The storefront shell and the first catalog pages: what a visitor sees."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from shop.views import server_error
from tests.accounts.factories import DEFAULT_PASSWORD, UserFactory
from tests.catalog.factories import CategoryFactory, ProductFactory


@pytest.mark.smoke
@pytest.mark.django_db
def test_home_page_shows_new_products_and_the_category_menu(client):
    shoes = CategoryFactory(name="Shoes")
    ProductFactory(title="Trail Runner", category=shoes)
    ProductFactory(title="Hidden thing", is_active=False, category=shoes)
    html = client.get(reverse("catalog:home")).content.decode()
    assert "Trail Runner" in html
    assert "Hidden thing" not in html
    assert f'href="{shoes.get_absolute_url()}">Shoes</a>' in html


@pytest.mark.django_db
def test_every_page_has_the_shell_header_and_footer(client):
    html = client.get(reverse("accounts:login")).content.decode()
    assert 'role="search"' in html
    assert "Log in" in html and "Sign up" in html
    assert 'class="cart-count">0<' in html
    assert "site-footer" in html


@pytest.mark.django_db
def test_logged_in_header_shows_the_account_and_log_out(client):
    user = UserFactory(full_name="Grace Hopper")
    client.login(username=user.email, password=DEFAULT_PASSWORD)
    html = client.get(reverse("catalog:home")).content.decode()
    assert "Grace" in html
    assert "Log out" in html
    assert "Back office" not in html


@pytest.mark.django_db
def test_the_header_of_a_staff_member_links_the_back_office_and_a_guest_after_them_sees_none(client):
    staff = UserFactory(full_name="Ada Lovelace", is_staff=True)
    client.login(username=staff.email, password=DEFAULT_PASSWORD)
    html = client.get(reverse("catalog:home")).content.decode()
    guest = Client().get(reverse("catalog:home")).content.decode()
    assert "Ada" in html and "Back office" in html
    assert "Ada" not in guest and "Back office" not in guest and "Log in" in guest


@pytest.mark.django_db
def test_home_page_queries_stay_flat_however_many_products(client, django_assert_max_num_queries):
    ProductFactory.create_batch(30)
    with django_assert_max_num_queries(7):  # tree, popular ids, new ids, cards, images, availability
        assert client.get(reverse("catalog:home")).status_code == 200
    with django_assert_max_num_queries(1):  # warm: availability only
        assert client.get(reverse("catalog:home")).status_code == 200


@pytest.mark.django_db
def test_category_page_lists_its_products_and_its_childrens_with_pagination(client, django_assert_max_num_queries):
    parent = CategoryFactory(name="Sports")
    child = CategoryFactory(name="Cycling", parent=parent)
    ProductFactory.create_batch(20, category=parent)
    ProductFactory.create_batch(10, category=child)
    with django_assert_max_num_queries(9):
        first = client.get(parent.get_absolute_url())
    html = first.content.decode()
    assert "30 products" in html
    assert "Page 1 of 2" in html
    assert html.count('class="product-card"') == 24
    assert client.get(parent.get_absolute_url(), {"page": 2}).content.decode().count('class="product-card"') == 6


@pytest.mark.django_db
def test_product_page_shows_title_price_and_breadcrumbs(client):
    product = ProductFactory(title="Espresso Machine", price="249.50", category=CategoryFactory(name="Kitchen"))
    html = client.get(product.get_absolute_url()).content.decode()
    assert "<h1>Espresso Machine</h1>" in html
    assert "249.50 EUR" in html
    assert ">Kitchen</a>" in html


@pytest.mark.django_db
def test_inactive_or_unknown_product_is_a_404_in_the_shops_look(client):
    hidden = ProductFactory(is_active=False)
    for url in (hidden.get_absolute_url(), "/p/no-such-product/", "/c/no-such-category/", "/nothing-here/"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "We couldn't find that page" in response.content.decode()


@pytest.mark.django_db
def test_search_finds_products_by_words_in_the_title(client):
    ProductFactory(title="Blue Running Shoe")
    ProductFactory(title="Red Running Jacket")
    html = client.get(reverse("catalog:search"), {"q": "running shoe"}).content.decode()
    assert "Blue Running Shoe" in html
    assert "Red Running Jacket" not in html


@pytest.mark.django_db
def test_search_with_no_match_or_odd_input_explains_instead_of_failing(client):
    for query in ("zzzz", "' OR 1=1 --", "<script>", "x" * 5000, "%_\\"):
        response = client.get(reverse("catalog:search"), {"q": query})
        assert response.status_code == 200
        assert "<script>" not in response.content.decode().split("<main", 1)[1]


def test_server_error_page_needs_no_database_and_keeps_the_shops_look():
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()
    assert "/static/css/shop.css" in response.content.decode()
