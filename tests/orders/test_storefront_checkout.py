"""Checkout in the browser: address, delivery, payment, review, place; what the customer sees."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import Address
from cart import selectors as cart_selectors
from catalog.models import Product
from inventory import selectors as inventory_selectors
from inventory.services import set_level
from orders.models import Order
from orders.states import OrderState
from orders.views import CHECKOUT_KEY
from shop.guest import GUEST_COOKIE, new_guest_token
from shop.models import IdempotencyKey
from tests.accounts.factories import AddressFactory
from tests.orders.conftest import fill_cart

pytestmark = pytest.mark.django_db

ADDRESS_URL = reverse("orders:checkout")
DELIVERY_URL = reverse("orders:checkout-delivery")
PAYMENT_URL = reverse("orders:checkout-payment")
REVIEW_URL = reverse("orders:checkout-review")
CART_URL = reverse("cart:cart")
NEW_ADDRESS = {"full_name": "Ada Lovelace", "line1": "1 Main Street", "city": "Berlin", "postal_code": "10115", "country": "DE"}  # fmt: skip
D = Decimal


def hidden(html: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]*)"', html).group(1)


def place_form(review_html: str) -> dict:
    """The review page's "Place order" form, as the browser would send it."""
    return {"token": hidden(review_html, "token"), "expected_total": hidden(review_html, "expected_total")}


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def walk_to_review(client, *, address: dict | None = None, delivery="standard", payment="tok_visa") -> str:
    """Go through the three steps; returns the review page's HTML."""
    assert client.post(ADDRESS_URL, address if address is not None else NEW_ADDRESS).status_code == 302
    assert client.post(DELIVERY_URL, {"delivery_option": delivery}).status_code == 302
    assert client.post(PAYMENT_URL, {"payment_method": payment}).status_code == 302
    review = client.get(REVIEW_URL)
    assert review.status_code == 200
    return review.content.decode()


@pytest.fixture
def shopper(client, customer, shoe, sock):
    """A signed-in customer with 2 shoes and 3 socks in the cart."""
    client.force_login(customer)
    fill_cart(user=customer, lines={shoe: 2, sock: 3})
    return client


@pytest.fixture
def guest(client, shoe):
    """A guest (cookie) with 1 shoe in the cart."""
    token = new_guest_token()
    fill_cart(guest_token=token, lines={shoe: 1})
    client.cookies[GUEST_COOKIE] = token
    return client


# --- The whole way -----------------------------------------------------------------------------------


@pytest.mark.smoke
def test_a_customer_checks_out_with_the_default_address_and_the_order_is_allocated_and_confirmed(
    shopper, customer, shoe, django_capture_on_commit_callbacks
):
    # given: two saved addresses, the default is preselected
    AddressFactory(user=customer, city="Hamburg")
    default = AddressFactory(user=customer, city="Munich", full_name="Ada at home", is_default=True)
    page = shopper.get(ADDRESS_URL).content.decode()
    assert re.search(rf'<input type="radio" name="address" value="{default.pk}"[^>]* checked', page)
    assert "Munich" in page and "Hamburg" in page and "A new address" in page
    # when: the customer keeps it, picks express delivery and a test card
    assert shopper.post(ADDRESS_URL, {"address": default.pk}).url == DELIVERY_URL
    delivery_page = shopper.get(DELIVERY_URL).content.decode()
    assert "Express delivery (next working day): 9.95 EUR" in delivery_page
    assert shopper.post(DELIVERY_URL, {"delivery_option": "express"}).url == PAYMENT_URL
    assert "Visa ending 4242: approved" in shopper.get(PAYMENT_URL).content.decode()
    assert shopper.post(PAYMENT_URL, {"payment_method": "tok_visa"}).url == REVIEW_URL
    review = shopper.get(REVIEW_URL).content.decode()
    # then: the review shows lines, address, choices and the total (100 + 15 + 9.95)
    for text in ("2 &times; Trail shoe", "3 &times; Wool sock", "Ada at home", "Munich",
                 "Express delivery (next working day): 9.95 EUR", "Visa ending 4242: approved", "124.95 EUR"):  # fmt: skip
        assert text in review
    assert place_form(review)["expected_total"] == "124.95"
    # when: Place order (eager Celery: the allocation and the e-mails run after commit)
    with django_capture_on_commit_callbacks(execute=True):
        response = shopper.post(REVIEW_URL, place_form(review))
    # then
    order = Order.objects.get()
    assert response.status_code == 302 and response.url == order.get_absolute_url()
    assert (order.customer, order.email, order.city, order.total) == (
        customer,
        "ada@example.com",
        "Munich",
        D("124.95"),
    )
    assert order.delivery_option == "express" and order.payment_method == "tok_visa"
    assert order.state == OrderState.AUTHORIZED
    assert inventory_selectors.get_level(product_id=shoe.pk) == 8
    assert sorted(message.subject for message in mail.outbox) == [
        f"Shop: we received your order {order.number}",
        f"Shop: your order {order.number} is confirmed",
    ]
    order_page = shopper.get(response.url)
    html = order_page.content.decode()
    assert f"Thank you! We received your order {order.number}." in messages_of(order_page)
    assert f"Order {order.number}" in html and "Allocated" in html and "124.95 EUR" in html
    assert shopper.session[CHECKOUT_KEY] == {"placed": {"token": place_form(review)["token"], "number": order.number}}
    assert cart_selectors.find_open_cart(user=customer) is None


