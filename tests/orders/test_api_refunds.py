"""Staff refunds through the API and the admin: permission, idempotency, restock, limits."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group
from django.urls import reverse

from inventory import selectors as inventory_selectors
from orders import services
from orders.states import OrderState
from payments.models import Payment, Refund
from tests.accounts.factories import UserFactory
from tests.api_helpers import error_of
from tests.cart.conftest import bearer_client
from tests.orders.conftest import checkout_input, fill_cart


@pytest.fixture
def support(db):
    agent = UserFactory(is_staff=True)
    agent.groups.add(Group.objects.get(name="Support"))
    return agent


def refund(client, number: str, body: dict, key: str = "k1"):
    return client.post(f"/api/v1/orders/{number}/refunds", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.django_db
def test_staff_refund_part_of_an_order_with_restock_and_a_retry_returns_the_same_refund(shipped, shoe, support):
    api = bearer_client(support)
    body = {"amount": "50.00", "restock": [{"product_id": shoe.pk, "quantity": 1}], "reason": "one pair returned"}
    first = refund(api, shipped.number, body)
    assert first.status_code == 201, first.json()
    assert first.json() | {"reference": "-"} == {"reference": "-", "amount": "50.00", "state": "succeeded",
                                                  "order_state": "partially_refunded"}  # fmt: skip
    again = refund(api, shipped.number, body)
    assert (again.status_code, again.json()["reference"]) == (200, first.json()["reference"])
    assert Refund.objects.count() == 1
    assert inventory_selectors.get_level(product_id=shoe.pk) == 9
    rest = refund(api, shipped.number, {}, key="k2")
    assert (rest.status_code, rest.json()["amount"], rest.json()["order_state"]) == (201, "54.95", "refunded")
    over = refund(api, shipped.number, {"amount": "0.01"}, key="k3")
    assert (over.status_code, error_of(over)["code"]) == (409, "refund_refused")
    assert Payment.objects.get().refunded_amount == 10495


@pytest.mark.django_db
def test_customers_cannot_refund_and_bad_input_is_named(shipped, customer, shoe, support):
    assert refund(bearer_client(customer), shipped.number, {}).status_code == 403
    api = bearer_client(support)
    bad = refund(api, shipped.number, {"restock": [{"product_id": shoe.pk, "quantity": 3}]})
    assert (bad.status_code, list(error_of(bad)["fields"])) == (400, ["restock"])
    assert refund(api, "SO-NOPE0-NOPE0", {}).status_code == 404
    assert Refund.objects.count() == 0


@pytest.mark.django_db
def test_admin_refund_in_full_restocks_everything(client, shipped, shoe, support):
    client.force_login(support)
    response = client.post(reverse("admin:orders_order_changelist"),
                           {"action": "refund_in_full", ACTION_CHECKBOX_NAME: [shipped.pk], "post": "yes"}, follow=True)  # fmt: skip
    assert response.status_code == 200
    shipped.refresh_from_db()
    assert shipped.state == OrderState.REFUNDED
    assert Payment.objects.get().refunded_amount == 10495
    assert inventory_selectors.get_level(product_id=shoe.pk) == 10
    page = client.get(reverse("admin:orders_order_change", args=[shipped.pk])).content.decode()
    assert "4242" in page and "captured" in page.lower()


@pytest.mark.django_db
def test_admin_partial_refund_gives_back_the_amount_and_refuses_more_than_is_left(client, shipped, support):
    client.force_login(support)
    url = reverse("admin:orders_order_changelist")
    post = {"action": "refund_partly", ACTION_CHECKBOX_NAME: [shipped.pk], "refund_amount": "100.00", "post": "yes"}
    assert client.post(url, post, follow=True).status_code == 200
    assert Payment.objects.get().refunded_amount == 10000
    response = client.post(url, post, follow=True)  # only 4.95 left
    assert "At most 4.95 EUR can still be refunded." in response.content.decode()
    assert Payment.objects.get().refunded_amount == 10000
    missing = client.post(url, {**post, "refund_amount": ""}, follow=True)
    assert "Give the refund amount" in missing.content.decode() and Refund.objects.count() == 1
    customer_client = client.__class__()
    customer_client.force_login(UserFactory())
    customer_client.post(url, post)
    assert Refund.objects.count() == 1


@pytest.mark.django_db
def test_a_key_reused_for_another_order_or_amount_is_a_422_and_refunds_nothing(
    shipped, customer, shoe, support, django_capture_on_commit_callbacks
):
    fill_cart(user=customer, lines={shoe: 1})
    with django_capture_on_commit_callbacks(execute=True):
        other = services.place_order(checkout=checkout_input(), customer=customer).value
    with django_capture_on_commit_callbacks(execute=True):
        services.mark_shipped(order_id=other.pk)
    api = bearer_client(support)
    assert refund(api, shipped.number, {"amount": "10.00"}, key="same").status_code == 201
    other_order = refund(api, other.number, {"amount": "10.00"}, key="same")
    other_amount = refund(api, shipped.number, {"amount": "20.00"}, key="same")
    assert [(r.status_code, error_of(r)["code"]) for r in (other_order, other_amount)] == [
        (422, "idempotency_key_reused"), (422, "idempotency_key_reused"),
    ]  # fmt: skip
    assert Refund.objects.count() == 1
    other.refresh_from_db()
    assert other.state == OrderState.SHIPPED


@pytest.mark.django_db
def test_units_already_returned_are_not_restocked_again(client, shipped, shoe, support):
    api = bearer_client(support)
    first = refund(api, shipped.number, {"amount": "50.00", "restock": [{"product_id": shoe.pk, "quantity": 1}]})
    assert first.status_code == 201 and inventory_selectors.get_level(product_id=shoe.pk) == 9
    too_many = refund(api, shipped.number, {"amount": "1.00", "restock": [{"product_id": shoe.pk, "quantity": 2}]},
                      key="k2")  # fmt: skip
    assert (too_many.status_code, list(error_of(too_many)["fields"])) == (400, ["restock"])
    client.force_login(support)
    client.post(reverse("admin:orders_order_changelist"),
                {"action": "refund_in_full", ACTION_CHECKBOX_NAME: [shipped.pk], "post": "yes"})  # fmt: skip
    assert inventory_selectors.get_level(product_id=shoe.pk) == 10  # the second pair only, never a third
    assert Payment.objects.get().refunded_amount == 10495
