"""The cart in the browser: add from the catalog, see and change the cart, keep it at sign-in."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cart import services
from cart.context_processors import cart_summary
from cart.models import Cart, CartAdd, CartStatus, CartTombstone
from inventory.services import set_level
from shop.guest import GUEST_COOKIE, GUEST_COOKIE_MAX_AGE, guest_key, new_guest_token
from tests.accounts.factories import DEFAULT_PASSWORD, UserFactory
from tests.cache_helpers import clear_cache
from tests.cart.factories import stocked_product
from tests.catalog.factories import CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db

CART_URL = reverse("cart:cart")
ADD_URL = reverse("cart:add")
CLEAR_URL = reverse("cart:clear")
LOGIN_URL = reverse("accounts:login")
FETCH = {"HTTP_X_REQUESTED_WITH": "fetch"}


def stocked(**fields):
    product = ProductFactory(**fields)
    set_level(product_id=product.pk, quantity=50, cause=f"test:stock-{product.pk}")
    return product


def line_url(product) -> str:
    return reverse("cart:line", args=[product.pk])


def remove_url(product) -> str:
    return reverse("cart:remove", args=[product.pk])


def header_count(html: str) -> int:
    return int(re.search(r'class="cart-count">(\d+)<', html).group(1))


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def rows() -> tuple[int, int, int]:
    return Cart.objects.count(), CartAdd.objects.count(), CartTombstone.objects.count()


def guest_cart(client) -> Cart:
    return Cart.objects.get(guest_key=guest_key(client.cookies[GUEST_COOKIE].value), status=CartStatus.OPEN)


def live_quantities(cart: Cart) -> dict[int, int]:
    removed = set(CartTombstone.objects.filter(cart=cart).values_list("tag", flat=True))
    totals: dict[int, int] = {}
    for add in CartAdd.objects.filter(cart=cart):
        if add.tag not in removed:
            totals[add.product_id] = totals.get(add.product_id, 0) + add.quantity
    return totals


@pytest.fixture
def shopper(client):
    """A guest who has put 2 of a product in the cart through the storefront."""
    product = stocked(title="Trail Runner", price=Decimal("50.00"))
    client.post(ADD_URL, {"product_id": product.pk, "quantity": 2}, follow=True)  # shows (uses up) the message
    return client, product


# --- Adding ---------------------------------------------------------------------------------------


@pytest.mark.smoke
def test_a_guest_adds_from_the_product_page_and_sees_the_line_and_the_count(client):
    # given: the product page offers the form (and gives no cart token: browsing is not a cart)
    product = stocked(title="Trail Runner", price=Decimal("50.00"))
    page = client.get(product.get_absolute_url())
    assert f'action="{ADD_URL}"' in page.content.decode()
    assert f'name="product_id" value="{product.pk}"' in page.content.decode()
    assert GUEST_COOKIE not in page.cookies
    # when
    response = client.post(ADD_URL, {"product_id": product.pk, "quantity": "2"})
    # then: a guest cookie, a redirect to the cart, the line and the header count
    assert response.status_code == 302
    assert response.url == CART_URL
    cookie = response.cookies[GUEST_COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["secure"] is True  # DEBUG is off under test
    assert cookie["max-age"] == GUEST_COOKIE_MAX_AGE
    cart_page = client.get(CART_URL)
    html = cart_page.content.decode()
    assert "Added to your cart." in messages_of(cart_page)
    assert f'<a href="{product.get_absolute_url()}">Trail Runner</a>' in html
    assert 'value="2"' in html
    assert "100.00 EUR" in html
    assert header_count(html) == 2
    assert live_quantities(guest_cart(client)) == {product.pk: 2}


def test_the_quantity_defaults_to_one(client):
    product = stocked()
    client.post(ADD_URL, {"product_id": product.pk})
    assert live_quantities(guest_cart(client)) == {product.pk: 1}


def test_adding_twice_sums_the_quantities_as_two_tags(shopper):
    client, product = shopper
    client.post(ADD_URL, {"product_id": product.pk, "quantity": 3})
    cart = guest_cart(client)
    assert CartAdd.objects.filter(cart=cart, product=product).count() == 2
    assert live_quantities(cart) == {product.pk: 5}
    assert header_count(client.get(CART_URL).content.decode()) == 5


def test_a_returning_guest_keeps_the_same_cookie_and_cart(shopper):
    client, product = shopper
    token = client.cookies[GUEST_COOKIE].value
    response = client.post(ADD_URL, {"product_id": product.pk})
    assert GUEST_COOKIE not in response.cookies
    assert client.cookies[GUEST_COOKIE].value == token
    assert Cart.objects.count() == 1


def test_a_signed_in_customer_adds_without_a_guest_cookie(client):
    user = UserFactory()
    client.force_login(user)
    product = stocked()
    response = client.post(ADD_URL, {"product_id": product.pk})
    assert GUEST_COOKIE not in response.cookies
    assert live_quantities(Cart.objects.get(user=user)) == {product.pk: 1}


@pytest.mark.parametrize("headers", [FETCH, {"HTTP_ACCEPT": "application/json"}])
def test_the_script_gets_the_new_count_as_json(client, headers):
    product = stocked()
    client.post(ADD_URL, {"product_id": product.pk, "quantity": 2})
    response = client.post(ADD_URL, {"product_id": product.pk, "quantity": 3}, **headers)
    assert response.status_code == 200
    assert response.json() == {"cart_count": 5, "message": "Added to your cart."}


def test_the_script_gets_the_cookie_on_its_first_add(client):
    product = stocked()
    response = client.post(ADD_URL, {"product_id": product.pk}, **FETCH)
    assert response.json()["cart_count"] == 1
    assert response.cookies[GUEST_COOKIE]["httponly"] is True


def test_the_script_gets_a_json_error_and_nothing_changes(shopper):
    client, product = shopper
    before = rows()
    unknown = client.post(ADD_URL, {"product_id": 999_999}, **FETCH)
    too_many = client.post(ADD_URL, {"product_id": product.pk, "quantity": "1000"}, **FETCH)
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "product_not_available"
    assert unknown.json()["error"]["message"] == "This product does not exist or is no longer sold."
    assert too_many.status_code == 400
    assert too_many.json()["error"] == {
        "code": "invalid",
        "message": "Choose a quantity from 1 to 99.",
        "fields": {"quantity": ["Choose a quantity from 1 to 99."]},
    }
    assert rows() == before


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ("abc", "The quantity must be a whole number."),
        ("1.5", "The quantity must be a whole number."),
        ("-1", "Choose a quantity from 1 to 99."),
        ("0", "Choose a quantity from 1 to 99."),
        ("1000", "Choose a quantity from 1 to 99."),
    ],
)
def test_a_bad_quantity_is_named_and_changes_nothing(shopper, quantity, message):
    client, product = shopper
    before = rows()
    response = client.post(ADD_URL, {"product_id": product.pk, "quantity": quantity}, follow=True)
    assert response.status_code == 200
    assert messages_of(response) == [message]
    assert rows() == before
    assert live_quantities(guest_cart(client)) == {product.pk: 2}


@pytest.mark.parametrize("product_id", ["999999", "abc", "", "99999999999999999999999"])
def test_an_unknown_product_is_refused_and_nothing_is_created(client, product_id):
    response = client.post(ADD_URL, {"product_id": product_id}, follow=True)
    assert response.status_code == 200
    assert messages_of(response) == ["This product does not exist or is no longer sold."]
    assert rows() == (0, 0, 0)  # not even an empty cart
    assert GUEST_COOKIE not in client.cookies


def test_an_inactive_product_is_refused_in_an_existing_cart(shopper):
    client, _ = shopper
    hidden = ProductFactory(is_active=False)
    before = rows()
    response = client.post(ADD_URL, {"product_id": hidden.pk}, follow=True)
    assert messages_of(response) == ["This product does not exist or is no longer sold."]
    assert rows() == before


def test_a_full_cart_is_refused_with_a_message(client):
    user = UserFactory()
    client.force_login(user)
    cart = services.get_or_create_cart(user=user)
    for _ in range(100):
        services.add_item(cart_id=cart.pk, product_id=stocked_product().pk, quantity=1)
    before = rows()
    response = client.post(ADD_URL, {"product_id": stocked_product().pk}, follow=True)
    assert messages_of(response) == ["Your cart holds at most 100 different products."]
    assert rows() == before


def test_next_on_this_site_is_followed_and_another_host_is_ignored(client):
    product = stocked()
    category = product.category.get_absolute_url()
    same_site = client.post(ADD_URL, {"product_id": product.pk, "next": category})
    elsewhere = client.post(ADD_URL, {"product_id": product.pk, "next": "https://evil.example/steal"})
    scheme_relative = client.post(ADD_URL, {"product_id": product.pk, "next": "//evil.example/"})
    assert same_site.url == category
    assert elsewhere.url == CART_URL
    assert scheme_relative.url == CART_URL


def test_adding_needs_a_post_with_a_csrf_token(db):
    product = stocked()
    browser = Client(enforce_csrf_checks=True)
    assert browser.get(ADD_URL).status_code == 405
    assert browser.post(ADD_URL, {"product_id": product.pk}).status_code == 403
    assert rows() == (0, 0, 0)


# --- The forms on catalog pages -------------------------------------------------------------------


def test_listing_cards_carry_a_small_add_form_that_comes_back_to_the_listing(client):
    shoes = CategoryFactory(name="Shoes")
    runner = stocked(category=shoes)
    html = client.get(shoes.get_absolute_url()).content.decode()
    assert html.count("data-cart-add") == 1
    assert f'name="product_id" value="{runner.pk}"' in html
    assert '<input type="hidden" name="quantity" value="1">' in html
    assert f'name="next" value="{shoes.get_absolute_url()}"' in html
    assert "csrfmiddlewaretoken" in html


def test_a_card_button_names_its_product_and_keeps_its_visible_words_in_that_name(client):
    # axe (serious, label-content-name-mismatch): an aria-label "Add X to cart" on a button that
    # shows "Add to cart" hid the visible words from speech users; the name is now the content.
    shoes = CategoryFactory(name="Shoes")
    runner = stocked(category=shoes, title="Trail Runner")
    html = client.get(shoes.get_absolute_url()).content.decode()
    form = html[html.index("data-cart-add") :]
    button = form[form.index("<button") : form.index("</button>")]
    assert "aria-label" not in button
    assert f'Add<span class="visually-hidden"> {runner.title}</span> to cart' in button


def test_flash_messages_are_list_items_inside_one_status_region(client):
    # axe (serious, list): <li role="status"> is no list item, so the list held foreign children.
    product = stocked()
    page = client.post(ADD_URL, {"product_id": product.pk, "quantity": 1}, follow=True).content.decode()
    assert '<div role="status"><ul class="messages">' in page
    assert '<li class="message message-success">Added to your cart.</li>' in page


def test_an_out_of_stock_product_offers_a_disabled_button(client):
    product = ProductFactory()  # no stock row: out of stock
    html = client.get(product.get_absolute_url()).content.decode()
    assert '<button type="submit" class="button" disabled>Out of stock</button>' in html
    assert ">Add to cart<" not in html


def test_every_page_loads_the_cart_script_and_links_the_cart(client):
    html = client.get(reverse("catalog:home")).content.decode()
    assert 'src="/static/js/cart.js" defer' in html
    assert f'<a class="cart-link" href="{CART_URL}">' in html


# --- Changing the cart ----------------------------------------------------------------------------


def test_a_line_quantity_can_be_changed(shopper):
    client, product = shopper
    response = client.post(line_url(product), {"quantity": "5"}, follow=True)
    assert messages_of(response) == ["Quantity updated."]
    assert live_quantities(guest_cart(client)) == {product.pk: 5}
    assert header_count(response.content.decode()) == 5


def test_a_quantity_of_zero_removes_the_line(shopper):
    client, product = shopper
    response = client.post(line_url(product), {"quantity": "0"}, follow=True)
    assert messages_of(response) == ["Removed from your cart."]
    assert live_quantities(guest_cart(client)) == {}
    assert "Your cart is empty." in response.content.decode()


def test_the_remove_button_removes_the_line(shopper):
    client, product = shopper
    other = stocked()
    client.post(ADD_URL, {"product_id": other.pk}, follow=True)
    response = client.post(remove_url(product), follow=True)
    assert messages_of(response) == ["Removed from your cart."]
    assert live_quantities(guest_cart(client)) == {other.pk: 1}


def test_clearing_empties_the_cart(shopper):
    client, _ = shopper
    client.post(ADD_URL, {"product_id": stocked().pk}, follow=True)
    response = client.post(CLEAR_URL, follow=True)
    assert messages_of(response) == ["Your cart is empty now."]
    assert live_quantities(guest_cart(client)) == {}
    assert header_count(response.content.decode()) == 0


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        ("abc", "The quantity must be a whole number."),
        ("", "Enter a quantity."),
        ("-1", "Choose a quantity from 1 to 99, or 0 to remove the line."),
        ("1000", "Choose a quantity from 1 to 99, or 0 to remove the line."),
    ],
)
def test_a_bad_line_quantity_is_named_and_changes_nothing(shopper, quantity, message):
    client, product = shopper
    before = rows()
    response = client.post(line_url(product), {"quantity": quantity}, follow=True)
    assert messages_of(response) == [message]
    assert rows() == before


def test_setting_a_line_of_a_product_no_longer_sold_is_refused(shopper):
    client, product = shopper
    product.is_active = False
    product.save()
    before = rows()
    response = client.post(line_url(product), {"quantity": "3"}, follow=True)
    assert messages_of(response) == ["This product does not exist or is no longer sold."]
    assert rows() == before


def test_a_line_address_naming_no_product_changes_nothing(shopper):
    client, _ = shopper
    before = rows()
    refused = client.post(reverse("cart:line", args=[999_999]), {"quantity": "2"}, follow=True)
    removed = client.post(reverse("cart:remove", args=[999_999]), follow=True)
    too_long = [client.post(f"/cart/lines/{10**25}/", {"quantity": "2"}), client.post(f"/cart/lines/{10**25}/remove/")]
    assert messages_of(refused) == ["This product does not exist or is no longer sold."]
    assert removed.status_code == 200
    assert [response.status_code for response in too_long] == [404, 404]
    assert rows() == before


def test_changing_a_cart_that_does_not_exist_explains(client):
    product = stocked()
    for url, data in ((line_url(product), {"quantity": "2"}), (remove_url(product), {})):
        response = client.post(url, data, follow=True)
        assert messages_of(response) == ["Your cart is empty: there is nothing to change."]
    assert rows() == (0, 0, 0)


def test_changes_need_a_post(shopper):
    client, product = shopper
    for url in (line_url(product), remove_url(product)):
        assert client.get(url).status_code == 405
    assert client.post(CART_URL).status_code == 405
    # "Empty the cart" answers a GET with the page that asks first, and changes nothing
    assert client.get(CLEAR_URL).status_code == 200
    assert live_quantities(guest_cart(client)) == {product.pk: 2}


# --- The cart page --------------------------------------------------------------------------------


def test_an_empty_cart_invites_to_shop(client):
    html = client.get(CART_URL).content.decode()
    assert "Your cart is empty." in html
    assert f'href="{reverse("catalog:home")}">Continue shopping</a>' in html
    assert ">Checkout<" not in html


def test_a_cart_with_lines_leads_to_checkout(shopper):
    client, _ = shopper
    full = client.get(CART_URL).content.decode()
    assert '<a class="button cart-checkout" href="/checkout/">Checkout</a>' in full


def test_the_page_shows_a_price_change_and_a_product_no_longer_sold(client):
    # given: two products in the cart at their old prices
    shoe = stocked(title="Shoe", price=Decimal("50.00"))
    sock = stocked(title="Sock", price=Decimal("5.00"))
    for product in (shoe, sock):
        client.post(ADD_URL, {"product_id": product.pk, "quantity": 2})
    # when: the shoe gets dearer and the sock leaves the catalog
    shoe.price = Decimal("60.00")
    shoe.save()
    sock.is_active = False
    sock.save()
    html = client.get(CART_URL).content.decode()
    # then
    assert "The price changed from 50.00 to 60.00." in html
    assert "This product is no longer sold and will not be ordered." in html
    assert "120.00 EUR" in html  # the shoe's line at the new price, and the subtotal
    assert re.search(r'class="cart-item-count">2<', html)


def test_the_page_shows_a_product_out_of_stock(shopper):
    client, product = shopper
    set_level(product_id=product.pk, quantity=0, cause="test:sold-out")
    assert "Out of stock at the moment." in client.get(CART_URL).content.decode()


def test_the_cart_page_makes_as_many_queries_for_50_lines_as_for_1(client, django_assert_max_num_queries):
    user = UserFactory()
    client.force_login(user)
    cart = services.get_or_create_cart(user=user)
    products = [stocked_product() for _ in range(50)]
    services.add_item(cart_id=cart.pk, product_id=products[0].pk, quantity=1)

    def count_cold_page() -> int:
        clear_cache()  # product cards, the category tree and the session all cold
        with CaptureQueriesContext(connection) as queries:
            response = client.get(CART_URL)
        assert response.status_code == 200
        return len(queries)

    one_line = count_cold_page()
    for product in products[1:]:
        services.add_item(cart_id=cart.pk, product_id=product.pk, quantity=1)
    fifty_lines = count_cold_page()
    assert fifty_lines == one_line
    # session, user, cart, live adds, cards (products, images), prices, availability, count, tree,
    # and "customers also bought" cold: the products, their stored lists, their categories' popular
    # products, the candidates' availability
    assert one_line <= 13
    with django_assert_max_num_queries(10):
        assert client.get(CART_URL).content.decode().count('<li class="cart-line') == 50


# --- The header count -----------------------------------------------------------------------------


def test_the_header_shows_the_count_on_other_pages(shopper):
    client, product = shopper
    for url in (reverse("catalog:home"), product.get_absolute_url(), reverse("accounts:login")):
        assert header_count(client.get(url).content.decode()) == 2, url


def test_the_count_costs_nothing_for_a_visitor_without_cookie_or_session(django_assert_num_queries):
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    count = cart_summary(request)["cart_count"]
    with django_assert_num_queries(0):
        assert count() == 0


def test_the_count_is_read_once_per_page_and_only_when_shown(shopper, django_assert_max_num_queries):
    client, _ = shopper
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    request.COOKIES[GUEST_COOKIE] = client.cookies[GUEST_COOKIE].value
    with django_assert_max_num_queries(0):
        count = cart_summary(request)["cart_count"]  # nothing read until a template calls it
    with django_assert_max_num_queries(2):  # the open cart, the sum of its live adds
        assert count() == 2
        assert count() == 2


def test_a_malformed_guest_cookie_is_ignored(client):
    client.cookies[GUEST_COOKIE] = "not a token"
    product = stocked()
    response = client.post(ADD_URL, {"product_id": product.pk})
    assert response.cookies[GUEST_COOKIE].value != "not a token"
    assert header_count(client.get(CART_URL).content.decode()) == 1


# --- Signing in and other browsers ----------------------------------------------------------------


def test_logging_in_with_a_guest_cart_merges_it_into_the_account(client, django_capture_on_commit_callbacks):
    # given: an account with a cart of its own, and a guest cart in this browser
    user = UserFactory()
    shoe, sock = stocked(title="Shoe"), stocked(title="Sock")
    account_cart = services.get_or_create_cart(user=user)
    services.add_item(cart_id=account_cart.pk, product_id=shoe.pk, quantity=1)
    client.post(ADD_URL, {"product_id": shoe.pk, "quantity": 2})
    client.post(ADD_URL, {"product_id": sock.pk, "quantity": 3})
    guest = guest_cart(client)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(LOGIN_URL, {"username": user.email, "password": DEFAULT_PASSWORD})
    # then
    assert response.status_code == 302
    guest.refresh_from_db()
    assert guest.status == CartStatus.MERGED
    assert live_quantities(Cart.objects.get(user=user, status=CartStatus.OPEN)) == {shoe.pk: 3, sock.pk: 3}
    html = client.get(CART_URL).content.decode()
    assert ">Shoe</a>" in html and ">Sock</a>" in html
    assert header_count(html) == 6


def test_an_accounts_cart_is_the_same_in_a_second_browser(db):
    user = UserFactory()
    product = stocked(title="Kettle")
    laptop, phone = Client(), Client()
    laptop.force_login(user)
    phone.force_login(user)
    laptop.post(ADD_URL, {"product_id": product.pk, "quantity": 2})
    html = phone.get(CART_URL).content.decode()
    assert ">Kettle</a>" in html
    assert header_count(html) == 2
    phone.post(line_url(product), {"quantity": "4"})
    assert header_count(laptop.get(reverse("catalog:home")).content.decode()) == 4


def test_another_guest_never_sees_this_cart(shopper):
    assert Cart.objects.count() == 1  # the shopper's
    stranger = Client()
    stranger.cookies[GUEST_COOKIE] = new_guest_token()
    html = stranger.get(CART_URL).content.decode()
    assert "Your cart is empty." in html
    assert header_count(html) == 0