def test_a_guest_checks_out_with_an_email_and_sees_the_order(guest, django_capture_on_commit_callbacks):
    page = guest.get(ADDRESS_URL).content.decode()
    assert 'name="email"' in page and 'name="save_address"' not in page and 'name="address"' not in page
    review = walk_to_review(guest, address={**NEW_ADDRESS, "email": "grace@example.com"})
    assert "Confirmation to grace@example.com" in review
    assert "54.95 EUR" in review  # 50 + 4.95 standard delivery
    with django_capture_on_commit_callbacks(execute=True):
        response = guest.post(REVIEW_URL, place_form(review))
    order = Order.objects.get()
    assert (order.customer, order.email, order.state) == (None, "grace@example.com", OrderState.AUTHORIZED)
    assert {tuple(message.to) for message in mail.outbox} == {("grace@example.com",)}
    assert len(mail.outbox) == 2
    assert guest.get(response.url).status_code == 200
    assert order.number in guest.session["orders_granted"]


def test_a_new_address_is_saved_to_the_account_when_asked(shopper, customer):
    AddressFactory(user=customer, is_default=True)
    response = shopper.post(ADDRESS_URL, {"address": "new", **NEW_ADDRESS, "save_address": "on", "make_default": "on"})
    assert response.url == DELIVERY_URL
    saved = customer.addresses.get(line1="1 Main Street")
    assert saved.is_default and customer.addresses.count() == 2
    # back on the step, the saved address is the one selected
    page = shopper.get(ADDRESS_URL).content.decode()
    assert re.search(rf'name="address" value="{saved.pk}"[^>]* checked', page)


def test_a_new_address_is_used_for_the_order_but_not_saved_unless_asked(shopper, customer):
    AddressFactory(user=customer, is_default=True, city="Munich")
    review = walk_to_review(shopper, address={"address": "new", **NEW_ADDRESS, "city": "Leipzig"})
    assert "Leipzig" in review and "Munich" not in review
    assert customer.addresses.count() == 1
    shopper.post(REVIEW_URL, place_form(review))
    assert Order.objects.get().city == "Leipzig"


def test_a_customer_without_saved_addresses_types_one(shopper, customer):
    page = shopper.get(ADDRESS_URL).content.decode()
    assert 'name="address"' not in page and 'name="save_address"' in page
    walk_to_review(shopper)
    assert customer.addresses.count() == 0


# --- Validation: each step refuses bad input, shows why, writes nothing --------------------------------


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        ({**NEW_ADDRESS, "city": ""}, "city", "This field is required."),
        ({**NEW_ADDRESS, "country": "XX"}, "country", "Select a valid choice. XX is not one of the available choices."),
        ({**NEW_ADDRESS, "postal_code": "1" * 21}, "postal_code", "Ensure this value has at most 20 characters"),
    ],
)
def test_a_bad_new_address_is_shown_next_to_its_field_and_nothing_is_saved(shopper, data, field, error):
    response = shopper.post(ADDRESS_URL, {**data, "save_address": "on"})
    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(rf'<label for="id_{field}">.*?</label>.*?<p class="field-error" role="alert">{re.escape(error)}', html, re.S)  # fmt: skip
    assert Address.objects.count() == 0
    assert CHECKOUT_KEY not in shopper.session
    assert shopper.get(DELIVERY_URL).url == ADDRESS_URL


