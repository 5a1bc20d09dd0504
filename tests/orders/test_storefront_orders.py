"""Orders in the browser: the order page and its live status, "my orders", cancelling, guest access."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from inventory import selectors as inventory_selectors
from inventory.services import set_level
from orders.access import access_token
from orders.models import Order, OrderLine
from orders.services import allocate_order, apply_payment_result, place_order, send_order_email
from orders.states import OrderState
from shop.guest import GUEST_COOKIE, new_guest_token
from tests.accounts.factories import UserFactory
from tests.cache_helpers import clear_cache
from tests.catalog.factories import ProductFactory
from tests.orders.conftest import checkout_input, fill_cart
from tests.orders.factories import OrderFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("orders:list")
FIND_URL = reverse("orders:find")


def detail_url(order: Order) -> str:
    return reverse("orders:detail", args=[order.number])


def status_url(order: Order) -> str:
    return reverse("orders:status", args=[order.number])


def cancel_url(order: Order) -> str:
    return reverse("orders:cancel", args=[order.number])


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


@pytest.fixture
def placed(customer, shoe, sock) -> Order:
    """The customer's order, just placed: the worker has not allocated it yet (settling)."""
    fill_cart(user=customer, lines={shoe: 2, sock: 1})
    return place_order(checkout=checkout_input(), customer=customer).value


@pytest.fixture
def allocated(customer, shoe, django_capture_on_commit_callbacks) -> Order:
    fill_cart(user=customer, lines={shoe: 2})
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(checkout=checkout_input(), customer=customer).value
    order.refresh_from_db()
    assert order.state == OrderState.AUTHORIZED  # allocated and paid for (test card)
    mail.outbox.clear()
    return order


@pytest.fixture
def guest_order(shoe) -> Order:
    """An order a guest placed with their cookie's token (the token itself is kept as .token)."""
    token = new_guest_token()
    fill_cart(guest_token=token, lines={shoe: 1})
    order = place_order(checkout=checkout_input(email="grace@example.com"), guest_token=token).value
    order.token = token
    return order


# --- The order page ------------------------------------------------------------------------------------


def test_the_customer_sees_lines_totals_address_and_history(client, customer, placed):
    client.force_login(customer)
    response = client.get(detail_url(placed))
    html = response.content.decode()
    assert response.status_code == 200
    assert f"<h1>Order {placed.number}</h1>" in html
    assert re.search(r"<td>Trail shoe .*?</td><td>50.00 EUR</td><td>2</td><td>100.00 EUR</td>", html)
    assert re.search(r"<td>Wool sock .*?</td><td>5.00 EUR</td><td>1</td><td>5.00 EUR</td>", html)
    assert "109.95 EUR" in html and "Standard delivery (3-5 working days)" in html
    assert "Ada Lovelace<br>1 Main Street<br>10115 Berlin<br>Germany<br>" in html
    assert '<span class="order-history-state">Placed</span>' in html
    assert "Visa ending 4242: approved" in html


def test_a_settling_order_refreshes_itself_and_a_settled_one_does_not(client, customer, placed):
    client.force_login(customer)
    html = client.get(detail_url(placed)).content.decode()
    assert f'data-order-status-url="{status_url(placed)}"' in html
    assert 'data-order-state="placed"' in html
    assert "js/order-status.js" in html
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in html
    # when: the worker allocates it, the page keeps refreshing while the payment is authorized
    allocate_order(order_id=placed.pk)
    html = client.get(detail_url(placed)).content.decode()
    assert "js/order-status.js" in html and '<span class="order-history-state">Allocated</span>' in html
    # then: the payment went through, and the page stops refreshing
    apply_payment_result(order_id=placed.pk, status="authorized")
    html = client.get(detail_url(placed)).content.decode()
    assert "order-status.js" not in html and 'http-equiv="refresh"' not in html
    assert '<span class="order-history-state">Payment authorized</span>' in html


def test_a_rejected_order_shows_why(client, customer, placed, shoe):
    set_level(product_id=shoe.pk, quantity=1, cause="test:sold-elsewhere")
    allocate_order(order_id=placed.pk)
    client.force_login(customer)
    html = client.get(detail_url(placed)).content.decode()
    assert "Rejected (out of stock)" in html
    assert "Trail shoe: 2 ordered, only 1 left." in html
    assert "Cancel this order" not in html


def test_the_status_endpoint_answers_the_state_as_json(client, customer, placed):
    client.force_login(customer)
    response = client.get(status_url(placed))
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    assert response.json() == {"number": placed.number, "state": "placed", "state_label": "Placed"}
    allocate_order(order_id=placed.pk)
    assert client.get(status_url(placed)).json()["state_label"] == "Allocated"


# --- Who may see an order ---------------------------------------------------------------------------------


