"""The orders API: checkout with a required Idempotency-Key, the customer's orders, cancelling."""

from __future__ import annotations

import uuid

import pytest
from django.core import mail

from inventory import selectors as inventory_selectors
from orders.models import Order
from tests.accounts.factories import AddressFactory, UserFactory
from tests.api_helpers import error_of
from tests.cart.conftest import bearer_client
from tests.orders.conftest import fill_cart

ADDRESS = {
    "full_name": "Ada Lovelace",
    "line1": "1 Main Street",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}


def checkout_body(**overrides) -> dict:
    return {"address": ADDRESS, "delivery_option": "standard", "payment_method": "tok_visa", **overrides}


def post_checkout(client, body: dict | None = None, key: str | None = None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key or str(uuid.uuid4())}
    return client.post("/api/v1/checkout", body or checkout_body(), format="json", **headers)


@pytest.fixture
def api(customer):
    return bearer_client(customer)


@pytest.mark.django_db
def test_checkout_creates_the_order_and_a_replay_returns_it(api, customer, shoe, django_capture_on_commit_callbacks):
    fill_cart(user=customer, lines={shoe: 2})
    with django_capture_on_commit_callbacks(execute=True):
        first = post_checkout(api, key="k-1")
    assert first.status_code == 201, first.json()
    body = first.json()
    assert body["state"] == "placed" and body["total"] == "104.95" and body["item_count"] == 2
    assert body["lines"] == [
        {"product_id": shoe.pk, "title": "Trail shoe", "sku": shoe.sku, "unit_price": "50.00", "quantity": 2,
         "subtotal": "100.00"}
    ]  # fmt: skip
    assert body["address"]["city"] == "Berlin"
    replay = post_checkout(api, key="k-1")
    assert (replay.status_code, replay.json()["number"]) == (200, body["number"])
    assert Order.objects.count() == 1
    detail = api.get(f"/api/v1/orders/{body['number']}").json()
    assert detail["state"] == "authorized"
    assert [h["to_state"] for h in detail["history"]] == ["placed", "allocated", "authorized"]
    assert inventory_selectors.get_level(product_id=shoe.pk) == 8


@pytest.mark.django_db
def test_the_checkout_call_runs_a_fixed_number_of_statements(api, customer, shoe, django_assert_max_num_queries):
    # The whole request as a mobile app sends it (JWT, Idempotency-Key, the order in the answer).
    fill_cart(user=customer, lines={shoe: 2})
    with django_assert_max_num_queries(CHECKOUT_CALL_STATEMENTS) as queries:
        response = post_checkout(api)
    assert response.status_code == 201, [q["sql"][:60] for q in queries.captured_queries]
    assert Order.objects.get().lines.count() == 1


# The user (JWT) and the place-order transaction: idempotency key, cart closed, its lines, products,
# levels, the order (in a savepoint), lines, event, key completed, e-mail log, outbox; and this
# test's savepoint around it. In production one more after the commit: the outbox rows marked sent.
CHECKOUT_CALL_STATEMENTS = 16


@pytest.mark.django_db
def test_checkout_needs_an_idempotency_key(api, customer, shoe):
    fill_cart(user=customer, lines={shoe: 1})
    response = api.post("/api/v1/checkout", checkout_body(), format="json")
    assert response.status_code == 400
    assert "Idempotency-Key" in error_of(response)["fields"]
    assert Order.objects.count() == 0


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_a_422(api, customer, shoe):
    fill_cart(user=customer, lines={shoe: 1})
    assert post_checkout(api, key="k-2").status_code == 201
    response = post_checkout(api, checkout_body(delivery_option="express"), key="k-2")
    assert response.status_code == 422
    assert error_of(response)["code"] == "idempotency_key_reused"


@pytest.mark.django_db
def test_a_saved_address_can_be_used_but_not_another_customers(api, customer, shoe):
    fill_cart(user=customer, lines={shoe: 1})
    theirs = AddressFactory(user=UserFactory())
    response = post_checkout(api, checkout_body(address=None, address_id=theirs.pk) | {"address": None})
    assert response.status_code == 400  # address: null is not an address
    body = checkout_body(address_id=theirs.pk)
    del body["address"]
    assert post_checkout(api, body).status_code == 404
    mine = AddressFactory(user=customer, city="Hamburg")
    body["address_id"] = mine.pk
    response = post_checkout(api, body)
    assert response.status_code == 201 and response.json()["address"]["city"] == "Hamburg"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (checkout_body(address={**ADDRESS, "postal_code": ""}), 400, "address.postal_code"),
        (checkout_body(address={**ADDRESS, "country": "ZZ"}), 400, "address.country"),
        (checkout_body(delivery_option="drone"), 400, "delivery_option"),
        (checkout_body(payment_method="4111111111111111"), 400, "payment_method"),
        (checkout_body(expected_total="1.00"), 409, "expected_total"),
        (checkout_body(expected_total="abc"), 400, "expected_total"),
        ({"delivery_option": "standard", "payment_method": "tok_visa"}, 400, "address"),
    ],
)
def test_bad_checkout_input_names_the_field_and_writes_nothing(api, customer, shoe, body, status, field):
    fill_cart(user=customer, lines={shoe: 1})
    response = post_checkout(api, body)
    assert response.status_code == status, response.json()
    assert field in error_of(response)["fields"]
    assert Order.objects.count() == 0