def test_a_guest_must_give_a_valid_email(guest):
    response = guest.post(ADDRESS_URL, {**NEW_ADDRESS, "email": "not-an-address"})
    assert response.status_code == 200
    assert "Enter a valid email address." in response.content.decode()
    assert CHECKOUT_KEY not in guest.session


def test_choosing_a_saved_address_ignores_the_empty_new_address_fields(shopper, customer):
    address = AddressFactory(user=customer, is_default=True)
    assert shopper.post(ADDRESS_URL, {"address": address.pk, "city": ""}).url == DELIVERY_URL


def test_another_customers_address_cannot_be_chosen(shopper, customer):
    AddressFactory(user=customer, is_default=True)
    someone_elses = AddressFactory()
    response = shopper.post(ADDRESS_URL, {"address": someone_elses.pk})
    assert response.status_code == 200
    assert "Select a valid choice." in response.content.decode()
    assert CHECKOUT_KEY not in shopper.session


@pytest.mark.parametrize(
    ("url", "data", "error"),
    [
        (DELIVERY_URL, {"delivery_option": "teleport"}, "Select a valid choice. teleport is not one of the available choices."),
        (DELIVERY_URL, {}, "This field is required."),
        (PAYMENT_URL, {"payment_method": "4242424242424242"}, "Select a valid choice."),
    ],
)  # fmt: skip
def test_a_bad_delivery_or_payment_choice_is_shown_and_not_kept(shopper, url, data, error):
    shopper.post(ADDRESS_URL, NEW_ADDRESS)
    if url == PAYMENT_URL:
        shopper.post(DELIVERY_URL, {"delivery_option": "standard"})
    before = dict(shopper.session[CHECKOUT_KEY])
    response = shopper.post(url, data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert shopper.session[CHECKOUT_KEY] == before


def test_with_stripe_the_payment_step_asks_for_the_payment_method_id(shopper, settings):
    settings.PAYMENT_GATEWAY = "stripe"
    shopper.post(ADDRESS_URL, NEW_ADDRESS)
    shopper.post(DELIVERY_URL, {"delivery_option": "standard"})
    page = shopper.get(PAYMENT_URL).content.decode()
    assert 'type="text" name="payment_method"' in page
    refused = shopper.post(PAYMENT_URL, {"payment_method": "tok_visa"})
    assert "Send the PaymentMethod id (pm_...) that Stripe.js returned." in refused.content.decode()
    assert shopper.post(PAYMENT_URL, {"payment_method": "pm_1234567890abcdef"}).url == REVIEW_URL


# --- Order of the steps --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("done", "url", "expected"),
    [
        (0, DELIVERY_URL, ADDRESS_URL),
        (0, PAYMENT_URL, ADDRESS_URL),
        (0, REVIEW_URL, ADDRESS_URL),
        (1, PAYMENT_URL, DELIVERY_URL),
        (1, REVIEW_URL, DELIVERY_URL),
        (2, REVIEW_URL, PAYMENT_URL),
    ],
)
def test_a_step_reached_too_early_redirects_to_the_first_missing_one(shopper, done, url, expected):
    steps = [(ADDRESS_URL, NEW_ADDRESS), (DELIVERY_URL, {"delivery_option": "standard"})]
    for step_url, data in steps[:done]:
        shopper.post(step_url, data)
    response = shopper.get(url)
    assert response.status_code == 302 and response.url == expected


@pytest.mark.parametrize("url", [ADDRESS_URL, DELIVERY_URL, PAYMENT_URL, REVIEW_URL])
def test_an_empty_cart_sends_checkout_back_to_the_cart(client, customer, url):
    client.force_login(customer)
    response = client.get(url, follow=True)
    assert response.redirect_chain == [(CART_URL, 302)]
    assert "Your cart is empty: add something before checking out." in messages_of(response)


def test_the_cart_page_leads_to_checkout(shopper):
    html = shopper.get(CART_URL).content.decode()
    assert f'<a class="button cart-checkout" href="{ADDRESS_URL}">Checkout</a>' in html


