import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import selectors
from accounts.models import Address
from tests.accounts.factories import AddressFactory
from tests.accounts.helpers import address_form_data

ACCOUNT_URL = reverse("accounts:account")
CREATE_URL = reverse("accounts:address_create")


def edit_url(address: Address) -> str:
    return reverse("accounts:address_edit", args=[address.pk])


def delete_url(address: Address) -> str:
    return reverse("accounts:address_delete", args=[address.pk])


def aged(address: Address, days: int) -> Address:
    """Backdate an address so that "newest" is unambiguous."""
    Address.objects.filter(pk=address.pk).update(created_at=timezone.now() - timedelta(days=days))
    address.refresh_from_db()
    return address


def address_snapshot(address: Address) -> tuple:
    address.refresh_from_db()
    return (address.full_name, address.line1, address.city, address.postal_code, address.country, address.is_default)


def test_first_address_becomes_the_default(customer_client, customer):
    response = customer_client.post(CREATE_URL, address_form_data())

    assert response.status_code == 302
    assert response.url == ACCOUNT_URL
    address = Address.objects.get()
    assert address.user == customer
    assert (address.line1, address.postal_code, address.country) == ("221B Baker Street", "NW1 6XE", "GB")
    assert address.is_default


def test_second_address_without_make_default_keeps_the_old_default(customer_client, customer):
    first = AddressFactory(user=customer, is_default=True)

    customer_client.post(CREATE_URL, address_form_data())

    assert Address.objects.filter(user=customer).count() == 2
    assert list(Address.objects.filter(is_default=True)) == [first]


def test_second_address_with_make_default_becomes_the_only_default(customer_client, customer):
    AddressFactory(user=customer, is_default=True)

    customer_client.post(CREATE_URL, address_form_data(make_default="on", line1="1 New Road"))

    assert Address.objects.filter(user=customer).count() == 2
    assert list(Address.objects.filter(is_default=True).values_list("line1", flat=True)) == ["1 New Road"]


def test_editing_an_address_changes_its_fields(customer_client, customer):
    address = AddressFactory(user=customer, is_default=True, country="DE")

    response = customer_client.post(
        edit_url(address), address_form_data(line1="10 Downing Street", city="Westminster", postal_code="SW1A 2AA")
    )

    assert response.status_code == 302
    assert response.url == ACCOUNT_URL
    assert address_snapshot(address) == ("Ada Lovelace", "10 Downing Street", "Westminster", "SW1A 2AA", "GB", True)


def test_editing_an_address_with_make_default_moves_the_default(customer_client, customer):
    old_default = AddressFactory(user=customer, is_default=True)
    other = AddressFactory(user=customer)

    customer_client.post(edit_url(other), address_form_data(make_default="on"))

    assert list(Address.objects.filter(is_default=True)) == [other]
    old_default.refresh_from_db()
    assert not old_default.is_default


def test_edit_page_shows_the_address(customer_client, customer):
    address = AddressFactory(user=customer, line1="7 Rue de Rivoli")

    response = customer_client.get(edit_url(address))

    assert response.status_code == 200
    assert "Edit address" in response.content.decode()
    assert 'value="7 Rue de Rivoli"' in response.content.decode()


def test_deleting_the_default_makes_the_newest_remaining_address_default(customer_client, customer):
    # given: the default is the oldest; "newest" was added last
    default = aged(AddressFactory(user=customer, is_default=True), days=30)
    aged(AddressFactory(user=customer, line1="older"), days=20)
    newest = aged(AddressFactory(user=customer, line1="newest"), days=10)

    # when
    response = customer_client.post(delete_url(default))

    # then
    assert response.status_code == 302
    assert not Address.objects.filter(pk=default.pk).exists()
    assert list(Address.objects.filter(user=customer, is_default=True)) == [newest]
    assert Address.objects.filter(user=customer).count() == 2


