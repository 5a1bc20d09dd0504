"""Issue 18: the fulfilment API for warehouse systems. API keys with orders:read list the orders
to ship, oldest first by cursor; keys with orders:fulfil ship them (the payment is captured, once,
whatever the retries) and mark them delivered. A key without the scope is refused, and the
customer's order page shows the parcel."""

from __future__ import annotations

import json
import time
from unittest import mock

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from orders import services
from orders.models import Order, OrderEvent
from orders.states import OrderState
from payments import services as payments_services
from payments.models import Payment
from shop import signatures
from shop.models import ClientAPIKey
from tests.api_helpers import error_of
from tests.orders.conftest import checkout_input, fill_cart

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/fulfilment/orders"
PARCEL = {"carrier": "DHL", "tracking_number": "JJD000390007812345"}


def ship_url(order: Order) -> str:
    return f"/api/v1/fulfilment/orders/{order.number}/ship"


def deliver_url(order: Order) -> str:
    return f"/api/v1/fulfilment/orders/{order.number}/deliver"


def api_key_client(*scopes: str, name: str = "Warehouse") -> APIClient:
    _, raw = ClientAPIKey.objects.create_key(name=name, scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


@pytest.fixture
def warehouse(db) -> APIClient:
    """A warehouse system's key that may read and fulfil orders."""
    return api_key_client("orders:read", "orders:fulfil")


def place(customer, product, *, quantity: int = 1, card: str = "tok_visa", capture) -> Order:
    fill_cart(user=customer, lines={product: quantity})
    with capture(execute=True):
        order = services.place_order(checkout=checkout_input(payment_method=card), customer=customer).value
    return Order.objects.get(pk=order.pk)


@pytest.fixture
def authorized(customer, shoe, django_capture_on_commit_callbacks) -> Order:
    order = place(customer, shoe, quantity=2, capture=django_capture_on_commit_callbacks)
    assert order.state == OrderState.AUTHORIZED
    return order


def ship(client: APIClient, order: Order, body: dict | None = None, key: str = "ship-1"):
    return client.post(ship_url(order), PARCEL if body is None else body, format="json", HTTP_IDEMPOTENCY_KEY=key)


# --- Listing ---------------------------------------------------------------------------------------------


def test_the_warehouse_lists_orders_ready_to_ship_oldest_first_page_by_page(
    warehouse, customer, shoe, sock, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    # given: three authorized orders, one declined (payment failed) and one shipped already
    ready = [place(customer, product, capture=django_capture_on_commit_callbacks) for product in (shoe, sock, shoe)]
    place(customer, sock, card="tok_declined", capture=django_capture_on_commit_callbacks)
    gone = place(customer, sock, capture=django_capture_on_commit_callbacks)
    services.mark_shipped(order_id=gone.pk)
    # when: the warehouse reads two at a time
    with django_assert_max_num_queries(4):  # the key, the orders, their lines
        first = warehouse.get(LIST_URL, {"page_size": 2})
    second = warehouse.get(first.json()["next"])
    # then: the authorized ones only, oldest first, with what a label needs
    assert (first.status_code, second.status_code) == (200, 200)
    listed = [o["number"] for o in first.json()["results"] + second.json()["results"]]
    assert listed == [order.number for order in ready]
    assert second.json()["next"] is None
    top = first.json()["results"][0]
    assert top["state"] == "authorized"
    assert top["lines"] == [{"product_id": shoe.pk, "sku": shoe.sku, "title": "Trail shoe", "quantity": 1}]
    assert top["address"]["city"] and top["tracking_number"] == ""


def test_the_warehouse_lists_the_orders_on_their_way(warehouse, authorized):
    assert warehouse.get(LIST_URL, {"state": "shipped"}).json()["results"] == []
    ship(warehouse, authorized)
    on_the_way = warehouse.get(LIST_URL, {"state": "shipped"}).json()["results"]
    assert [(o["number"], o["tracking_number"]) for o in on_the_way] == [(authorized.number, PARCEL["tracking_number"])]
    warehouse.post(deliver_url(authorized))
    assert warehouse.get(LIST_URL, {"state": "shipped"}).json()["results"] == []


def test_listing_another_state_is_a_400_naming_it(warehouse):
    response = warehouse.get(LIST_URL, {"state": "placed"})
    assert (response.status_code, list(error_of(response)["fields"])) == (400, ["state"])
    # ... and the schema says so, as the fuzzer checks (an undocumented status code fails CI)
    schema = warehouse.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert "400" in schema["paths"]["/api/v1/fulfilment/orders"]["get"]["responses"]


# --- Scopes ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scopes", "method", "path"),
    [(["stock:write"], "get", "list"), (["orders:fulfil"], "get", "list"), (["orders:read"], "post", "ship"),
     (["orders:read"], "post", "deliver"), ([], "post", "ship")],
    ids=["stock-key-lists", "fulfil-only-lists", "read-only-ships", "read-only-delivers", "no-scope-ships"],
)  # fmt: skip
def test_a_key_without_the_scope_gets_403_and_changes_nothing(authorized, scopes, method, path):
    client = api_key_client(*scopes)
    url = {"list": LIST_URL, "ship": ship_url(authorized), "deliver": deliver_url(authorized)}[path]
    response = getattr(client, method)(url, PARCEL if path == "ship" else None, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert (response.status_code, error_of(response)["code"]) == (403, "permission_denied")
    assert Order.objects.get(pk=authorized.pk).state == OrderState.AUTHORIZED


def test_no_key_or_a_customer_gets_403(authorized, customer):
    signed_in = APIClient()
    signed_in.force_authenticate(customer)
    for client in (APIClient(), signed_in):
        assert client.get(LIST_URL).status_code == 403
        assert client.post(ship_url(authorized), PARCEL, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 403
    assert Order.objects.get(pk=authorized.pk).state == OrderState.AUTHORIZED


# --- Shipping ----------------------------------------------------------------------------------------------


def test_ship_captures_the_payment_once_and_a_replay_answers_the_same_order(warehouse, authorized):
    with mock.patch.object(payments_services, "capture_payment", wraps=payments_services.capture_payment) as capture:
        first = ship(warehouse, authorized)
        again = ship(warehouse, authorized)
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json() == again.json()
    assert (first.json()["state"], first.json()["carrier"], first.json()["tracking_number"]) == (
        "shipped", "DHL", "JJD000390007812345")  # fmt: skip
    assert capture.call_count == 1
    payment = Payment.objects.get(order=authorized)
    assert (payment.state, payment.captured_amount) == ("captured", 10495)
    event = OrderEvent.objects.get(order=authorized, to_state=OrderState.SHIPPED)
    assert event.message == "DHL, tracking number JJD000390007812345"
    assert event.data["client"].startswith("Warehouse (")


def test_ship_once_only_another_key_is_409_and_the_same_key_for_another_parcel_is_422(warehouse, authorized):
    assert ship(warehouse, authorized).status_code == 200
    second = ship(warehouse, authorized, key="ship-2")
    assert (second.status_code, error_of(second)["code"]) == (409, "order_state_conflict")
    reused = ship(warehouse, authorized, {**PARCEL, "tracking_number": "OTHER"})
    assert (reused.status_code, error_of(reused)["code"]) == (422, "idempotency_key_reused")
    order = Order.objects.get(pk=authorized.pk)
    assert (order.tracking_number, OrderEvent.objects.filter(order=order, to_state="shipped").count()) == (
        "JJD000390007812345", 1)  # fmt: skip


def test_ship_needs_the_key_header_the_carrier_and_the_tracking_number(warehouse, authorized):
    no_key = warehouse.post(ship_url(authorized), PARCEL, format="json")
    assert (no_key.status_code, list(error_of(no_key)["fields"])) == (400, ["Idempotency-Key"])
    no_tracking = ship(warehouse, authorized, {"carrier": "DHL"})
    assert (no_tracking.status_code, list(error_of(no_tracking)["fields"])) == (400, ["tracking_number"])
    assert Order.objects.get(pk=authorized.pk).state == OrderState.AUTHORIZED


def test_an_order_not_paid_for_does_not_ship(warehouse, customer, shoe, django_capture_on_commit_callbacks):
    declined = place(customer, shoe, card="tok_declined", capture=django_capture_on_commit_callbacks)
    response = ship(warehouse, declined)
    assert (response.status_code, error_of(response)["code"]) == (409, "order_state_conflict")
    assert Order.objects.get(pk=declined.pk).state == OrderState.PAYMENT_FAILED


def test_an_unknown_order_is_a_404(warehouse):
    response = warehouse.post("/api/v1/fulfilment/orders/SO-NOPE0-NOPE0/deliver")
    assert (response.status_code, error_of(response)["code"]) == (404, "order_not_found")


# --- Delivery ----------------------------------------------------------------------------------------------


def test_deliver_marks_it_delivered_once(warehouse, authorized):
    ship(warehouse, authorized)
    first = warehouse.post(deliver_url(authorized))
    again = warehouse.post(deliver_url(authorized))
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["state"] == "delivered" and first.json()["delivered_at"]
    assert again.json()["delivered_at"] == first.json()["delivered_at"]
    assert OrderEvent.objects.filter(order=authorized, to_state=OrderState.DELIVERED).count() == 1


def test_an_order_that_never_shipped_cannot_be_delivered(warehouse, authorized):
    response = warehouse.post(deliver_url(authorized))
    assert (response.status_code, error_of(response)["code"]) == (409, "order_state_conflict")
    assert Order.objects.get(pk=authorized.pk).delivered_at is None


# --- What the customer sees ----------------------------------------------------------------------------------


def test_the_customer_sees_shipped_with_tracking_then_delivered(client, warehouse, customer, authorized):
    client.force_login(customer)
    url = reverse("orders:detail", args=[authorized.number])
    ship(warehouse, authorized)
    shipped_page = client.get(url).content.decode()
    assert 'order-state-shipped">Shipped<' in shipped_page
    assert "with DHL" in shipped_page and '<dd class="order-tracking">JJD000390007812345</dd>' in shipped_page
    warehouse.post(deliver_url(authorized))
    delivered_page = client.get(url).content.decode()
    assert 'order-state-delivered">Delivered<' in delivered_page and "<dt>Delivered</dt>" in delivered_page
    api = APIClient()
    api.force_authenticate(customer)
    body = api.get(f"/api/v1/orders/{authorized.number}").json()
    assert (body["state"], body["tracking_number"], body["carrier"]) == ("delivered", "JJD000390007812345", "DHL")


def test_the_schema_documents_the_fulfilment_api(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    ship_op = schema["paths"]["/api/v1/fulfilment/orders/{number}/ship"]["post"]
    assert {"200", "400", "403", "404", "409", "422", "503"} <= set(ship_op["responses"])
    assert any(p["name"] == "Idempotency-Key" and p["required"] for p in ship_op["parameters"])
    listing = schema["paths"]["/api/v1/fulfilment/orders"]["get"]
    assert {"cursor", "page_size", "state"} <= {p["name"] for p in listing["parameters"]}
    assert "403" in schema["paths"]["/api/v1/fulfilment/orders/{number}/deliver"]["post"]["responses"]


# --- A carrier's signed delivery webhook -------------------------------------------------------------------

CARRIER_SECRET = "dhl-test-secret"


def carrier_event(body: dict, *, secret: str = CARRIER_SECRET, timestamp: int | None = None, carrier: str = "dhl"):
    raw = json.dumps(body).encode()
    header = signatures.sign(raw, secret=secret, timestamp=timestamp)
    return APIClient().post(f"/api/v1/fulfilment/carriers/{carrier}/events", raw, content_type="application/json",
                            HTTP_CARRIER_SIGNATURE=header)  # fmt: skip


@pytest.fixture
def carrier_shipped(warehouse, authorized, settings) -> Order:
    settings.ORDERS_CARRIER_WEBHOOK_SECRETS = {"dhl": CARRIER_SECRET}
    ship(warehouse, authorized)
    return authorized


DELIVERED_EVENT = {"event_id": "evt-1", "type": "delivered", "tracking_number": PARCEL["tracking_number"]}


def test_a_signed_carrier_event_delivers_the_order_once(carrier_shipped):
    first = carrier_event(DELIVERED_EVENT)
    again = carrier_event(DELIVERED_EVENT)  # the carrier sends it again
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["state"] == "delivered" and again.json()["delivered_at"] == first.json()["delivered_at"]
    event = OrderEvent.objects.get(order=carrier_shipped, to_state=OrderState.DELIVERED)
    assert event.data == {"client": "carrier dhl (event evt-1)"}


@pytest.mark.parametrize(
    ("secret", "age"), [("forged-secret", 0), (CARRIER_SECRET, 600)], ids=["forged", "too-old"]
)
def test_a_forged_or_old_carrier_event_is_refused_and_changes_nothing(carrier_shipped, secret, age):
    response = carrier_event(DELIVERED_EVENT, secret=secret, timestamp=int(time.time()) - age)
    assert (response.status_code, error_of(response)["code"]) == (400, "invalid_signature")
    assert Order.objects.get(pk=carrier_shipped.pk).state == OrderState.SHIPPED


def test_an_unsigned_event_an_unknown_carrier_or_parcel_is_refused(carrier_shipped):
    unsigned = APIClient().post("/api/v1/fulfilment/carriers/dhl/events", DELIVERED_EVENT, format="json")
    assert (unsigned.status_code, error_of(unsigned)["code"]) == (400, "invalid_signature")
    assert carrier_event(DELIVERED_EVENT, carrier="ups").status_code == 404
    unknown = carrier_event({**DELIVERED_EVENT, "tracking_number": "NOPE"})
    assert (unknown.status_code, error_of(unknown)["code"]) == (404, "order_not_found")
    assert Order.objects.get(pk=carrier_shipped.pk).state == OrderState.SHIPPED