# --- Placing: once, at the reviewed price ---------------------------------------------------------------


def test_submitting_the_review_form_twice_places_one_order(shopper):
    form = place_form(walk_to_review(shopper))
    first = shopper.post(REVIEW_URL, form)
    second = shopper.post(REVIEW_URL, form)
    order = Order.objects.get()
    assert first.url == second.url == order.get_absolute_url()


def test_a_concurrent_second_submit_gets_the_first_order_from_its_idempotency_key(shopper):
    """The second request read the session before the first one finished: the key replays the order."""
    form = place_form(walk_to_review(shopper))
    session_before = dict(shopper.session[CHECKOUT_KEY])
    first = shopper.post(REVIEW_URL, form)
    session = shopper.session
    session[CHECKOUT_KEY] = session_before  # what the second request still saw
    session.save()
    second = shopper.post(REVIEW_URL, form)
    assert Order.objects.count() == 1 and IdempotencyKey.objects.count() == 1
    assert first.url == second.url == Order.objects.get().get_absolute_url()


def test_a_price_change_after_the_review_is_refused_with_the_new_total(shopper, customer, shoe):
    # given: the customer reviewed 2 x 50 + 3 x 5 + 4.95 = 119.95
    review = walk_to_review(shopper)
    assert "119.95 EUR" in review
    Product.objects.filter(pk=shoe.pk).update(price=D("60.00"))
    # when
    response = shopper.post(REVIEW_URL, place_form(review))
    # then: 409, the message, the new total to review, no order, the cart still open
    html = response.content.decode()
    assert response.status_code == 409
    assert "The total changed from 119.95 to 139.95 since you reviewed it: please review it again." in html
    assert "The price changed from 50.00 to 60.00." in html
    assert place_form(html)["expected_total"] == "139.95"
    assert Order.objects.count() == 0 and IdempotencyKey.objects.count() == 0
    assert cart_selectors.find_open_cart(user=customer) is not None
    # and placing again at the new total works
    assert shopper.post(REVIEW_URL, place_form(html)).status_code == 302
    assert Order.objects.get().total == D("139.95")


def test_stock_running_short_after_the_review_shows_the_cart_with_the_reason(shopper, shoe):
    review = walk_to_review(shopper)
    set_level(product_id=shoe.pk, quantity=1, cause="test:shrink")
    response = shopper.post(REVIEW_URL, place_form(review))
    # Post/Redirect/Get (issue 19, item 7): a 303 to the cart page, which can be refreshed freely
    assert (response.status_code, response.url) == (303, CART_URL)
    cart_page = shopper.get(CART_URL)
    html = cart_page.content.decode()
    assert "Only 1 of Trail shoe left; your cart has 2." in messages_of(cart_page)
    assert "Only 1 left: your cart has 2. Lower the quantity to 1 to order it." in html
    refreshed = shopper.get(CART_URL)
    assert refreshed.status_code == 200 and "Lower the quantity to 1" in refreshed.content.decode()
    assert Order.objects.count() == 0


def test_a_review_page_from_before_a_change_cannot_place_the_order(shopper):
    """Another tab changed the delivery option after this review page was shown."""
    old_form = place_form(walk_to_review(shopper))
    shopper.post(DELIVERY_URL, {"delivery_option": "express"})
    response = shopper.post(REVIEW_URL, old_form)
    html = response.content.decode()
    assert response.status_code == 409
    assert "Your checkout changed since that page was shown" in html
    assert "Express delivery (next working day): 9.95 EUR" in html
    assert Order.objects.count() == 0


def test_a_tampered_review_form_is_refused(shopper):
    form = place_form(walk_to_review(shopper))
    response = shopper.post(REVIEW_URL, {**form, "expected_total": "cheap"})
    assert response.status_code == 400
    assert Order.objects.count() == 0


def test_an_emptied_cart_at_submit_shows_the_empty_cart(shopper, customer):
    review = walk_to_review(shopper)
    customer.carts.get().adds.all().delete()
    response = shopper.post(REVIEW_URL, place_form(review), follow=True)
    assert response.redirect_chain == [(CART_URL, 303)]
    assert "Your cart is empty: add something before checking out." in response.content.decode()
    assert Order.objects.count() == 0
