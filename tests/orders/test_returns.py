"""Issue 18: returns. A customer asks to return units of a delivered order within the return
window, with a reason (order page and API); staff approve or refuse in admin; once the goods are
received the units are refunded and restocked through refund_order, each unit and each cent once.
Every step is in the order's history and e-mailed once."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from inventory import selectors as inventory_selectors
from orders import services
from orders.exceptions import ReturnRefused
from orders.models import EmailKind, EmailLog, Order, OrderEvent, OrderEventKind, ReturnRequest, ReturnState
from orders.states import OrderState
from payments.models import Refund
from tests.accounts.factories import UserFactory
from tests.api_helpers import error_of
from tests.cart.conftest import bearer_client
from tests.concurrency import run_concurrently
from tests.orders.conftest import checkout_input, fill_cart
from tests.orders.test_after_order_emails import redeliver_every_email_message

pytestmark = pytest.mark.django_db


def text_of(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def deliver(order: Order, capture) -> Order:
    with capture(execute=True):
        services.mark_delivered(order_id=order.pk)
    order.refresh_from_db()
    return order


@pytest.fixture
def delivered(shipped, django_capture_on_commit_callbacks) -> Order:
    """Two shoes (50.00 each) shipped and delivered: 104.95 captured."""
    return deliver(shipped, django_capture_on_commit_callbacks)


@pytest.fixture
def support(db):
    agent = UserFactory(is_staff=True)
    agent.groups.add(Group.objects.get(name="Support"))
    return agent


@pytest.fixture
def warehouse(db):
    clerk = UserFactory(is_staff=True)
    clerk.groups.add(Group.objects.get(name="Fulfilment"))
    return clerk


def ask(order: Order, units: dict, capture, reason: str = "damaged") -> ReturnRequest:
    with capture(execute=True):
        return services.request_return(order_id=order.pk, units={p.pk: n for p, n in units.items()}, reason=reason)


def subjects_since(start: int) -> list[str]:
    return [message.subject for message in mail.outbox[start:]]


# --- The whole life: requested, approved, received and refunded, restocked, e-mailed once each -------


def test_a_return_approved_and_received_is_refunded_and_restocked_once(
    delivered, shoe, support, warehouse, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    stock_before = inventory_selectors.get_levels(product_ids=[shoe.pk])[shoe.pk]
    start = len(mail.outbox)
    request = ask(delivered, {shoe: 1}, capture)
    assert request.number == f"{delivered.number}-R1" and request.state == ReturnState.REQUESTED
    with capture(execute=True):
        services.approve_return(return_id=request.pk, actor=support)
    with capture(execute=True):
        services.receive_return(return_id=request.pk, actor=warehouse)
    with capture(execute=True):  # the warehouse scans the parcel twice
        again = services.receive_return(return_id=request.pk, actor=warehouse)
    redeliver_every_email_message()

    assert again.state == ReturnState.REFUNDED
    request.refresh_from_db()
    assert (request.state, request.refund_amount) == (ReturnState.REFUNDED, Decimal("50.00"))
    delivered.refresh_from_db()
    assert (delivered.state, delivered.refunded_amount) == (OrderState.PARTIALLY_REFUNDED, Decimal("50.00"))
    assert inventory_selectors.get_levels(product_ids=[shoe.pk])[shoe.pk] == stock_before + 1
    assert list(Refund.objects.filter(payment__order_id=delivered.pk).values_list("amount", "reference")) == [
        (5000, f"return-{request.number}")
    ]
    number = delivered.number
    assert subjects_since(start) == [
        f"Shop: we received your return request {number}-R1",
        f"Shop: return {number}-R1 approved, send the items back",
        f"Shop: 50.00 EUR refunded for order {number}",
    ]
    assert "1 x Trail shoe" in mail.outbox[start].body
    assert f"Why: Return {number}-R1: arrived damaged or faulty" in mail.outbox[-1].body
    said = list(OrderEvent.objects.filter(order=delivered, kind=OrderEventKind.RETURN).values_list("message", flat=True))
    assert said == [f"Return {number}-R1 requested: arrived damaged or faulty",
                    f"Return {number}-R1 approved: the customer sends the items back",
                    f"Return {number}-R1 received by the warehouse"]  # fmt: skip


def test_a_refused_return_is_e_mailed_with_the_reason_and_its_units_may_be_asked_again(
    delivered, shoe, support, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    first = ask(delivered, {shoe: 2}, capture)
    with pytest.raises(ReturnRefused) as busy:  # both shoes are in the open return
        services.request_return(order_id=delivered.pk, units={shoe.pk: 1}, reason="damaged")
    assert busy.value.fields == {"lines": [f"Product {shoe.pk}: return 1 to 0 units (delivered and not returned yet)."]}
    start = len(mail.outbox)
    with capture(execute=True):
        services.refuse_return(return_id=first.pk, reason="The soles show weeks of wear.", actor=support)
    assert subjects_since(start) == [f"Shop: we cannot accept return {delivered.number}-R1"]
    assert "Why: The soles show weeks of wear." in mail.outbox[-1].body
    second = ask(delivered, {shoe: 2}, capture, reason="does_not_fit")
    assert second.number == f"{delivered.number}-R2"
    with pytest.raises(ReturnRefused) as decided:  # the refused one cannot be received
        services.receive_return(return_id=first.pk)
    assert decided.value.status_code == 409
    assert not Refund.objects.exists()


def test_refusing_needs_a_reason_and_deciding_twice_is_refused(delivered, shoe, support, django_capture_on_commit_callbacks):
    request = ask(delivered, {shoe: 1}, django_capture_on_commit_callbacks)
    with pytest.raises(ReturnRefused) as no_reason:
        services.refuse_return(return_id=request.pk, reason="  ", actor=support)
    assert set(no_reason.value.fields) == {"refusal_reason"}
    services.approve_return(return_id=request.pk, actor=support)
    with pytest.raises(ReturnRefused) as twice:
        services.approve_return(return_id=request.pk, actor=support)
    assert twice.value.status_code == 409
    request.refresh_from_db()
    assert request.state == ReturnState.APPROVED and request.refusal_reason == ""


def test_an_approved_return_nothing_is_left_to_refund_for_is_closed_by_refusing_it(
    delivered, shoe, support, warehouse, django_capture_on_commit_callbacks
):
    request = ask(delivered, {shoe: 1}, django_capture_on_commit_callbacks)
    services.approve_return(return_id=request.pk, actor=support)
    with django_capture_on_commit_callbacks(execute=True):  # meanwhile staff refund the whole order
        services.refund_order(order_id=delivered.pk, amount=None, reference="all", restock={shoe.pk: 1})
    with pytest.raises(ReturnRefused) as nothing_left:
        services.receive_return(return_id=request.pk, actor=warehouse)
    assert nothing_left.value.status_code == 409 and "refuse the return" in nothing_left.value.message
    closed = services.refuse_return(return_id=request.pk, reason="Refunded in full already.", actor=support)
    assert closed.state == ReturnState.REFUSED
    with pytest.raises(ReturnRefused):  # refused: nothing more can happen to it
        services.refuse_return(return_id=request.pk, reason="again", actor=support)


def test_with_prices_before_tax_a_return_refunds_the_tax_on_its_units_too(settings, customer, shoe,
                                                                          django_capture_on_commit_callbacks):  # fmt: skip
    settings.ORDERS_PRICES_INCLUDE_TAX = False
    fill_cart(user=customer, lines={shoe: 2})
    with django_capture_on_commit_callbacks(execute=True):
        order = services.place_order(checkout=checkout_input(), customer=customer).value
    with django_capture_on_commit_callbacks(execute=True):
        services.mark_shipped(order_id=order.pk)
    deliver(order, django_capture_on_commit_callbacks)
    request = ask(order, {shoe: 1}, django_capture_on_commit_callbacks)
    services.approve_return(return_id=request.pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.receive_return(return_id=request.pk)
    request.refresh_from_db()
    assert request.refund_amount == Decimal("59.50")  # 50.00 plus 19 % tax


# --- Refusals: not delivered, outside the window, above the units delivered --------------------------


def test_only_a_delivered_order_within_the_window_can_be_returned(shipped, shoe, django_capture_on_commit_callbacks):
    with pytest.raises(ReturnRefused) as not_delivered:
        services.request_return(order_id=shipped.pk, units={shoe.pk: 1}, reason="damaged")
    assert (not_delivered.value.status_code, list(not_delivered.value.fields)) == (409, ["order"])
    deliver(shipped, django_capture_on_commit_callbacks)
    Order.objects.filter(pk=shipped.pk).update(delivered_at=timezone.now() - timedelta(days=31))
    with pytest.raises(ReturnRefused) as too_late:
        services.request_return(order_id=shipped.pk, units={shoe.pk: 1}, reason="damaged")
    assert too_late.value.status_code == 409 and "return window of 30 days closed" in too_late.value.message
    Order.objects.filter(pk=shipped.pk).update(delivered_at=timezone.now() - timedelta(days=29))
    assert services.request_return(order_id=shipped.pk, units={shoe.pk: 1}, reason="damaged").state == "requested"
    assert ReturnRequest.objects.count() == 1


def test_more_units_than_delivered_another_product_or_no_reason_are_refused(delivered, shoe, sock):
    for units, reason, field in [
        ({shoe.pk: 3}, "damaged", "lines"),  # two were delivered
        ({sock.pk: 1}, "damaged", "lines"),  # not in the order
        ({shoe.pk: 0}, "damaged", "lines"),  # nothing chosen
        ({shoe.pk: 1}, "because", "reason"),
    ]:
        with pytest.raises(ReturnRefused) as refused:
            services.request_return(order_id=delivered.pk, units=units, reason=reason)
        assert list(refused.value.fields) == [field], units
    assert not ReturnRequest.objects.exists()
    assert not EmailLog.objects.filter(kind=EmailKind.RETURN_REQUESTED).exists()


def test_units_refunded_by_staff_cannot_be_returned_again(delivered, shoe, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.refund_order(order_id=delivered.pk, amount=Decimal("50.00"), reference="r1", restock={shoe.pk: 1})
    with pytest.raises(ReturnRefused):
        services.request_return(order_id=delivered.pk, units={shoe.pk: 2}, reason="damaged")
    assert services.request_return(order_id=delivered.pk, units={shoe.pk: 1}, reason="damaged").lines.get().quantity == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_requests_at_once_never_ask_for_more_units_than_were_delivered(django_capture_on_commit_callbacks):
    from tests.cart.factories import stocked_product

    shoe = stocked_product(title="Trail shoe", price=Decimal("50.00"), available=10)
    customer = UserFactory(email="grace@example.com")
    fill_cart(user=customer, lines={shoe: 2})
    with django_capture_on_commit_callbacks(execute=True):
        order = services.place_order(checkout=checkout_input(), customer=customer).value
    with django_capture_on_commit_callbacks(execute=True):
        services.mark_shipped(order_id=order.pk)
    services.mark_delivered(order_id=order.pk)

    results = run_concurrently(
        lambda _: services.request_return(order_id=order.pk, units={shoe.pk: 2}, reason="damaged"), 4
    )
    created = [result for result in results if isinstance(result, ReturnRequest)]
    refused = [result for result in results if isinstance(result, ReturnRefused)]
    assert (len(created), len(refused)) == (1, 3), results
    assert ReturnRequest.objects.filter(order=order).count() == 1


# --- The customer's doors: the order page and the API ----------------------------------------------------


def test_the_order_page_offers_returns_only_once_delivered_and_shows_each_return(
    client, customer, shipped, shoe, django_capture_on_commit_callbacks
):
    client.force_login(customer)
    url = reverse("orders:detail", args=[shipped.number])
    assert "order-return-form" not in client.get(url).content.decode()  # shipped, not delivered yet
    deliver(shipped, django_capture_on_commit_callbacks)
    page = client.get(url).content.decode()
    assert "order-return-form" in page and f'name="quantity_{shoe.pk}"' in page and 'max="2"' in page

    bad = client.post(reverse("orders:return", args=[shipped.number]), {f"quantity_{shoe.pk}": "0", "reason": "damaged"})
    assert bad.status_code == 400 and "Choose how many of at least one item to return." in bad.content.decode()
    too_many = client.post(reverse("orders:return", args=[shipped.number]), {f"quantity_{shoe.pk}": "3", "reason": "damaged"})
    assert too_many.status_code == 400 and not ReturnRequest.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(reverse("orders:return", args=[shipped.number]),
                           {f"quantity_{shoe.pk}": "1", "reason": "does_not_fit", "comment": "Too small"})  # fmt: skip
    assert done.status_code == 302
    shown = text_of(client.get(url).content.decode())
    assert f"{shipped.number}-R1 Requested" in shown and "1 \N{MULTIPLICATION SIGN} Trail shoe" in shown and "Does not fit" in shown
    assert f"we received your return request {shipped.number}-R1" in shown  # the flash message
    assert ReturnRequest.objects.get().comment == "Too small"
    assert 'max="1"' in client.get(url).content.decode()  # one shoe is left to ask for


def test_a_closed_window_is_said_on_the_order_page(client, customer, delivered):
    Order.objects.filter(pk=delivered.pk).update(delivered_at=timezone.now() - timedelta(days=40))
    client.force_login(customer)
    page = text_of(client.get(reverse("orders:detail", args=[delivered.number])).content.decode())
    assert "The return window of this order closed on" in page
    assert "Ask to return these items" not in page


def test_the_api_asks_for_a_return_lists_it_and_names_bad_fields(customer, delivered, shoe, sock):
    api = bearer_client(customer)
    url = f"/api/v1/orders/{delivered.number}/returns"
    created = api.post(url, {"lines": [{"product_id": shoe.pk, "quantity": 1}], "reason": "wrong_item"}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["number"], body["state"], body["reason"]) == (f"{delivered.number}-R1", "requested", "wrong_item")
    assert body["lines"] == [{"product_id": shoe.pk, "title": "Trail shoe", "unit_price": "50.00", "quantity": 1}]
    assert [r["number"] for r in api.get(url).json()] == [f"{delivered.number}-R1"]
    assert api.get(f"/api/v1/orders/{delivered.number}").json()["returns"][0]["state"] == "requested"

    too_many = api.post(url, {"lines": [{"product_id": shoe.pk, "quantity": 2}], "reason": "damaged"}, format="json")
    assert too_many.status_code == 400 and list(error_of(too_many)["fields"]) == ["lines"]
    no_reason = api.post(url, {"lines": [{"product_id": sock.pk, "quantity": 1}]}, format="json")
    assert no_reason.status_code == 400 and list(error_of(no_reason)["fields"]) == ["reason"]
    empty = api.post(url, {"lines": [], "reason": "damaged"}, format="json")
    assert empty.status_code == 400 and list(error_of(empty)["fields"]) == ["lines.non_field_errors"]
    stranger = bearer_client(UserFactory()).post(url, {"lines": [{"product_id": shoe.pk, "quantity": 1}],
                                                       "reason": "damaged"}, format="json")  # fmt: skip
    assert stranger.status_code == 404
    assert ReturnRequest.objects.count() == 1


def test_the_api_refuses_an_order_not_delivered_with_a_409(customer, shipped, shoe):
    response = bearer_client(customer).post(f"/api/v1/orders/{shipped.number}/returns",
                                            {"lines": [{"product_id": shoe.pk, "quantity": 1}], "reason": "damaged"},
                                            format="json")  # fmt: skip
    assert response.status_code == 409 and error_of(response)["code"] == "return_refused"


# --- Staff: the returns list and the confirmed buttons, each behind its permission -----------------------


def test_support_approves_in_admin_after_a_confirmation_page_and_the_warehouse_receives(
    client, delivered, shoe, support, warehouse, django_capture_on_commit_callbacks
):
    request = ask(delivered, {shoe: 1}, django_capture_on_commit_callbacks)
    client.force_login(support)
    change = client.get(reverse("admin:orders_returnrequest_change", args=[request.pk])).content.decode()
    assert "Approve" in change and "Refuse" in change and "Items received" not in change  # receiving is the warehouse's
    approve = reverse("admin:orders_returnrequest_operation", args=[request.pk, "approve_return"])
    confirm = text_of(client.get(approve).content.decode())
    assert "is e-mailed to send back 1 \N{MULTIPLICATION SIGN} Trail shoe" in confirm
    request.refresh_from_db()
    assert request.state == ReturnState.REQUESTED  # the GET only said what will happen
    receive = reverse("admin:orders_returnrequest_operation", args=[request.pk, "receive_return"])
    assert client.get(receive).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(approve, {"post": "yes"}).status_code == 302
    request.refresh_from_db()
    assert request.state == ReturnState.APPROVED and request.decided_by == support

    client.force_login(warehouse)
    assert "50.00 EUR is refunded to the customer" in text_of(client.get(receive).content.decode())
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(receive, {"post": "yes"}).status_code == 302
    request.refresh_from_db()
    assert request.state == ReturnState.REFUNDED
    assert client.post(approve, {"post": "yes"}).status_code == 403  # deciding is Support's


def test_refusing_in_admin_without_a_reason_changes_nothing(client, delivered, shoe, support, django_capture_on_commit_callbacks):
    request = ask(delivered, {shoe: 1}, django_capture_on_commit_callbacks)
    client.force_login(support)
    refuse = reverse("admin:orders_returnrequest_operation", args=[request.pk, "refuse_return"])
    assert 'name="refusal_reason"' in client.get(refuse).content.decode()
    response = client.post(refuse, {"post": "yes", "refusal_reason": ""})
    assert response.status_code == 400 and "Say why" in response.content.decode()
    request.refresh_from_db()
    assert request.state == ReturnState.REQUESTED
    assert client.post(refuse, {"post": "yes", "refusal_reason": "Worn"}).status_code == 302
    request.refresh_from_db()
    assert (request.state, request.refusal_reason) == (ReturnState.REFUSED, "Worn")