@pytest.mark.parametrize("viewer", ["another customer", "anonymous", "another guest"])
def test_anyone_else_gets_404_for_the_page_the_status_and_cancel(client, placed, viewer):
    if viewer == "another customer":
        client.force_login(UserFactory())
    elif viewer == "another guest":
        client.cookies[GUEST_COOKIE] = new_guest_token()
    assert client.get(detail_url(placed)).status_code == 404
    assert client.get(status_url(placed)).status_code == 404
    assert client.get(status_url(placed)).json()["error"]["code"] == "order_not_found"
    assert client.post(cancel_url(placed)).status_code == 404
    placed.refresh_from_db()
    assert placed.state == OrderState.PLACED


def test_an_unknown_number_is_the_same_404(client, customer):
    client.force_login(customer)
    assert client.get(reverse("orders:detail", args=["SO-AAAAA-AAAAA"])).status_code == 404


def test_the_guest_who_placed_it_sees_it_with_their_cookie(client, guest_order):
    client.cookies[GUEST_COOKIE] = guest_order.token
    assert client.get(detail_url(guest_order)).status_code == 200


def test_the_signed_link_of_the_email_opens_the_order_for_the_session(client, guest_order):
    response = client.get(f"{detail_url(guest_order)}?access={access_token(guest_order.number)}")
    assert response.status_code == 200
    assert guest_order.number in response.content.decode()
    # the session remembers it: the page, its status and its list without the token
    assert client.get(detail_url(guest_order)).status_code == 200
    assert client.get(status_url(guest_order)).json()["state"] == "placed"


@pytest.mark.parametrize(
    "token",
    [
        lambda order: access_token(order.number)[:-2] + "xx",  # tampered signature
        lambda order: access_token("SO-OTHER-ORDER"),  # signed, but for another number
        lambda order: "garbage",
    ],
)
def test_a_tampered_signed_link_is_a_404(client, guest_order, token):
    assert client.get(f"{detail_url(guest_order)}?access={token(guest_order)}").status_code == 404
    assert client.get(detail_url(guest_order)).status_code == 404


def test_the_link_in_the_confirmation_email_opens_the_order(client, guest_order):
    send_order_email(order_id=guest_order.pk, kind="received")
    link = urlsplit(re.search(r"https?://\S+\?access=\S+", mail.outbox[0].body).group(0))
    response = client.get(f"{link.path}?{link.query}")
    assert response.status_code == 200
    assert f"Order {guest_order.number}" in response.content.decode()


# --- Looking an order up by number and e-mail --------------------------------------------------------------


def test_a_guest_finds_the_order_by_number_and_email_in_any_case(client, guest_order):
    page = client.get(FIND_URL).content.decode()
    assert 'name="number"' in page and 'name="email"' in page
    response = client.post(FIND_URL, {"number": guest_order.number.lower(), "email": "GRACE@example.com"})
    assert response.status_code == 302 and response.url == detail_url(guest_order)
    assert client.get(response.url).status_code == 200


@pytest.mark.parametrize("wrong", ["email", "number"])
def test_a_wrong_pair_says_no_order_matches_without_saying_which(client, guest_order, wrong):
    data = {"number": guest_order.number, "email": "grace@example.com"}
    data[wrong] = "nobody@example.com" if wrong == "email" else "SO-AAAAA-AAAAA"
    response = client.post(FIND_URL, data)
    html = response.content.decode()
    assert response.status_code == 200
    assert '<p class="form-error" role="alert">No order matches this number and e-mail address.</p>' in html
    assert 'class="field-error"' not in html
    assert client.get(detail_url(guest_order)).status_code == 404


def test_an_account_order_is_not_found_by_number_and_email(client, customer, placed):
    # given: a stranger who knows the number and the customer's e-mail (issue 20, item 11)
    response = client.post(FIND_URL, {"number": placed.number, "email": customer.email})
    # then: account orders are opened with the account only; nothing to see, nothing to cancel
    assert response.status_code == 200
    assert "No order matches this number and e-mail address." in response.content.decode()
    assert client.get(detail_url(placed)).status_code == 404
    assert client.post(cancel_url(placed)).status_code == 404
    placed.refresh_from_db()
    assert placed.state == OrderState.PLACED


def test_look_ups_are_throttled(client, guest_order, settings):
    clear_cache()
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "order_lookup": "3/minute"}
    wrong = {"number": guest_order.number, "email": "nobody@example.com"}
    assert [client.post(FIND_URL, wrong).status_code for _ in range(3)] == [200, 200, 200]
    refused = client.post(FIND_URL, {"number": guest_order.number, "email": "grace@example.com"})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Too many attempts" in refused.content.decode()
    assert client.get(detail_url(guest_order)).status_code == 404  # the right pair did not get through
    assert client.get(FIND_URL).status_code == 200  # the page itself is never throttled


# --- Cancelling ----------------------------------------------------------------------------------------------


