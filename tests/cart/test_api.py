"""The cart API: guests and accounts, two devices on one cart, replays, the epoch, bad input, the
line endpoints and a flat number of queries."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from cart import services
from cart.models import Cart, CartAdd, CartStatus
from catalog.models import Product
from tests.accounts.factories import DEFAULT_PASSWORD, UserFactory
from tests.cache_helpers import clear_cache
from tests.cart.conftest import bearer_client
from tests.cart.factories import add, row_counts, stocked_product
from tests.catalog.factories import ProductFactory

pytestmark = pytest.mark.django_db

OPERATIONS = "/api/v1/cart/operations"
NOT_SOLD = ["This product does not exist or is no longer sold."]


def an_add(product_id: int, quantity: int = 1, tag: str | None = None) -> dict:
    return {"op": "add", "tag": tag or str(uuid.uuid4()), "product_id": product_id, "quantity": quantity}


def batch(*operations: dict, base_epoch: int = 0) -> dict:
    return {"base_epoch": base_epoch, "device": "phone", "operations": list(operations)}


def lines_of(body: dict) -> dict[int, int]:
    return {line["product_id"]: line["quantity"] for line in body["lines"]}


# --- Who owns the cart ----------------------------------------------------------------------------


def test_a_guest_cart_joins_the_account_cart_at_sign_in(guest_api, shoe, sock, django_capture_on_commit_callbacks):
    # given: the account already holds a sock (from another device); the guest adds two shoes
    user = UserFactory()
    assert bearer_client(user).post("/api/v1/cart/lines", {"product_id": sock.pk}, format="json").status_code == 200
    assert guest_api.post(OPERATIONS, batch(an_add(shoe.pk, 2)), format="json").status_code == 200
    guest_cart = Cart.objects.get(user=None)
    # when: the guest app signs in, sending its guest token
    with django_capture_on_commit_callbacks(execute=True):
        signed_in = guest_api.post(
            "/api/v1/auth/token", {"email": user.email, "password": DEFAULT_PASSWORD}, format="json"
        )
    assert signed_in.status_code == 200
    guest_api.credentials(HTTP_AUTHORIZATION=f"Bearer {signed_in.json()['access']}")
    mine = guest_api.get("/api/v1/cart")
    # then
    assert mine.status_code == 200
    assert lines_of(mine.json()) == {shoe.pk: 2, sock.pk: 1}
    assert (mine.json()["item_count"], mine.json()["subtotal"]) == (3, "105.00")
    guest_cart.refresh_from_db()
    assert guest_cart.status == CartStatus.MERGED
    assert Cart.objects.filter(status=CartStatus.OPEN).count() == 1


def test_a_guest_cart_becomes_the_cart_of_the_account_it_signs_up(guest_api, shoe, django_capture_on_commit_callbacks):
    guest_api.post(OPERATIONS, batch(an_add(shoe.pk, 3)), format="json")

    with django_capture_on_commit_callbacks(execute=True):
        signed_up = guest_api.post(
            "/api/v1/auth/signup", {"email": "new@example.com", "password": "tangerine-orbit-lantern-42"}, format="json"
        )

    assert signed_up.status_code == 201
    guest_api.credentials(HTTP_AUTHORIZATION=f"Bearer {signed_up.json()['tokens']['access']}")
    assert lines_of(guest_api.get("/api/v1/cart").json()) == {shoe.pk: 3}
    assert Cart.objects.get(status=CartStatus.OPEN).user.email == "new@example.com"


def test_signing_in_again_with_the_same_guest_token_merges_nothing_twice(
    guest_api, shoe, django_capture_on_commit_callbacks
):
    user = UserFactory()
    guest_api.post(OPERATIONS, batch(an_add(shoe.pk, 2)), format="json")
    credentials = {"email": user.email, "password": DEFAULT_PASSWORD}
    with django_capture_on_commit_callbacks(execute=True):
        guest_api.post("/api/v1/auth/token", credentials, format="json")
    before = row_counts()

    with django_capture_on_commit_callbacks(execute=True):
        again = guest_api.post("/api/v1/auth/token", credentials, format="json")

    assert again.status_code == 200
    assert row_counts() == before
    assert lines_of(bearer_client(user).get("/api/v1/cart").json()) == {shoe.pk: 2}


def test_a_guest_sync_racing_the_sign_in_merge_is_not_lost(shoe, sock, monkeypatch):
    # given: a guest cart; the app's sync request has found it when the sign-in merge commits
    user, guest_api = UserFactory(), APIClient()
    token = guest_api.post("/api/v1/guest-tokens").json()["guest_token"]
    guest_api.credentials(HTTP_X_GUEST_TOKEN=token)
    guest_api.post(OPERATIONS, batch(an_add(shoe.pk, 1)), format="json")
    apply_operations = services.apply_operations

    def merge_first(**kwargs):
        services.merge_guest_cart(user=user, guest_token=token)  # the other request wins the lock
        return apply_operations(**kwargs)

    monkeypatch.setattr(services, "apply_operations", merge_first)
    tag = str(uuid.uuid4())
    # when
    response = guest_api.post(OPERATIONS, batch(an_add(sock.pk, 2, tag)), format="json")
    # then: the sync is refused with a resync (the app fetches its cart again and resends), and
    # nothing was written to the closed guest cart
    account = Cart.objects.get(user=user, status=CartStatus.OPEN)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "cart_resync_required"
    assert not CartAdd.objects.filter(tag=tag).exists()
    assert account.pk != Cart.objects.get(guest_key__isnull=False).pk


def test_one_account_on_two_devices_sees_one_cart(customer, shoe, sock):
    # given: a phone and a laptop, each with its own access token
    phone, laptop = bearer_client(customer), bearer_client(customer)
    first = phone.post(OPERATIONS, batch(an_add(shoe.pk, 1)), format="json").json()
    # when: the laptop reads the cart, removes the shoe tag it saw, and adds a sock
    seen = laptop.get("/api/v1/cart").json()
    assert seen == first
    laptop.post(
        OPERATIONS, batch({"op": "remove", "tags": seen["lines"][0]["tags"]}, an_add(sock.pk, 2)), format="json"
    )
    # then
    assert lines_of(phone.get("/api/v1/cart").json()) == {sock.pk: 2}
    assert Cart.objects.filter(user=customer).count() == 1


def test_a_replayed_batch_gets_the_same_answer_and_writes_no_row(customer_api, shoe, sock):
    sent = batch(an_add(shoe.pk, 2), an_add(sock.pk, 1), {"op": "remove", "tags": [str(uuid.uuid4())]})
    first = customer_api.post(OPERATIONS, sent, format="json")
    before = row_counts()

    replay = customer_api.post(OPERATIONS, sent, format="json")

    assert first.status_code == replay.status_code == 200
    assert replay.json() == first.json()
    assert row_counts() == before


def test_the_answer_shows_each_line_with_its_card_price_tags_and_availability(customer_api, shoe):
    tag = str(uuid.uuid4())

    body = customer_api.post(OPERATIONS, batch(an_add(shoe.pk, 2, tag)), format="json").json()

    (line,) = body["lines"]
    assert {k: line[k] for k in ("product_id", "quantity", "tags", "unit_price", "line_total", "notices")} == {
        "product_id": shoe.pk, "quantity": 2, "tags": [tag], "unit_price": "50.00", "line_total": "100.00", "notices": [],
    }  # fmt: skip
    assert (line["product"]["id"], line["product"]["title"]) == (shoe.pk, "Trail shoe")
    assert line["availability"] == {"status": "in_stock", "quantity": 50, "label": "In stock"}
    assert {k: body[k] for k in ("epoch", "item_count", "subtotal", "notices")} == {
        "epoch": 0, "item_count": 2, "subtotal": "100.00", "notices": [],
    }  # fmt: skip


def test_a_stale_epoch_gets_409_cart_resync_required_and_nothing_is_written(customer_api, customer, shoe):
    # given: the cart was compacted since the phone last synced
    customer_api.post(OPERATIONS, batch(an_add(shoe.pk, 1)), format="json")
    services.compact_cart(cart_id=Cart.objects.get(user=customer).pk)
    before = row_counts()
    # when
    response = customer_api.post(OPERATIONS, batch(an_add(shoe.pk, 4), base_epoch=0), format="json")
    # then
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "cart_resync_required"
    assert response.json()["error"]["fields"] == {"base_epoch": ["The cart is at epoch 1."]}
    assert row_counts() == before
    fresh = customer_api.get("/api/v1/cart").json()
    resent = customer_api.post(OPERATIONS, batch(an_add(shoe.pk, 4), base_epoch=fresh["epoch"]), format="json")
    assert (resent.status_code, lines_of(resent.json()), resent.json()["epoch"]) == (200, {shoe.pk: 5}, 1)


# --- Bad input ------------------------------------------------------------------------------------


def _not_sold(kind: str) -> int:
    if kind == "unknown":
        return Product.objects.latest("pk").pk + 1000
    return stocked_product(is_active=False).pk


@pytest.mark.parametrize("kind", ["unknown", "inactive"])
def test_a_product_not_sold_is_refused_naming_the_operation_and_nothing_is_written(customer_api, shoe, kind):
    customer_api.post(OPERATIONS, batch(an_add(shoe.pk)), format="json")
    not_sold = _not_sold(kind)
    before = row_counts()

    response = customer_api.post(OPERATIONS, batch(an_add(shoe.pk, 3), an_add(not_sold)), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "product_not_available"
    assert response.json()["error"]["fields"] == {"operations.1.product_id": NOT_SOLD}
    assert row_counts() == before
    assert lines_of(customer_api.get("/api/v1/cart").json()) == {shoe.pk: 1}


@pytest.mark.parametrize(
    ("operation", "field"),
    [
        pytest.param({"op": "add", "tag": "not-a-uuid", "product_id": 1, "quantity": 1}, "operations.1.tag", id="uuid"),
        pytest.param({"op": "jump", "tag": str(uuid.uuid4())}, "operations.1.op", id="unknown-op"),
        pytest.param({"tag": str(uuid.uuid4()), "product_id": 1, "quantity": 1}, "operations.1.op", id="no-op"),
        pytest.param({"op": "add", "product_id": 1, "quantity": 1}, "operations.1.tag", id="add-without-tag"),
        pytest.param({"op": "add", "tag": str(uuid.uuid4()), "quantity": 1}, "operations.1.product_id", id="no-product"),
        pytest.param({"op": "add", "tag": str(uuid.uuid4()), "product_id": 1}, "operations.1.quantity", id="no-quantity"),
        pytest.param({"op": "add", "tag": str(uuid.uuid4()), "product_id": 1, "quantity": 0}, "operations.1.quantity",
                     id="quantity-0"),
        pytest.param({"op": "add", "tag": str(uuid.uuid4()), "product_id": 1, "quantity": 100},
                     "operations.1.quantity", id="quantity-100"),
        pytest.param({"op": "remove"}, "operations.1.tags", id="remove-without-tags"),
        pytest.param({"op": "remove", "tags": []}, "operations.1.tags", id="remove-of-nothing"),
        pytest.param({"op": "remove", "tags": ["nope"]}, "operations.1.tags.0", id="remove-bad-uuid"),
    ],
)  # fmt: skip
def test_a_malformed_operation_is_refused_naming_it_and_nothing_is_written(customer_api, shoe, operation, field):
    before = row_counts()

    response = customer_api.post(OPERATIONS, batch(an_add(shoe.pk), operation), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert list(response.json()["error"]["fields"]) == [field]
    assert row_counts() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"operations": []}, "base_epoch", id="no-epoch"),
        pytest.param({"base_epoch": -1, "operations": []}, "base_epoch", id="negative-epoch"),
        pytest.param({"base_epoch": 0}, "operations", id="no-operations"),
        pytest.param({"base_epoch": 0, "operations": "add"}, "operations.non_field_errors", id="not-a-list"),
    ],
)
def test_a_malformed_batch_is_refused_naming_the_field(customer_api, body, field):
    before = row_counts()

    response = customer_api.post(OPERATIONS, body, format="json")

    assert response.status_code == 400
    assert (response.json()["error"]["code"], list(response.json()["error"]["fields"])) == ("invalid", [field])
    assert row_counts() == before


def test_more_than_200_operations_are_refused_and_200_pass(customer_api, shoe):
    before = row_counts()

    refused = customer_api.post(OPERATIONS, batch(*(an_add(shoe.pk) for _ in range(201))), format="json")

    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {
        "operations.non_field_errors": ["Ensure this field has no more than 200 elements."]
    }
    assert row_counts() == before
    accepted = customer_api.post(OPERATIONS, batch(*(an_add(shoe.pk) for _ in range(200))), format="json")
    assert (accepted.status_code, lines_of(accepted.json())) == (200, {shoe.pk: 99})  # 200 units, shown as 99


@pytest.mark.parametrize("header", [None, "short", "x" * 65, "bad token with spaces and more than 32 chars"])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("get", "/api/v1/cart", None), ("post", OPERATIONS, {"base_epoch": 0, "operations": []}),
     ("post", "/api/v1/cart/lines", {"product_id": 1}), ("put", "/api/v1/cart/lines/1", {"quantity": 1}),
     ("delete", "/api/v1/cart/lines/1", None)],
)  # fmt: skip
def test_without_a_valid_guest_token_or_an_account_there_is_no_cart(db, method, path, body, header):
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_X_GUEST_TOKEN=header)
    ProductFactory()
    before = row_counts()

    response = getattr(client, method)(path, body, format="json")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "cart_not_found"
    assert row_counts() == before


def test_a_guest_token_with_no_cart_yet_reads_an_empty_cart(guest_api):
    response = guest_api.get("/api/v1/cart")

    assert response.status_code == 200
    assert response.json() == {"epoch": 0, "lines": [], "item_count": 0, "subtotal": "0.00", "notices": []}
    assert row_counts() == (0, 0, 0)


def test_two_guests_never_see_each_other_cart(guest_api, shoe):
    other = APIClient()
    other.credentials(HTTP_X_GUEST_TOKEN=other.post("/api/v1/guest-tokens").json()["guest_token"])

    guest_api.post(OPERATIONS, batch(an_add(shoe.pk, 2)), format="json")

    assert other.get("/api/v1/cart").json()["lines"] == []
    assert lines_of(guest_api.get("/api/v1/cart").json()) == {shoe.pk: 2}


# --- Line endpoints -------------------------------------------------------------------------------


def test_line_endpoints_add_set_and_remove(guest_api, shoe, sock):
    added = guest_api.post("/api/v1/cart/lines", {"product_id": shoe.pk, "quantity": 2}, format="json")
    again = guest_api.post("/api/v1/cart/lines", {"product_id": shoe.pk}, format="json")
    socks = guest_api.post("/api/v1/cart/lines", {"product_id": sock.pk, "quantity": 4}, format="json")
    assert (added.status_code, lines_of(added.json())) == (200, {shoe.pk: 2})
    assert lines_of(again.json()) == {shoe.pk: 3}  # a second add of 1, the default
    assert len(again.json()["lines"][0]["tags"]) == 2
    assert lines_of(socks.json()) == {shoe.pk: 3, sock.pk: 4}

    set_to_5 = guest_api.put(f"/api/v1/cart/lines/{shoe.pk}", {"quantity": 5}, format="json")
    assert (set_to_5.status_code, lines_of(set_to_5.json())) == (200, {shoe.pk: 5, sock.pk: 4})
    assert len(set_to_5.json()["lines"][0]["tags"]) == 1

    set_to_0 = guest_api.put(f"/api/v1/cart/lines/{shoe.pk}", {"quantity": 0}, format="json")
    assert (set_to_0.status_code, lines_of(set_to_0.json())) == (200, {sock.pk: 4})

    deleted = guest_api.delete(f"/api/v1/cart/lines/{sock.pk}")
    assert (deleted.status_code, deleted.json()["lines"], deleted.json()["item_count"]) == (200, [], 0)


@pytest.mark.parametrize(
    ("method", "path_suffix", "body", "field"),
    [("post", "", {"product_id": "{shoe}", "quantity": 0}, "quantity"),
     ("post", "", {"product_id": "{shoe}", "quantity": 100}, "quantity"),
     ("post", "", {"quantity": 1}, "product_id"),
     ("put", "/{shoe}", {"quantity": 100}, "quantity"),
     ("put", "/{shoe}", {"quantity": -1}, "quantity"),
     ("put", "/{shoe}", {}, "quantity")],
)  # fmt: skip
def test_a_line_edit_out_of_bounds_is_refused_naming_the_field(customer_api, shoe, method, path_suffix, body, field):
    customer_api.post("/api/v1/cart/lines", {"product_id": shoe.pk, "quantity": 2}, format="json")
    before = row_counts()
    body = {k: shoe.pk if v == "{shoe}" else v for k, v in body.items()}

    response = getattr(customer_api, method)(
        "/api/v1/cart/lines" + path_suffix.format(shoe=shoe.pk), body, format="json"
    )

    assert response.status_code == 400
    assert (response.json()["error"]["code"], list(response.json()["error"]["fields"])) == ("invalid", [field])
    assert row_counts() == before


@pytest.mark.parametrize("kind", ["unknown", "inactive"])
@pytest.mark.parametrize("method", ["post", "put"])
def test_a_line_of_a_product_not_sold_is_refused(customer_api, shoe, kind, method):
    customer_api.post("/api/v1/cart/lines", {"product_id": shoe.pk}, format="json")
    not_sold = _not_sold(kind)
    before = row_counts()

    if method == "post":
        response = customer_api.post("/api/v1/cart/lines", {"product_id": not_sold, "quantity": 1}, format="json")
    else:
        response = customer_api.put(f"/api/v1/cart/lines/{not_sold}", {"quantity": 1}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "product_not_available"
    assert response.json()["error"]["fields"] == {"product_id": NOT_SOLD}
    assert row_counts() == before


def test_the_101st_product_gets_409_cart_full(customer_api, customer, shoe):
    cart = services.get_or_create_cart(user=customer)
    services.apply_operations(
        cart_id=cart.pk, base_epoch=0, operations=[add(p.pk) for p in ProductFactory.create_batch(100)]
    )
    before = row_counts()

    line = customer_api.post("/api/v1/cart/lines", {"product_id": shoe.pk}, format="json")
    synced = customer_api.post(OPERATIONS, batch(an_add(shoe.pk)), format="json")

    assert (line.status_code, line.json()["error"]["code"]) == (409, "cart_full")
    assert (synced.status_code, synced.json()["error"]["code"]) == (409, "cart_full")
    assert row_counts() == before


# --- Queries --------------------------------------------------------------------------------------


def _queries_of_get(client: APIClient) -> int:
    clear_cache()
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/api/v1/cart")
    assert response.status_code == 200
    return len(captured)


def test_reading_the_cart_takes_as_many_queries_with_50_lines_as_with_1(customer_api, customer):
    cart = services.get_or_create_cart(user=customer)
    products = [stocked_product() for _ in range(50)]
    services.apply_operations(cart_id=cart.pk, base_epoch=0, operations=[add(products[0].pk, 2)])
    with_one = _queries_of_get(customer_api)

    services.apply_operations(cart_id=cart.pk, base_epoch=0, operations=[add(p.pk) for p in products[1:]])
    with_fifty = _queries_of_get(customer_api)

    assert len(customer_api.get("/api/v1/cart").json()["lines"]) == 50
    assert with_fifty == with_one
    assert with_one <= 7  # user, cart, live adds, product cards and their images, prices, stock
    assert CartAdd.objects.filter(cart=cart).count() == 50


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("post", "/api/v1/cart/lines", {"product_id": 2**70}),
        ("post", "/api/v1/cart/operations", {"base_epoch": 0, "operations": [
            {"op": "add", "tag": "3f1c1c3e-8a47-4b8e-9d55-0e2f3c9b7a10", "product_id": 2**70, "quantity": 1}]}),
    ],
)  # fmt: skip
def test_a_product_id_past_64_bits_is_a_400_not_a_500(customer, method, url, body):
    response = getattr(bearer_client(customer), method)(url, body, format="json")
    assert response.status_code == 400
    assert (
        bearer_client(customer)
        .put("/api/v1/cart/lines/99999999999999999999999", {"quantity": 1}, format="json")
        .status_code
        == 404
    )


def test_a_batch_naming_more_than_1000_tags_is_refused(customer):
    removes = [{"op": "remove", "tags": [str(uuid.uuid4()) for _ in range(500)]} for _ in range(3)]
    response = bearer_client(customer).post(OPERATIONS, {"base_epoch": 0, "operations": removes}, format="json")
    assert response.status_code == 400
    assert "operations" in response.json()["error"]["fields"]


def test_an_offline_add_and_remove_of_a_product_no_longer_sold_syncs(customer, shoe):
    Product.objects.filter(pk=shoe.pk).update(is_active=False)
    tag = str(uuid.uuid4())
    response = bearer_client(customer).post(
        OPERATIONS, batch(an_add(shoe.pk, 1, tag), {"op": "remove", "tags": [tag]}), format="json"
    )
    assert response.status_code == 200
    assert response.json()["lines"] == []
