"""Issue 19, items 7 and 10 on the cart page: an interactive add or change is capped at the stock
(refused with the quantity that is left), a merge or offline sync never is but the page warns,
a line keeps its place when its quantity changes, and "Empty the cart" asks first."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from cart.models import CartAdd
from inventory import selectors as inventory_selectors
from inventory.services import set_level
from shop.guest import GUEST_COOKIE
from tests.accounts.factories import UserFactory
from tests.cart.factories import stocked_product

pytestmark = pytest.mark.django_db

CART_URL = reverse("cart:cart")
ADD_URL = reverse("cart:add")
CLEAR_URL = reverse("cart:clear")
FETCH = {"HTTP_X_REQUESTED_WITH": "fetch"}


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def line_titles(html: str) -> list[str]:
    return re.findall(r'<h2 class="cart-line-title"><a href="[^"]*">([^<]+)</a>', html)


@pytest.fixture
def boots(db):
    return stocked_product(title="Hiking boot", price=Decimal("80.00"), available=3)


@pytest.fixture
def signed_in(client):
    user = UserFactory()
    client.force_login(user)
    return client, user


# --- Interactive edits: capped at the stock, with the quantity that is left --------------------------


def test_adding_more_than_in_stock_is_refused_with_what_is_left_and_nothing_is_added(client, boots):
    response = client.post(ADD_URL, {"product_id": boots.pk, "quantity": 5}, follow=True)
    assert messages_of(response) == ["Only 3 of Hiking boot left: you can add up to 3."]
    assert CartAdd.objects.count() == 0


def test_adding_past_the_stock_with_some_in_the_cart_offers_the_rest(client, boots):
    client.post(ADD_URL, {"product_id": boots.pk, "quantity": 2}, follow=True)  # shows (uses up) its message
    response = client.post(ADD_URL, {"product_id": boots.pk, "quantity": 2}, follow=True)
    assert messages_of(response) == ["Only 3 of Hiking boot left: you can add 1 more (your cart has 2)."]
    assert sum(CartAdd.objects.values_list("quantity", flat=True)) == 2


def test_the_script_gets_a_409_naming_the_quantity(client, boots):
    response = client.post(ADD_URL, {"product_id": boots.pk, "quantity": 4}, **FETCH)
    assert response.status_code == 409
    assert response.json() == {"error": {"code": "not_enough_stock", "message": "Only 3 of Hiking boot left: you can add up to 3.",
                                         "fields": {"quantity": ["Only 3 of Hiking boot left: you can add up to 3."]}}}  # fmt: skip


def test_an_out_of_stock_product_cannot_be_added(client, boots):
    set_level(product_id=boots.pk, quantity=0, cause="test:sold-out")
    response = client.post(ADD_URL, {"product_id": boots.pk}, follow=True)
    assert messages_of(response) == ["Hiking boot is out of stock at the moment."]
    assert CartAdd.objects.count() == 0


def test_changing_a_line_past_the_stock_is_refused_and_the_line_stays(client, boots):
    client.post(ADD_URL, {"product_id": boots.pk, "quantity": 2}, follow=True)  # shows (uses up) its message
    response = client.post(reverse("cart:line", args=[boots.pk]), {"quantity": 7}, follow=True)
    assert messages_of(response) == ["Only 3 of Hiking boot left: choose 3 or fewer."]
    assert 'name="quantity" value="2"' in response.content.decode()


def test_the_api_line_endpoint_is_capped_too(boots):
    api = APIClient()
    api.force_authenticate(UserFactory())
    response = api.post("/api/v1/cart/lines", {"product_id": boots.pk, "quantity": 4}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_enough_stock"


# --- Merges and offline syncs: never refused, but the pages warn -------------------------------------


@pytest.fixture
def above_stock(signed_in, boots):
    client, user = signed_in
    api = APIClient()
    api.force_authenticate(user)
    answer = api.post("/api/v1/cart/operations", {"base_epoch": 0, "operations": [
        {"op": "add", "tag": str(uuid.uuid4()), "product_id": boots.pk, "quantity": 5}]}, format="json")  # fmt: skip
    assert answer.status_code == 200  # an offline sync is never refused
    return client


def test_a_sync_above_stock_is_kept_and_the_cart_page_warns_and_offers_what_is_left(above_stock, boots):
    html = above_stock.get(CART_URL).content.decode()
    assert "Only 3 left: your cart has 5. Lower the quantity to 3 to order it." in html
    assert 'name="quantity" value="3"' in html and "Change to 3" in html
    # the offer is one click
    response = above_stock.post(reverse("cart:line", args=[boots.pk]), {"quantity": 3}, follow=True)
    assert messages_of(response) == ["Quantity updated."]
    assert "Lower the quantity" not in response.content.decode()


def test_the_review_page_warns_about_a_line_above_stock(above_stock):
    above_stock.post(reverse("orders:checkout"), {"full_name": "Ada Lovelace", "line1": "1 Main Street",
                                                   "city": "Berlin", "postal_code": "10115", "country": "DE"})  # fmt: skip
    above_stock.post(reverse("orders:checkout-delivery"), {"delivery_option": "standard"})
    above_stock.post(reverse("orders:checkout-payment"), {"payment_method": "tok_visa"})
    html = above_stock.get(reverse("orders:checkout-review")).content.decode()
    assert "Only 3 left: your cart has 5. Lower the quantity to 3 to order it." in html


# --- Line order and "Empty the cart" (item 10) ---------------------------------------------------------


def test_a_line_keeps_its_place_when_its_quantity_changes(client):
    first, second = stocked_product(title="Alpha tent"), stocked_product(title="Beta stove")
    client.post(ADD_URL, {"product_id": first.pk})
    client.post(ADD_URL, {"product_id": second.pk})
    client.post(reverse("cart:line", args=[first.pk]), {"quantity": 4})
    html = client.get(CART_URL).content.decode()
    assert line_titles(html) == ["Alpha tent", "Beta stove"]
    assert 'name="quantity" value="4"' in html


def test_empty_the_cart_asks_first_listing_what_goes_then_empties(client, boots):
    client.post(ADD_URL, {"product_id": boots.pk, "quantity": 2}, follow=True)  # shows (uses up) its message
    cart_html = client.get(CART_URL).content.decode()
    assert f'<a class="danger" href="{CLEAR_URL}">Empty the cart</a>' in cart_html
    assert f'action="{CLEAR_URL}"' not in cart_html  # no one-click emptying from the cart page
    confirm = client.get(CLEAR_URL).content.decode()
    assert "2 &times; Hiking boot" in confirm and "Yes, empty my cart" in confirm
    assert sum(CartAdd.objects.values_list("quantity", flat=True)) == 2  # asking changed nothing
    response = client.post(CLEAR_URL, follow=True)
    assert messages_of(response) == ["Your cart is empty now."]
    assert client.cookies[GUEST_COOKIE].value
    assert inventory_selectors.get_level(product_id=boots.pk) == 3