@pytest.mark.django_db
def test_an_empty_cart_and_a_quantity_above_stock_are_409(api, customer, shoe):
    response = post_checkout(api)
    assert (response.status_code, error_of(response)["code"]) == (409, "cart_empty")
    fill_cart(user=customer, lines={shoe: 11})
    response = post_checkout(api)
    assert (response.status_code, error_of(response)["code"]) == (409, "out_of_stock")
    assert error_of(response)["fields"]["product_id"] == ["Only 10 of Trail shoe left; your cart has 11."]
    assert Order.objects.count() == 0


@pytest.mark.django_db
def test_a_guest_checks_out_with_a_token_and_sees_only_their_orders(
    guest_api, shoe, django_capture_on_commit_callbacks
):
    assert (
        guest_api.post("/api/v1/cart/lines", {"product_id": shoe.pk, "quantity": 1}, format="json").status_code == 200
    )
    response = post_checkout(guest_api)
    assert (response.status_code, error_of(response)["fields"].keys()) == (400, {"email"})
    with django_capture_on_commit_callbacks(execute=True):
        response = post_checkout(guest_api, checkout_body(email="guest@example.com"))
    assert response.status_code == 201
    number = response.json()["number"]
    assert [o["number"] for o in guest_api.get("/api/v1/orders").json()["results"]] == [number]
    assert mail.outbox[0].to == ["guest@example.com"]
    stranger = bearer_client(UserFactory())
    assert stranger.get(f"/api/v1/orders/{number}").status_code == 404
    assert stranger.post(f"/api/v1/orders/{number}/cancel").status_code == 404
    assert stranger.get("/api/v1/orders").json()["results"] == []


@pytest.mark.django_db
def test_cancelling_releases_the_stock_and_a_second_cancel_is_409(
    api, customer, shoe, django_capture_on_commit_callbacks
):
    fill_cart(user=customer, lines={shoe: 4})
    with django_capture_on_commit_callbacks(execute=True):
        number = post_checkout(api).json()["number"]
    assert inventory_selectors.get_level(product_id=shoe.pk) == 6
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/orders/{number}/cancel")
    assert (response.status_code, response.json()["state"]) == (200, "cancelled")
    assert inventory_selectors.get_level(product_id=shoe.pk) == 10
    again = api.post(f"/api/v1/orders/{number}/cancel")
    assert (again.status_code, error_of(again)["code"]) == (409, "order_state_conflict")
    assert inventory_selectors.get_level(product_id=shoe.pk) == 10
    assert any("is cancelled" in m.subject for m in mail.outbox)


@pytest.mark.django_db
def test_the_order_list_makes_the_same_queries_for_1_and_30_orders(api, customer, shoe, django_assert_max_num_queries):
    def place(n: int) -> None:
        for _ in range(n):
            fill_cart(user=customer, lines={shoe: 1})
            assert post_checkout(api).status_code == 201

    place(1)
    with django_assert_max_num_queries(6):
        assert len(api.get("/api/v1/orders").json()["results"]) == 1
    shoe.stock.available = 100
    shoe.stock.save()
    place(29)
    with django_assert_max_num_queries(6):
        assert len(api.get("/api/v1/orders?page_size=50").json()["results"]) == 30


@pytest.mark.django_db
def test_checkout_options_list_delivery_and_test_cards(client):
    body = client.get("/api/v1/checkout/options").json()
    assert [o["code"] for o in body["delivery_options"]] == ["standard", "express"]
    assert body["currency"] == "EUR" and "tok_visa" in [c["token"] for c in body["test_cards"]]


# A valid address of 260 characters: a 64-character local part and three 63-character labels.
LONG_EMAIL = "a" * 64 + "@" + ("b" * 63 + ".") * 3 + "com"


@pytest.mark.django_db
def test_a_guest_email_longer_than_254_characters_is_refused_by_name(guest_api, shoe):
    assert len(LONG_EMAIL) == 260
    guest_api.post("/api/v1/cart/lines", {"product_id": shoe.pk, "quantity": 1}, format="json")
    response = post_checkout(guest_api, checkout_body(email=LONG_EMAIL))
    assert response.status_code == 400
    assert error_of(response)["fields"] == {"email": ["Ensure this field has no more than 254 characters."]}
    assert Order.objects.count() == 0


@pytest.mark.django_db
def test_a_guest_email_is_kept_in_its_normal_form(guest_api, shoe, django_capture_on_commit_callbacks):
    guest_api.post("/api/v1/cart/lines", {"product_id": shoe.pk, "quantity": 1}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        response = post_checkout(guest_api, checkout_body(email="\u017fam@Example.COM"))
    assert response.status_code == 201
    assert Order.objects.get().email == "sam@example.com"
    assert mail.outbox[0].to == ["sam@example.com"]
