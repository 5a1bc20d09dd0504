"""Issue 19, item 9: the orders back office shows money as money, asks before any money or stock
operation on a page listing what will happen, offers a button per operation on the order's page
(each behind its permission), and tells the history in sentences."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.core import mail
from django.urls import reverse

from inventory import selectors as inventory_selectors
from orders.history import TIMES
from orders.models import Order
from orders.services import place_order
from orders.states import OrderState
from payments.models import Payment, Refund
from tests.accounts.factories import UserFactory
from tests.orders.conftest import checkout_input, fill_cart

pytestmark = pytest.mark.django_db

CHANGELIST_URL = reverse("admin:orders_order_changelist")


def change_url(order: Order) -> str:
    return reverse("admin:orders_order_change", args=[order.pk])


def operation_url(order: Order, operation: str) -> str:
    return reverse("admin:orders_order_operation", args=[order.pk, operation])


def staff(client, *codenames: str):
    user = UserFactory(staff=True, email=f"staff-{'-'.join(codenames) or 'viewer'}@example.com")
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="orders", codename__in=["view_order", *codenames])
    )
    client.force_login(user)
    return client


@pytest.fixture
def authorized(customer, shoe, django_capture_on_commit_callbacks):
    """3 shoes (150.00 + 4.95 delivery), allocated and authorized (eager Celery)."""
    fill_cart(user=customer, lines={shoe: 3})
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(checkout=checkout_input(), customer=customer).value
    order.refresh_from_db()
    assert order.state == OrderState.AUTHORIZED
    return order


def operation_links(html: str) -> list[str]:
    return re.findall(r'<a href="[^"]+" class="order-operation">([^<]+)</a>', html)


# --- Money as money ---------------------------------------------------------------------------------


def test_the_order_page_and_the_payments_list_show_money_never_minor_units(client, shipped):
    client.force_login(UserFactory(superuser=True))
    page = client.get(change_url(shipped)).content.decode()
    assert "104.95 EUR" in page and "10495" not in page
    payments = client.get(reverse("admin:payments_payment_changelist")).content.decode()
    assert "104.95 EUR" in payments and "10495" not in payments


# --- Confirmation pages for bulk actions -------------------------------------------------------------


def test_cancel_from_the_list_first_lists_what_will_happen_and_changes_nothing(client, authorized, shoe):
    staff(client, "cancel_order")
    page = client.post(CHANGELIST_URL, {"action": "cancel_orders", ACTION_CHECKBOX_NAME: [authorized.pk]})
    html = page.content.decode()
    assert page.status_code == 200
    assert "The order (154.95 EUR) is cancelled and the customer is e-mailed." in html
    assert f"Back to stock: 3 {TIMES} Trail shoe." in html
    assert "The card authorization of 154.95 EUR is voided: nothing is charged." in html
    assert 'name="post" value="yes"' in html and 'value="Yes, cancel"' in html
    authorized.refresh_from_db()
    assert authorized.state == OrderState.AUTHORIZED and inventory_selectors.get_level(product_id=shoe.pk) == 7
    # confirmed: now it happens
    client.post(CHANGELIST_URL, {"action": "cancel_orders", ACTION_CHECKBOX_NAME: [authorized.pk], "post": "yes"})
    authorized.refresh_from_db()
    assert authorized.state == OrderState.CANCELLED and inventory_selectors.get_level(product_id=shoe.pk) == 10


def test_refund_in_full_from_the_list_asks_with_the_amount_and_the_units(client, shipped):
    client.force_login(UserFactory(superuser=True))
    html = client.post(CHANGELIST_URL, {"action": "refund_in_full", ACTION_CHECKBOX_NAME: [shipped.pk]}).content.decode()
    assert "104.95 EUR is refunded to the customer&#x27;s card." in html
    assert f"Back to stock: 2 {TIMES} Trail shoe." in html
    assert Refund.objects.count() == 0


def test_an_order_that_cannot_take_the_operation_is_listed_as_left_alone(client, authorized, shipped):
    client.force_login(UserFactory(superuser=True))
    html = client.post(CHANGELIST_URL, {"action": "mark_orders_shipped",
                                        ACTION_CHECKBOX_NAME: [authorized.pk, shipped.pk]}).content.decode()  # fmt: skip
    assert "is marked shipped and 154.95 EUR is captured" in html
    assert f"<strong>{shipped.number}</strong>: Cannot be shipped: it is shipped" in html


# --- Buttons on the order's page, each behind its permission -----------------------------------------


def test_the_order_page_offers_the_operations_of_its_state(client, authorized, shipped):
    client.force_login(UserFactory(superuser=True))
    assert operation_links(client.get(change_url(authorized)).content.decode()) == [
        "Mark shipped", "Cancel order", "Resend an e-mail", "Add a note"]  # fmt: skip
    assert operation_links(client.get(change_url(shipped)).content.decode()) == [
        "Mark delivered", "Refund in full", "Refund part", "Resend an e-mail", "Add a note"]  # fmt: skip


def test_staff_see_only_the_buttons_of_their_permissions(client, authorized):
    staff(client, "mark_shipped")
    assert operation_links(client.get(change_url(authorized)).content.decode()) == ["Mark shipped"]


def test_ship_button_asks_then_ships(client, authorized):
    staff(client, "mark_shipped")
    confirm = client.get(operation_url(authorized, "ship"))
    assert "The order is marked shipped and 154.95 EUR is captured from the customer&#x27;s card." in confirm.content.decode()
    authorized.refresh_from_db()
    assert authorized.state == OrderState.AUTHORIZED
    response = client.post(operation_url(authorized, "ship"), {"post": "yes"})
    assert response.status_code == 302 and response.url == change_url(authorized)
    authorized.refresh_from_db()
    assert authorized.state == OrderState.SHIPPED


def test_an_operation_without_its_permission_is_403_and_changes_nothing(client, authorized, shoe):
    staff(client, "mark_shipped", "resend_order_email")
    assert client.get(operation_url(authorized, "cancel")).status_code == 403
    assert client.post(operation_url(authorized, "cancel"), {"post": "yes"}).status_code == 403
    authorized.refresh_from_db()
    assert authorized.state == OrderState.AUTHORIZED and inventory_selectors.get_level(product_id=shoe.pk) == 7
    assert client.get(operation_url(authorized, "explode")).status_code == 404


def test_partial_refund_button_asks_for_the_amount_shows_it_then_refunds(client, shipped):
    staff(client, "refund_order")
    assert 'name="refund_amount"' in client.get(operation_url(shipped, "refund_partly")).content.decode()
    shown = client.get(operation_url(shipped, "refund_partly"), {"refund_amount": "10.00"}).content.decode()
    assert "10.00 EUR is refunded to the customer&#x27;s card." in shown and "Nothing goes back to stock." in shown
    too_much = client.get(operation_url(shipped, "refund_partly"), {"refund_amount": "500"}).content.decode()
    assert "500.00 EUR is more than is left to refund (104.95 EUR)." in too_much
    bad = client.post(operation_url(shipped, "refund_partly"), {"refund_amount": "ten", "post": "yes"})
    assert "Refund amount: Enter a number." in bad.content.decode()
    assert Refund.objects.count() == 0
    client.post(operation_url(shipped, "refund_partly"), {"refund_amount": "10.00", "post": "yes"})
    assert Payment.objects.get().refunded_amount == 1000


def test_a_partial_refund_confirmed_twice_refunds_once(client, shipped):
    # given: the confirmation page of a 10.00 refund, with its one-time token
    staff(client, "refund_order")
    page = client.get(operation_url(shipped, "refund_partly"), {"refund_amount": "10.00"}).content.decode()
    token = re.search(r'name="operation_token" value="([0-9a-f]{32})"', page).group(1)
    confirm = {"refund_amount": "10.00", "operation_token": token, "post": "yes"}

    # when: "Yes" is pressed twice (a double click, a form resubmitted after a timeout)
    client.post(operation_url(shipped, "refund_partly"), confirm)
    client.post(operation_url(shipped, "refund_partly"), confirm)

    # then: one refund of 10.00; a new confirmation page is a new refund
    assert list(Refund.objects.values_list("amount", flat=True)) == [1000]
    assert Payment.objects.get().refunded_amount == 1000
    again = client.get(operation_url(shipped, "refund_partly"), {"refund_amount": "10.00"}).content.decode()
    assert token not in again


def test_resend_button_names_the_email_and_the_address_then_sends(client, authorized, django_capture_on_commit_callbacks):
    staff(client, "resend_order_email")
    html = client.get(operation_url(authorized, "resend_email"), {"email_kind": "received"}).content.decode()
    assert "The e-mail “Order received” is sent to ada@example.com again." in html
    sent = len(mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(operation_url(authorized, "resend_email"), {"email_kind": "received", "post": "yes"})
    assert len(mail.outbox) == sent + 1


# --- History in sentences -----------------------------------------------------------------------------


def test_the_history_reads_as_sentences_not_json(client, shipped):
    client.force_login(UserFactory(superuser=True))
    client.post(CHANGELIST_URL, {"action": "refund_in_full", ACTION_CHECKBOX_NAME: [shipped.pk], "post": "yes"})
    html = client.get(change_url(shipped)).content.decode()
    assert "Order placed by ada@example.com for 104.95 EUR." in html
    assert "Allocated → Payment authorized." in html
    assert "E-mail “Order received” sent to the customer." in html
    assert f"Back to stock: 2 {TIMES} Trail shoe." in html and "Refund of 104.95 EUR (reference admin-" in html
    assert "cart_id" not in html and "&quot;kind&quot;" not in html and '"payment_status"' not in html
