"""The order pipeline's counters and lag histograms move when their event happens (issue 14)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from orders import services
from orders.models import Order
from tests.accounts.factories import UserFactory
from tests.metrics_helpers import Moves
from tests.orders.conftest import checkout_input, fill_cart
from tests.orders.test_api import post_checkout
from tests.orders.test_storefront_checkout import place_form, walk_to_review

REVIEW_URL = "/checkout/review/"


@pytest.fixture
def api(customer):
    from tests.cart.conftest import bearer_client

    return bearer_client(customer)


@pytest.mark.django_db
def test_an_api_checkout_counts_placed_allocated_and_authorized_with_both_lags(
    api, customer, shoe, django_capture_on_commit_callbacks
):
    fill_cart(user=customer, lines={shoe: 2})
    moved = Moves()
    with django_capture_on_commit_callbacks(execute=True):
        response = post_checkout(api)
    assert response.status_code == 201
    assert Order.objects.get().channel == "api"
    assert moved("shop_orders_placed_total", channel="api") == 1
    assert moved("shop_orders_allocated_total", channel="api") == 1
    assert moved("shop_orders_authorized_total", channel="api") == 1
    assert moved("shop_orders_rejected_total", channel="api") == 0
    assert moved("shop_payments_failed_total", channel="api") == 0
    assert moved("shop_order_allocation_lag_seconds_count", outcome="allocated") == 1
    assert moved("shop_order_authorization_lag_seconds_count", outcome="authorized") == 1
    assert moved("shop_orders_placed_total", channel="storefront") == 0


@pytest.mark.django_db
def test_a_storefront_checkout_counts_on_the_storefront_channel(
    client, customer, shoe, django_capture_on_commit_callbacks
):
    client.force_login(customer)
    fill_cart(user=customer, lines={shoe: 1})
    review = walk_to_review(client)
    moved = Moves()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(REVIEW_URL, place_form(review))
    assert response.status_code == 302
    assert Order.objects.get().channel == "storefront"
    assert moved("shop_orders_placed_total", channel="storefront") == 1
    assert moved("shop_orders_allocated_total", channel="storefront") == 1
    assert moved("shop_orders_placed_total", channel="api") == 0


@pytest.mark.django_db
def test_allocation_and_rejection_count_once_committed_with_their_lags(shoe, django_capture_on_commit_callbacks):
    # given: two placed orders of 6 shoes each (10 in stock), not yet allocated, placed outside a request
    orders = []
    for buyer in (UserFactory(), UserFactory()):
        fill_cart(user=buyer, lines={shoe: 6})
        orders.append(services.place_order(checkout=checkout_input(), customer=buyer).value)  # on-commit not run
    moved = Moves()
    # when: allocation decides the first; nothing is counted before its transaction commits
    with django_capture_on_commit_callbacks(execute=False):
        services.allocate_order(order_id=orders[0].pk)
    assert moved("shop_orders_allocated_total", channel="other") == 0
    Order.objects.filter(pk=orders[0].pk).update(state="placed")  # that transaction "never happened"
    with django_capture_on_commit_callbacks(execute=True):
        services.allocate_order(order_id=orders[0].pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.allocate_order(order_id=orders[1].pk)
    # then
    assert [Order.objects.get(pk=o.pk).state for o in orders] == ["authorized", "rejected"]
    assert moved("shop_orders_allocated_total", channel="other") == 1
    assert moved("shop_orders_rejected_total", channel="other") == 1
    assert moved("shop_order_allocation_lag_seconds_count", outcome="allocated") == 1
    assert moved("shop_order_allocation_lag_seconds_count", outcome="rejected") == 1
    assert moved("shop_order_allocation_lag_seconds_sum", outcome="rejected") >= 0


@pytest.mark.django_db
def test_a_declined_card_counts_a_failed_payment_and_its_lag(api, customer, shoe, django_capture_on_commit_callbacks):
    fill_cart(user=customer, lines={shoe: 1})
    moved = Moves()
    with django_capture_on_commit_callbacks(execute=True):
        response = post_checkout(api, {**_body(), "payment_method": "tok_declined"})
    assert response.status_code == 201
    assert Order.objects.get().state == "payment_failed"
    assert moved("shop_payments_failed_total", channel="api") == 1
    assert moved("shop_orders_authorized_total", channel="api") == 0
    assert moved("shop_order_authorization_lag_seconds_count", outcome="payment_failed") == 1


@pytest.mark.django_db
def test_a_refused_checkout_counts_nothing(api, customer, shoe):
    moved = Moves()
    response = post_checkout(api)  # the cart is empty
    assert response.status_code == 409
    assert moved("shop_orders_placed_total", channel="api") == 0


def _body() -> dict:
    from tests.orders.test_api import checkout_body

    return checkout_body()


@pytest.mark.django_db
def test_the_allocation_lag_counts_from_placement_even_after_the_sweep_drove_the_order_again(
    shoe, settings, django_capture_on_commit_callbacks
):
    # given: an order placed ten minutes ago and stuck since, which the sweep has just driven again
    buyer = UserFactory()
    fill_cart(user=buyer, lines={shoe: 1})
    order = services.place_order(checkout=checkout_input(), customer=buyer).value  # on-commit not run
    ten_minutes_ago = timezone.now() - timedelta(minutes=10)
    Order.objects.filter(pk=order.pk).update(created_at=ten_minutes_ago, updated_at=ten_minutes_ago)
    settings.ORDERS_REDRIVE_AFTER_SECONDS = 60
    with django_capture_on_commit_callbacks(execute=False):
        assert services.redrive_stuck_orders()["placed"] == 1
    moved = Moves()
    # when
    with django_capture_on_commit_callbacks(execute=True):
        services.allocate_order(order_id=order.pk)
    # then: the lag is the ten minutes the customer waited, not the seconds since the sweep
    assert moved("shop_order_allocation_lag_seconds_count", outcome="allocated") == 1
    assert moved("shop_order_allocation_lag_seconds_sum", outcome="allocated") >= 600