def test_deleting_a_non_default_address_keeps_the_default(customer_client, customer):
    default = AddressFactory(user=customer, is_default=True)
    other = AddressFactory(user=customer)

    customer_client.post(delete_url(other))

    assert list(Address.objects.filter(user=customer)) == [default]
    default.refresh_from_db()
    assert default.is_default


def test_deleting_the_last_address_leaves_none(customer_client, customer):
    address = AddressFactory(user=customer, is_default=True)

    customer_client.post(delete_url(address))

    assert not Address.objects.exists()


def test_deleting_an_address_asks_first_and_a_get_deletes_nothing(customer_client, customer):
    """Issue 19, item 10: the account page links to a page that asks, as Django's delete does."""
    address = AddressFactory(user=customer, is_default=True, city="Lyon")

    account = customer_client.get(reverse("accounts:account")).content.decode()
    response = customer_client.get(delete_url(address))

    assert f'href="{delete_url(address)}">Delete<span class="visually-hidden"> this address</span></a>' in account
    assert f'action="{delete_url(address)}"' not in account  # no one-click delete from the list
    html = response.content.decode()
    assert response.status_code == 200 and "Delete this address?" in html and "Lyon" in html
    assert "Yes, delete this address" in html
    assert Address.objects.filter(pk=address.pk).exists()


def test_another_customers_address_has_no_confirmation_page(customer_client, other_customer):
    theirs = AddressFactory(user=other_customer)
    assert customer_client.get(delete_url(theirs)).status_code == 404


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"postal_code": None}, "postal_code", "This field is required."),
        ({"country": "XX"}, "country", "Select a valid choice. XX is not one of the available choices."),
        ({"line1": ""}, "line1", "This field is required."),
    ],
)
def test_invalid_address_is_refused_naming_the_field(customer_client, customer, overrides, field, message):
    response = customer_client.post(CREATE_URL, address_form_data(**overrides))

    assert response.status_code == 400
    assert response.context["form"].errors == {field: [message]}
    assert message in response.content.decode()
    assert not Address.objects.exists()


def test_invalid_edit_is_refused_and_changes_nothing(customer_client, customer):
    address = AddressFactory(user=customer, is_default=True)
    before = address_snapshot(address)

    response = customer_client.post(edit_url(address), address_form_data(line1="New line", country="XX"))

    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["country"]
    assert address_snapshot(address) == before


def test_another_customers_address_edit_page_is_not_found(customer_client, other_customer):
    theirs = AddressFactory(user=other_customer, is_default=True)

    response = customer_client.get(edit_url(theirs))

    assert response.status_code == 404


def test_another_customers_address_cannot_be_edited(customer_client, other_customer):
    theirs = AddressFactory(user=other_customer, is_default=True)
    before = address_snapshot(theirs)

    response = customer_client.post(edit_url(theirs), address_form_data(line1="Hijacked 1"))

    assert response.status_code == 404
    assert address_snapshot(theirs) == before


def test_another_customers_address_cannot_be_deleted(customer_client, other_customer):
    theirs = AddressFactory(user=other_customer, is_default=True)

    response = customer_client.post(delete_url(theirs))

    assert response.status_code == 404
    assert Address.objects.filter(pk=theirs.pk, user=other_customer, is_default=True).exists()


def test_missing_address_is_not_found(customer_client, customer):
    response = customer_client.post(reverse("accounts:address_delete", args=[999_999]))

    assert response.status_code == 404


def test_address_pages_send_anonymous_visitors_to_login(client, customer):
    address = AddressFactory(user=customer)

    responses = [client.get(CREATE_URL), client.post(edit_url(address)), client.post(delete_url(address))]

    assert [r.status_code for r in responses] == [302, 302, 302]
    assert all(r.url.startswith(reverse("accounts:login")) for r in responses)
    assert Address.objects.filter(pk=address.pk).exists()


