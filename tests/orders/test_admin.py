"""The orders back office: a read-only list and detail, and actions that only call the services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.contrib.messages import constants as message_levels
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from inventory import selectors as inventory_selectors
from orders import services as orders_services
from orders.exceptions import CaptureFailed, CaptureInProgress
from orders.models import EmailKind, EmailLog, Order, OrderEvent, OrderEventKind
from orders.services import place_order
from orders.states import OrderState
from payments import services as payments_services
from payments.models import Payment, PaymentState, TestGatewayIntent
from tests.accounts.factories import UserFactory
from tests.orders.conftest import checkout_input, fill_cart
from tests.orders.factories import OrderFactory

pytestmark = pytest.mark.django_db

CHANGELIST_URL = reverse("admin:orders_order_changelist")

CANCEL = ("cancel_orders", "cancel_order")
SHIP = ("mark_orders_shipped", "mark_shipped")
RESEND = ("resend_last_email", "resend_order_email")


def change_url(order: Order) -> str:
    return reverse("admin:orders_order_change", args=[order.pk])


def staff_client(client, *codenames: str):
    """A client signed in as staff who may view orders, plus the given orders permissions."""
    user = UserFactory(staff=True, email=f"staff-{'-'.join(codenames) or 'viewer'}@example.com")
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="orders", codename__in=["view_order", *codenames])
    )
    client.force_login(user)
    return client, user


@pytest.fixture
def superuser(db):
    return UserFactory(superuser=True, email="boss@example.com")


@pytest.fixture
def superuser_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def place(customer, django_capture_on_commit_callbacks):
    """Place a real order for `customer` through checkout; allocation runs eagerly after commit."""

    def place_for(lines: dict, payment_method: str = "tok_visa") -> Order:
        fill_cart(user=customer, lines=lines)
        with django_capture_on_commit_callbacks(execute=True):
            order = place_order(checkout=checkout_input(payment_method=payment_method), customer=customer).value
        order.refresh_from_db()
        return order

    return place_for


def run_action(client, action: str, orders: list[Order], **extra):
    """Choose the action and confirm it on its confirmation page ("post": "yes", as the page sends)."""
    return client.post(
        CHANGELIST_URL, {"action": action, ACTION_CHECKBOX_NAME: [o.pk for o in orders], "post": "yes", **extra},
        follow=True,
    )  # fmt: skip


def shown_messages(response) -> list[tuple[str, str]]:
    return [(message_levels.DEFAULT_TAGS[m.level], m.message) for m in response.context["messages"]]


def offered_actions(response) -> set[str]:
    action_form = response.context["action_form"]  # None when no action at all is offered
    return set() if action_form is None else {value for value, _ in action_form.fields["action"].choices if value}


def listed(response) -> list[str]:
    assert response.status_code == 200
    return [order.number for order in response.context["cl"].result_list]


def authorize(order: Order) -> None:
    """Payments are not built yet: put the order where a captured authorization would leave it."""
    Order.objects.filter(pk=order.pk).update(state=OrderState.AUTHORIZED)


# --- The list and the detail page ----------------------------------------------------------------


def test_the_list_shows_number_email_customer_state_and_total(superuser_client, place, shoe):
    order = place({shoe: 2})

    response = superuser_client.get(CHANGELIST_URL)

    html = response.content.decode()
    assert listed(response) == [order.number]
    assert "ada@example.com" in html and "Allocated" in html and f"{order.total} EUR" in html


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["guest", "allocated", "rejected"]),
        ({"state__exact": "rejected"}, ["rejected"]),
        ({"customer_kind": "guest"}, ["guest"]),
        ({"customer_kind": "account"}, ["allocated", "rejected"]),
        ({"created_at__year": "2001"}, ["guest"]),
        ({"created_at__gte": "2020-01-01 00:00:00+00:00"}, ["allocated", "rejected"]),
        ({"q": "grace@example.com"}, ["rejected"]),
        ({"q": "SO-ALLOC"}, ["allocated"]),
    ],
)
def test_the_list_filters_by_state_customer_and_date_and_searches(superuser_client, params, expected):
    # given: an old guest order and two orders of customers with accounts
    guest = OrderFactory(number="SO-GUEST-00001", customer=None, email="guest@example.com")
    Order.objects.filter(pk=guest.pk).update(created_at=timezone.now().replace(year=2001))
    allocated = OrderFactory(number="SO-ALLOC-00001", state=OrderState.ALLOCATED)
    rejected = OrderFactory(
        number="SO-REJEC-00001", state=OrderState.REJECTED, customer=UserFactory(email="grace@example.com")
    )
    numbers = {"guest": guest.number, "allocated": allocated.number, "rejected": rejected.number}

    # when
    response = superuser_client.get(CHANGELIST_URL, params)

    # then
    assert sorted(listed(response)) == sorted(numbers[name] for name in expected)


@pytest.mark.parametrize("orders", [1, 30])
def test_the_list_makes_the_same_number_of_queries_for_1_and_30_orders(
    superuser_client, orders, django_assert_max_num_queries
):
    # given: each order of another customer, half of them guests
    for index in range(orders):
        OrderFactory(customer=None if index % 2 else UserFactory(), email=f"buyer{index}@example.com")

    # when / then: the user, the count, the page with its customers, the date hierarchy's two
    with django_assert_max_num_queries(6):
        response = superuser_client.get(CHANGELIST_URL)
    assert len(listed(response)) == orders


def test_the_detail_page_shows_the_lines_and_the_history_read_only(superuser_client, place, shoe, sock, superuser):
    # given: an order allocated, paid for, then cancelled by staff
    order = place({shoe: 2, sock: 3})
    run_action(superuser_client, CANCEL[0], [order])

    # when
    response = superuser_client.get(change_url(order))

    # then
    assert response.status_code == 200
    html = response.content.decode()
    assert "Trail shoe" in html and shoe.sku in html and "Wool sock" in html
    assert "Cancelled by staff" in html and "boss@example.com" in html
    events = response.context["inline_admin_formsets"][1].formset.queryset
    assert [(e.from_state, e.to_state) for e in events if e.kind == OrderEventKind.STATE_CHANGED] == [
        (OrderState.PLACED, OrderState.ALLOCATED),
        (OrderState.ALLOCATED, OrderState.AUTHORIZED),
        (OrderState.AUTHORIZED, OrderState.CANCELLED),
    ]
    assert 'name="_save"' not in html  # nothing on the page can be edited
    assert 'name="lines-0-quantity"' not in html


def test_nobody_adds_edits_or_deletes_an_order_in_admin(superuser_client):
    order = OrderFactory(email="kept@example.com")

    add = superuser_client.get(reverse("admin:orders_order_add"))
    edit = superuser_client.post(change_url(order), {"email": "changed@example.com", "state": "shipped"})
    delete = superuser_client.post(reverse("admin:orders_order_delete", args=[order.pk]), {"post": "yes"})

    assert (add.status_code, edit.status_code, delete.status_code) == (403, 403, 403)
    order.refresh_from_db()
    assert (order.email, order.state) == ("kept@example.com", OrderState.PLACED)
    assert "delete_selected" not in offered_actions(superuser_client.get(CHANGELIST_URL))


# --- Cancel --------------------------------------------------------------------------------------


def test_cancelling_in_admin_gives_the_stock_back_and_records_the_staff_member(
    client, place, shoe, django_capture_on_commit_callbacks
):
    # given: an allocated order holding 3 of the shoe's 10 units, and a support agent
    order = place({shoe: 3})
    assert inventory_selectors.get_level(product_id=shoe.pk) == 7
    client, agent = staff_client(client, "cancel_order")
    sent_before = len(mail.outbox)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(client, CANCEL[0], [order])

    # then
    assert shown_messages(response) == [("success", f"Cancelled: {order.number}.")]
    order.refresh_from_db()
    assert order.state == OrderState.CANCELLED
    assert inventory_selectors.get_level(product_id=shoe.pk) == 10
    event = order.events.get(to_state=OrderState.CANCELLED)
    assert (event.from_state, event.actor, event.message) == (OrderState.AUTHORIZED, agent, "Cancelled by staff")
    assert [m.subject for m in mail.outbox[sent_before:]] == [f"Shop: your order {order.number} is cancelled"]


def test_cancelling_a_cancelled_order_warns_and_changes_nothing(superuser_client, place, shoe):
    # given: an order cancelled once
    order = place({shoe: 3})
    run_action(superuser_client, CANCEL[0], [order])
    events, level = OrderEvent.objects.count(), inventory_selectors.get_level(product_id=shoe.pk)

    # when
    response = run_action(superuser_client, CANCEL[0], [order])

    # then
    assert response.status_code == 200
    assert shown_messages(response) == [
        ("warning", f"{order.number}: This order is cancelled; it cannot become cancelled.")
    ]
    assert OrderEvent.objects.count() == events
    assert inventory_selectors.get_level(product_id=shoe.pk) == level == 10


def test_a_refusal_does_not_stop_the_other_selected_orders(superuser_client, place, shoe, sock):
    cancelled = place({shoe: 1})
    run_action(superuser_client, CANCEL[0], [cancelled])
    open_order = place({sock: 1})

    response = run_action(superuser_client, CANCEL[0], [cancelled, open_order])

    assert sorted(shown_messages(response)) == [
        ("success", f"Cancelled: {open_order.number}."),
        ("warning", f"{cancelled.number}: This order is cancelled; it cannot become cancelled."),
    ]
    assert Order.objects.get(pk=open_order.pk).state == OrderState.CANCELLED


# --- Mark shipped --------------------------------------------------------------------------------


def test_mark_shipped_ships_an_authorized_order_with_the_staff_member(client, place, shoe):
    order = place({shoe: 1})
    authorize(order)
    client, packer = staff_client(client, "mark_shipped")

    response = run_action(client, SHIP[0], [order])

    assert shown_messages(response) == [("success", f"Marked shipped: {order.number}.")]
    order.refresh_from_db()
    assert order.state == OrderState.SHIPPED
    event = order.events.get(to_state=OrderState.SHIPPED)
    assert (event.from_state, event.actor) == (OrderState.AUTHORIZED, packer)


def test_mark_shipped_refuses_an_order_not_yet_authorized(superuser_client, place, shoe):
    order = place({shoe: 1}, payment_method="tok_declined")  # allocated, the card declined
    events = OrderEvent.objects.count()

    response = run_action(superuser_client, SHIP[0], [order])

    assert shown_messages(response) == [
        ("warning", f"{order.number}: This order is payment failed; it cannot become shipped.")
    ]
    order.refresh_from_db()
    assert order.state == OrderState.PAYMENT_FAILED
    assert OrderEvent.objects.count() == events


def test_mark_shipped_refuses_an_order_whose_capture_fails_and_says_why(
    client, place, shoe, django_capture_on_commit_callbacks
):
    # given: an authorized order whose hold the bank voided, with no webhook telling the shop
    order = place({shoe: 1})
    assert order.state == OrderState.AUTHORIZED
    TestGatewayIntent.objects.update(status="voided")
    client, _ = staff_client(client, "mark_shipped")

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(client, SHIP[0], [order])

    # then: not shipped, the reason shown and written down, the order back to payment needed
    reason = "Not shipped: the payment could not be captured, its authorization was voided or expired at the bank."
    assert shown_messages(response) == [("warning", f"{order.number}: {reason}")]
    order.refresh_from_db()
    assert order.state == OrderState.PAYMENT_FAILED
    assert order.events.filter(kind=OrderEventKind.NOTE, message=reason).count() == 1
    assert Payment.objects.get(order=order).state == PaymentState.VOIDED
    assert mail.outbox[-1].subject == f"Shop: your payment for order {order.number} needs attention"


def test_a_customer_cannot_cancel_while_shipping_captures_the_payment(
    client, place, shoe, monkeypatch, django_capture_on_commit_callbacks
):
    # given: an authorized order; the customer presses "cancel" while the gateway captures
    order = place({shoe: 1})
    assert order.state == OrderState.AUTHORIZED
    gateway = payments_services.get_gateway()
    refusals = []

    class CancelDuringCapture:
        def __getattr__(self, name):
            return getattr(gateway, name)

        def capture(self, reference, amount):
            try:
                orders_services.cancel_order(order_id=order.pk, reason="changed my mind")
            except CaptureInProgress as exc:
                refusals.append(exc.message)
            return gateway.capture(reference, amount)

    monkeypatch.setattr(payments_services, "get_gateway", lambda name=None: CancelDuringCapture())
    client, _ = staff_client(client, "mark_shipped")

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(client, SHIP[0], [order])

    # then: the cancellation was refused, so the money taken pays for an order that ships
    assert refusals == ["This order is being shipped and its payment captured; it can no longer be cancelled."]
    assert shown_messages(response) == [("success", f"Marked shipped: {order.number}.")]
    order.refresh_from_db()
    assert order.state == OrderState.SHIPPED
    assert Payment.objects.get(order=order).state == PaymentState.CAPTURED
    assert inventory_selectors.get_level(product_id=shoe.pk) == 9  # not released: it shipped


def test_a_refused_capture_lets_the_order_be_cancelled_again(place, shoe, django_capture_on_commit_callbacks):
    order = place({shoe: 1})
    TestGatewayIntent.objects.update(status="voided")
    with pytest.raises(CaptureFailed):
        orders_services.mark_shipped(order_id=order.pk)

    with django_capture_on_commit_callbacks(execute=True):
        orders_services.cancel_order(order_id=order.pk, reason="changed my mind")

    assert Order.objects.get(pk=order.pk).state == OrderState.CANCELLED


# --- Resend an e-mail ----------------------------------------------------------------------------


def test_resend_sends_the_last_email_the_customer_got_once_more(
    client, place, shoe, django_capture_on_commit_callbacks
):
    # given: an allocated order, whose "received" and then "confirmed" e-mails went out
    order = place({shoe: 1})
    EmailLog.objects.filter(order=order, kind=EmailKind.RECEIVED).update(sent_at=timezone.now() - timedelta(minutes=5))
    client, agent = staff_client(client, "resend_order_email")
    sent_before = len(mail.outbox)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(client, RESEND[0], [order])

    # then
    assert shown_messages(response) == [("success", f"E-mail sent again: {order.number}.")]
    assert [m.subject for m in mail.outbox[sent_before:]] == [f"Shop: your order {order.number} is confirmed"]
    event = order.events.get(kind=OrderEventKind.EMAIL_RESENT)
    assert (event.actor, event.data) == (agent, {"kind": EmailKind.ALLOCATED})


def test_resend_sends_the_email_chosen_beside_the_action(
    superuser_client, place, shoe, django_capture_on_commit_callbacks
):
    order = place({shoe: 1})
    sent_before = len(mail.outbox)

    with django_capture_on_commit_callbacks(execute=True):
        run_action(superuser_client, RESEND[0], [order], email_kind=EmailKind.RECEIVED)

    assert [m.subject for m in mail.outbox[sent_before:]] == [f"Shop: we received your order {order.number}"]


@pytest.mark.parametrize("email_kind", ["", EmailKind.CANCELLED])
def test_resend_of_an_email_the_order_never_had_warns_and_sends_nothing(
    superuser_client, email_kind, django_capture_on_commit_callbacks
):
    order = OrderFactory()  # no e-mail was ever queued for it

    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(superuser_client, RESEND[0], [order], email_kind=email_kind)

    [(level, message)] = shown_messages(response)
    assert level == "warning" and message.startswith(f"{order.number}: ")
    assert mail.outbox == []
    assert not order.events.exists()


# --- Permissions: each action needs its own -----------------------------------------------------


@pytest.mark.parametrize(("action", "permission"), [CANCEL, SHIP, RESEND])
def test_staff_see_only_the_actions_they_hold_the_permission_for(client, action, permission):
    OrderFactory()
    client, _ = staff_client(client, permission)

    response = client.get(CHANGELIST_URL)

    assert offered_actions(response) == {action}


@pytest.mark.parametrize(("action", "permission"), [CANCEL, SHIP, RESEND])
def test_a_crafted_action_post_without_the_permission_changes_nothing(
    client, place, shoe, action, permission, django_capture_on_commit_callbacks
):
    # given: an authorized order, and a viewer holding every orders permission but this one
    order = place({shoe: 2})
    authorize(order)
    others = {p for _, p in (CANCEL, SHIP, RESEND)} - {permission}
    client, _ = staff_client(client, *others)
    assert action not in offered_actions(client.get(CHANGELIST_URL))
    events, sent = OrderEvent.objects.count(), len(mail.outbox)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(CHANGELIST_URL, {"action": action, ACTION_CHECKBOX_NAME: [order.pk], "post": "yes"}, follow=True)

    # then
    assert response.status_code == 200
    order.refresh_from_db()
    assert order.state == OrderState.AUTHORIZED
    assert (OrderEvent.objects.count(), len(mail.outbox)) == (events, sent)
    assert inventory_selectors.get_level(product_id=shoe.pk) == 8


def test_a_viewer_without_any_action_permission_sees_the_list_without_actions(client):
    order = OrderFactory()
    client, _ = staff_client(client)

    response = client.get(CHANGELIST_URL)

    assert listed(response) == [order.number]
    assert offered_actions(response) == set()
