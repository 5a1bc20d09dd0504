"""A guest's orders follow the customer into their account (issue 19, item 5): after signing up
or in with the address a guest order was placed with, a link e-mailed to that address attaches
them once it is opened; the e-mail's word alone attaches nothing, and nobody else's orders."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts import services as accounts_services
from accounts import verification
from orders import services
from orders.models import Order, OrderEventKind
from tests.accounts.factories import DEFAULT_PASSWORD, UserFactory
from tests.celery_helpers import real_broker
from tests.orders.factories import OrderFactory

FOUND_ONE = "We found 1 order placed as a guest with this address; check your inbox to add it."
FOUND_TWO = "We found 2 orders placed as a guest with this address; check your inbox to add them."


def guest_order(email: str, **fields) -> Order:
    return OrderFactory(customer=None, email=email, guest_key="k" * 64, **fields)


def verification_links(to: str) -> list[str]:
    return [
        re.search(r"https?://\S+", m.body).group(0)
        for m in mail.outbox
        if m.to == [to] and "confirm your e-mail address" in m.subject
    ]


def path_of(link: str) -> str:
    return link.split("://", 1)[1].split("/", 1)[1].join(["/", ""])


def my_order_numbers(client) -> list[str]:
    page = client.get(reverse("orders:list")).content.decode()
    return re.findall(r'<td><a href="/orders/([^/]+)/">', page)


# --- The storefront: sign up, read the page, open the link ---------------------------------------


@pytest.mark.django_db(transaction=True)
def test_sign_up_with_a_guest_address_then_verify_brings_the_orders(client):
    # given: two orders placed as a guest with this address, one with another
    first, second = guest_order("ada@example.com"), guest_order("Ada@Example.com")
    someone_else = guest_order("grace@example.com")

    # when: signing up with the address (any case)
    response = client.post(
        reverse("accounts:signup"),
        {"email": "ADA@example.com", "password": "a long pass phrase", "full_name": "Ada"},
        follow=True,
    )

    # then: the page says so, the link went to the address, nothing is attached yet
    assert FOUND_TWO in response.content.decode()
    [link] = verification_links("ada@example.com")
    assert my_order_numbers(client) == []
    assert FOUND_TWO.replace("this address", "ada@example.com") in client.get(reverse("orders:list")).content.decode()

    # when: the customer opens the link and confirms
    assert client.get(path_of(link)).status_code == 200
    confirmed = client.post(path_of(link), follow=True)

    # then: the orders are theirs, the page tells them, nobody else's came along
    assert confirmed.redirect_chain[-1][0] == reverse("orders:list")
    assert "is confirmed. Orders you placed as a guest with it are now in your account." in confirmed.content.decode()
    assert sorted(my_order_numbers(client)) == sorted([first.number, second.number])
    assert Order.objects.get(pk=someone_else.pk).customer_id is None
    assert "placed as a guest" not in client.get(reverse("orders:list")).content.decode()

    # and the link works once
    assert client.post(path_of(link)).status_code == 400


@pytest.mark.django_db(transaction=True)
def test_signing_in_to_an_existing_account_offers_the_guest_orders(client):
    customer = UserFactory(email="ada@example.com")
    guest_order("ada@example.com")

    response = client.post(
        reverse("accounts:login"), {"username": "ada@example.com", "password": DEFAULT_PASSWORD}, follow=True
    )

    assert FOUND_ONE in response.content.decode()
    assert len(verification_links("ada@example.com")) == 1
    assert Order.objects.filter(customer=customer).count() == 0  # the e-mail's word alone attaches nothing


@pytest.mark.django_db(transaction=True)
def test_signing_in_without_guest_orders_sends_no_link(client):
    UserFactory(email="ada@example.com")
    guest_order("grace@example.com")

    response = client.post(
        reverse("accounts:login"), {"username": "ada@example.com", "password": DEFAULT_PASSWORD}, follow=True
    )

    assert "placed as a guest" not in response.content.decode()
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_the_api_sign_in_emails_the_link_too(client):
    UserFactory(email="ada@example.com")
    guest_order("ada@example.com")

    response = client.post(
        "/api/v1/auth/token",
        {"email": "ada@example.com", "password": DEFAULT_PASSWORD},
        content_type="application/json",
    )

    assert response.status_code == 200
    assert len(verification_links("ada@example.com")) == 1


# --- The services --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_verifying_attaches_the_guest_orders_once(django_capture_on_commit_callbacks):
    customer = UserFactory(email="ada@example.com")
    order = guest_order("ADA@Example.com")  # as typed at checkout
    token = verification.make_token(customer)

    with django_capture_on_commit_callbacks(execute=True):
        accounts_services.verify_email(token=token)

    order.refresh_from_db()
    assert order.customer_id == customer.pk
    [event] = order.events.filter(kind=OrderEventKind.NOTE)
    assert event.actor_id == customer.pk and "verified" in event.message
    assert services.attach_guest_orders(customer=customer, email="ada@example.com") == 0  # idempotent
    assert order.events.filter(kind=OrderEventKind.NOTE).count() == 1


@pytest.mark.django_db
def test_another_users_address_never_attaches(django_capture_on_commit_callbacks):
    # given: Ada's guest order; Bob, with an account of his own
    ada_order = guest_order("ada@example.com")
    bob = UserFactory(email="bob@example.com")

    # when: Bob verifies his own address, or anything asks to attach Ada's address to Bob
    with django_capture_on_commit_callbacks(execute=True):
        accounts_services.verify_email(token=verification.make_token(bob))
    attached = services.attach_guest_orders(customer=bob, email="ada@example.com")

    # then
    assert attached == 0
    assert Order.objects.get(pk=ada_order.pk).customer_id is None


@pytest.mark.django_db
def test_an_order_of_another_account_is_never_moved(django_capture_on_commit_callbacks):
    grace = UserFactory(email="grace@example.com")
    graces = OrderFactory(customer=grace, email="ada@example.com")  # Grace ordered with Ada's address
    ada = UserFactory(email="ada@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        accounts_services.verify_email(token=verification.make_token(ada))

    assert Order.objects.get(pk=graces.pk).customer_id == grace.pk


@pytest.mark.django_db
def test_offering_counts_and_emails_only_the_accounts_address(django_capture_on_commit_callbacks):
    ada = UserFactory(email="ada@example.com")
    guest_order("ada@example.com")
    guest_order("ada@example.com.evil.test")
    guest_order("xada@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        assert services.offer_guest_orders(customer=ada) == 1

    assert [m.to for m in mail.outbox] == [["ada@example.com"]]


@pytest.mark.django_db(transaction=True)
def test_signing_in_works_while_the_broker_is_down(client):
    customer = UserFactory(email="ada@example.com")
    guest_order("ada@example.com")

    with real_broker("amqp://guest:guest@127.0.0.1:1//"):
        response = client.post(reverse("accounts:login"), {"username": "ada@example.com", "password": DEFAULT_PASSWORD})

    assert response.status_code == 302
    assert client.get(reverse("orders:list")).wsgi_request.user == customer
