"""One request id: taken from a well-formed X-Request-ID or made fresh, returned, logged, stored (issue 14)."""

from __future__ import annotations

import re
import uuid

import pytest

from orders.models import Order
from shop.models import OutboxMessage
from tests.accounts.factories import UserFactory
from tests.cart.factories import stocked_product
from tests.orders.conftest import fill_cart

FRESH = re.compile(r"[0-9a-f]{32}")


@pytest.mark.smoke
def test_a_well_formed_request_id_is_echoed(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="checkout-7f3a_B-2")
    assert response["X-Request-ID"] == "checkout-7f3a_B-2"


def test_a_missing_request_id_is_generated_fresh_for_each_request(client):
    first, second = client.get("/healthz")["X-Request-ID"], client.get("/healthz")["X-Request-ID"]
    assert FRESH.fullmatch(first) and FRESH.fullmatch(second) and first != second


@pytest.mark.parametrize(
    "given",
    [
        "abc\ndef",  # a newline would split a log line
        "abc\r\nSet-Cookie: x=1",
        "a" * 1024,  # 1 kB
        "a" * 65,  # one over the limit
        "commande-été",  # non-ASCII
        "with space",
        "semi;colon",
        "",
    ],
    ids=["newline", "crlf-header", "1kB", "65-chars", "non-ascii", "space", "semicolon", "empty"],
)
def test_a_malformed_request_id_is_replaced_and_never_echoed(client, given):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=given)
    assert FRESH.fullmatch(response["X-Request-ID"])
    assert given not in response["X-Request-ID"] or not given


def test_64_characters_are_accepted(client):
    given = "A1_-" * 16
    assert client.get("/healthz", HTTP_X_REQUEST_ID=given)["X-Request-ID"] == given


@pytest.mark.django_db  # the 404 page shows the category menu
def test_an_error_page_carries_the_request_id_too(client):
    assert client.get("/no-such-page/", HTTP_X_REQUEST_ID="req-404")["X-Request-ID"] == "req-404"


@pytest.mark.django_db
def test_every_json_log_line_of_a_request_carries_its_id(client, json_lines):
    client.get("/healthz", HTTP_X_REQUEST_ID="req-json-1")
    client.get("/no-such-page/", HTTP_X_REQUEST_ID="req-json-2")  # django.request logs it after the middleware
    lines = json_lines()
    access = [line for line in lines if line["logger"] == "shop.request"]
    assert [(line["request_id"], line["status"]) for line in access] == [("req-json-1", 200), ("req-json-2", 404)]
    not_found = [line for line in lines if line["logger"] == "django.request"]
    assert not_found and all(line["request_id"] == "req-json-2" for line in not_found)
    for line in lines:
        assert {"time", "level", "logger", "message", "request_id", "user_id", "order_number"} <= set(line)


@pytest.mark.django_db
def test_a_log_line_with_a_newline_in_the_path_stays_one_line(client, json_lines):
    client.get("/p/evil%0A%7B%22level%22%3A%22CRITICAL%22%7D/", HTTP_X_REQUEST_ID="req-nl")
    access = [line for line in json_lines() if line["logger"] == "shop.request"]
    assert len(access) == 1 and "\n" not in access[0]["path"]


@pytest.mark.django_db
def test_the_order_and_its_outbox_messages_keep_the_checkouts_request_id(
    json_lines, django_capture_on_commit_callbacks
):
    from tests.cart.conftest import bearer_client

    customer, shoe = UserFactory(), stocked_product(available=5)
    api = bearer_client(customer)
    fill_cart(user=customer, lines={shoe: 1})
    request_id = f"req-{uuid.UUID(int=14).hex[:12]}"
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/checkout",
            {"address": {"full_name": "Ada", "line1": "1 Main St", "city": "Berlin", "postal_code": "10115",
                         "country": "DE"}, "delivery_option": "standard", "payment_method": "tok_visa"},
            format="json", HTTP_IDEMPOTENCY_KEY="k-rid", HTTP_X_REQUEST_ID=request_id,
        )  # fmt: skip
    assert response.status_code == 201 and response["X-Request-ID"] == request_id
    order = Order.objects.get()
    assert (order.request_id, order.channel) == (request_id, "api")
    messages = OutboxMessage.objects.filter(key=order.number)
    assert messages.count() >= 2 and {m.request_id for m in messages} == {request_id}
    # the pipeline's lines (placed, allocated, authorized) carry the request id, the order number and the user
    pipeline = [line for line in json_lines() if line["logger"] == "orders.pipeline"]
    assert [line["to_state"] for line in pipeline if "to_state" in line] == ["allocated", "authorized"]
    assert [(line["request_id"], line["order_number"]) for line in pipeline] == [(request_id, order.number)] * 3
    assert pipeline[0]["user_id"] == customer.pk