def test_account_page_lists_only_my_addresses(customer_client, customer, other_customer):
    mine = AddressFactory(user=customer, line1="1 Mine Lane", is_default=True)
    AddressFactory(user=other_customer, line1="9 Theirs Avenue", is_default=True)

    response = customer_client.get(ACCOUNT_URL)

    assert response.status_code == 200
    assert list(response.context["addresses"]) == [mine]
    assert "1 Mine Lane" in response.content.decode()
    assert "9 Theirs Avenue" not in response.content.decode()


def test_account_page_lists_the_default_address_first(customer_client, customer):
    # given: the default is the oldest address
    aged(AddressFactory(user=customer), days=5)
    default = aged(AddressFactory(user=customer, is_default=True), days=10)
    newest = AddressFactory(user=customer)

    # when
    response = customer_client.get(ACCOUNT_URL)

    # then
    assert list(response.context["addresses"])[:2] == [default, newest]


def test_twenty_first_address_is_refused_with_a_message(customer_client, customer):
    AddressFactory.create_batch(20, user=customer)

    response = customer_client.post(CREATE_URL, address_form_data(line1="One too many"), follow=True)

    assert response.redirect_chain == [(ACCOUNT_URL, 302)]
    assert "You can save at most 20 addresses." in response.content.decode()
    assert Address.objects.filter(user=customer).count() == 20
    assert not Address.objects.filter(line1="One too many").exists()


def test_twentieth_address_is_still_accepted(customer_client, customer):
    AddressFactory.create_batch(19, user=customer)

    customer_client.post(CREATE_URL, address_form_data())

    assert Address.objects.filter(user=customer).count() == 20


def test_get_default_address_returns_the_default(customer):
    AddressFactory(user=customer)
    default = AddressFactory(user=customer, is_default=True)

    assert selectors.get_default_address(user=customer) == default


def test_get_default_address_returns_none_without_addresses(customer, other_customer):
    AddressFactory(user=other_customer, is_default=True)

    assert selectors.get_default_address(user=customer) is None


def test_account_page_queries_do_not_grow_with_the_number_of_addresses(
    customer_client, customer, django_assert_max_num_queries
):
    # given: a warmed-up page (the header's menu is cached) for a customer with one address
    AddressFactory(user=customer, is_default=True)
    customer_client.get(ACCOUNT_URL)
    with CaptureQueriesContext(connection) as with_one:
        customer_client.get(ACCOUNT_URL)

    # when: the customer has ten addresses
    AddressFactory.create_batch(9, user=customer)
    with django_assert_max_num_queries(3), CaptureQueriesContext(connection) as with_ten:
        response = customer_client.get(ACCOUNT_URL)

    # then: the user, the address list and the header's cart count, whatever the number of addresses
    assert len(response.context["addresses"]) == 10
    assert len(with_ten.captured_queries) == len(with_one.captured_queries)


def test_account_page_on_a_cold_cache_stays_within_four_queries(
    customer_client, customer, django_assert_max_num_queries
):
    AddressFactory.create_batch(10, user=customer)

    with django_assert_max_num_queries(4):  # user, addresses, the menu's category tree, the cart count
        response = customer_client.get(ACCOUNT_URL)

    assert response.status_code == 200


def test_address_fields_carry_autofill_hints(customer_client):
    """Issue 19, item 10: browsers fill the address in (HTML autocomplete tokens)."""
    html = customer_client.get(CREATE_URL).content.decode()
    for name, token in [("full_name", "name"), ("line1", "address-line1"), ("line2", "address-line2"),
                        ("city", "address-level2"), ("postal_code", "postal-code"), ("country", "country"),
                        ("phone", "tel")]:  # fmt: skip
        tag = re.search(rf'<(?:input|select)[^>]*name="{name}"[^>]*>', html).group(0)
        assert f'autocomplete="shipping {token}"' in tag, tag
    assert re.search(r'<input type="tel" name="phone"', html)
