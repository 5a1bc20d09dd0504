"""Cart API essentials: a guest adds offline operations, replays them, signs in and keeps the cart."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from tests.accounts.factories import DEFAULT_PASSWORD, UserFactory
from tests.cart.factories import stocked_product
from tests.catalog.factories import ProductFactory

pytestmark = pytest.mark.django_db


@pytest.mark.smoke
def test_a_guest_syncs_replays_and_keeps_the_cart_at_sign_in(django_capture_on_commit_callbacks):
    # given: a guest app with a token and two products
    shoe, sock = ProductFactory(price="50.00"), ProductFactory(price="5.00")
    api = APIClient()
    token = api.post("/api/v1/guest-tokens").json()["guest_token"]
    api.credentials(HTTP_X_GUEST_TOKEN=token)
    batch = {"base_epoch": 0, "device": "phone", "operations": [
        {"op": "add", "tag": str(uuid.uuid4()), "product_id": shoe.pk, "quantity": 2},
        {"op": "add", "tag": str(uuid.uuid4()), "product_id": sock.pk, "quantity": 3},
    ]}  # fmt: skip
    # when: the batch is sent twice (a retry), then the guest signs in with the same token
    first = api.post("/api/v1/cart/operations", batch, format="json")
    replay = api.post("/api/v1/cart/operations", batch, format="json")
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        signed_in = api.post("/api/v1/auth/token", {"email": user.email, "password": DEFAULT_PASSWORD}, format="json")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {signed_in.json()['access']}")
    mine = api.get("/api/v1/cart")
    # then
    assert first.status_code == replay.status_code == 200
    assert first.json()["lines"] == replay.json()["lines"]
    assert {(line["product_id"], line["quantity"]) for line in mine.json()["lines"]} == {(shoe.pk, 2), (sock.pk, 3)}
    assert mine.json()["subtotal"] == "115.00"
    assert mine.json()["item_count"] == 5


def test_a_remove_of_observed_tags_leaves_a_concurrent_add(django_capture_on_commit_callbacks):
    shoe = stocked_product()
    api = APIClient()
    api.force_authenticate(UserFactory())
    seen = str(uuid.uuid4())
    api.post("/api/v1/cart/operations", {"base_epoch": 0, "operations": [
        {"op": "add", "tag": seen, "product_id": shoe.pk, "quantity": 1}]}, format="json")  # fmt: skip
    # another device adds 4 (not observed by the remove below)
    api.post("/api/v1/cart/lines", {"product_id": shoe.pk, "quantity": 4}, format="json")
    cart = api.post("/api/v1/cart/operations", {"base_epoch": 0, "operations": [
        {"op": "remove", "tags": [seen]}]}, format="json").json()  # fmt: skip
    assert [(line["product_id"], line["quantity"]) for line in cart["lines"]] == [(shoe.pk, 4)]


def test_a_bad_operation_is_named_and_nothing_is_written():
    shoe = ProductFactory()
    api = APIClient()
    api.force_authenticate(UserFactory())
    response = api.post("/api/v1/cart/operations", {"base_epoch": 0, "operations": [
        {"op": "add", "tag": str(uuid.uuid4()), "product_id": shoe.pk, "quantity": 1},
        {"op": "add", "tag": "not-a-uuid", "product_id": shoe.pk, "quantity": 1}]}, format="json")  # fmt: skip
    assert response.status_code == 400
    assert "operations.1.tag" in response.json()["error"]["fields"]
    assert api.get("/api/v1/cart").json()["lines"] == []