def test_the_customer_cancels_and_a_second_cancel_is_refused_with_409(
    client, customer, allocated, shoe, django_capture_on_commit_callbacks
):
    client.force_login(customer)
    assert "Cancel this order" in client.get(detail_url(allocated)).content.decode()
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(cancel_url(allocated), follow=True)
    # then: the stock is back, the page says so, an e-mail went out
    allocated.refresh_from_db()
    assert allocated.state == OrderState.CANCELLED
    assert inventory_selectors.get_level(product_id=shoe.pk) == 10
    assert f"Your order {allocated.number} is cancelled." in messages_of(response)
    html = response.content.decode()
    assert "Cancel this order" not in html
    assert '<span class="order-history-state">Cancelled</span>' in html
    assert [message.subject for message in mail.outbox] == [f"Shop: your order {allocated.number} is cancelled"]
    # when: a second cancel (an old tab)
    events = allocated.events.count()
    again = client.post(cancel_url(allocated))
    assert again.status_code == 409
    assert "This order is cancelled; it cannot become cancelled." in again.content.decode()
    assert allocated.events.count() == events and len(mail.outbox) == 1


def test_a_guest_with_the_signed_link_can_cancel(client, guest_order):
    client.get(f"{detail_url(guest_order)}?access={access_token(guest_order.number)}")
    assert client.post(cancel_url(guest_order)).status_code == 302
    guest_order.refresh_from_db()
    assert guest_order.state == OrderState.CANCELLED


def test_cancel_is_post_only(client, customer, placed):
    client.force_login(customer)
    assert client.get(cancel_url(placed)).status_code == 405


# --- My orders -----------------------------------------------------------------------------------------------


def orders_for(customer, count: int) -> list[Order]:
    """`count` orders of the customer, one a day back in time, each with two lines (3 items)."""
    products = [ProductFactory(), ProductFactory()]
    now = timezone.now()
    orders = []
    for index in range(count):
        order = OrderFactory(customer=customer, total="12.50", state=OrderState.ALLOCATED)
        Order.objects.filter(pk=order.pk).update(created_at=now - timedelta(days=index))
        OrderLine.objects.bulk_create(
            [
                OrderLine(order=order, product=product, title=product.title, sku=product.sku,
                          unit_price=product.price, quantity=quantity, subtotal=product.price * quantity)
                for product, quantity in zip(products, (1, 2), strict=True)
            ]
        )  # fmt: skip
        orders.append(order)
    return orders


def row_numbers(html: str) -> list[str]:
    return re.findall(r'<tr class="order-row">\s*<td><a href="[^"]+">([^<]+)</a>', html)


def test_my_orders_lists_the_customers_orders_newest_first(client, customer):
    mine = orders_for(customer, 3)
    orders_for(UserFactory(), 1)  # someone else's
    client.force_login(customer)
    response = client.get(LIST_URL)
    html = response.content.decode()
    assert row_numbers(html) == [order.number for order in mine]
    row = re.search(r'<tr class="order-row">.*?</tr>', html, re.S).group(0)
    assert "Allocated" in row and "<td>3</td>" in row and "12.50 EUR" in row
    assert timezone.localdate(mine[0].created_at).strftime("%Y") in row


def test_my_orders_has_20_a_page(client, customer):
    mine = orders_for(customer, 25)
    client.force_login(customer)
    first = client.get(LIST_URL).content.decode()
    second = client.get(LIST_URL, {"page": 2}).content.decode()
    assert row_numbers(first) == [order.number for order in mine[:20]]
    assert row_numbers(second) == [order.number for order in mine[20:]]
    assert "Page 1 of 2" in first and 'rel="next"' in first
    assert row_numbers(client.get(LIST_URL, {"page": "nonsense"}).content.decode()) == row_numbers(first)


@pytest.mark.parametrize("count", [1, 30])
def test_my_orders_takes_the_same_queries_for_1_or_30_orders(client, customer, count, django_assert_max_num_queries):
    orders_for(customer, count)
    client.force_login(customer)
    client.get(LIST_URL)  # warm the menu cache
    # the user, the count, the page's orders, their lines, the header's cart count (the session is
    # cached), the guest orders placed with the account's address
    with django_assert_max_num_queries(6):
        response = client.get(LIST_URL)
    assert len(row_numbers(response.content.decode())) == min(count, 20)


def test_a_guest_sees_the_orders_of_their_token_only(client, guest_order, placed):
    client.cookies[GUEST_COOKIE] = guest_order.token
    assert row_numbers(client.get(LIST_URL).content.decode()) == [guest_order.number]


def test_a_visitor_without_orders_is_offered_the_look_up(client):
    html = client.get(LIST_URL).content.decode()
    assert "You have no orders yet." in html
    assert f'href="{FIND_URL}"' in html


def test_my_orders_is_linked_from_the_header_and_the_account_page(client, customer):
    client.force_login(customer)
    account = client.get(reverse("accounts:account")).content.decode()
    assert account.count(f'<a href="{LIST_URL}">My orders</a>') == 2  # header + account page
