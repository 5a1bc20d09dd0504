"""The accounts API's saved addresses: list, create (idempotent with a key), read, change, delete."""

from __future__ import annotations

import pytest

from accounts.models import Address
from shop.models import IdempotencyKey
from tests.accounts.factories import AddressFactory
from tests.accounts.helpers import API_ADDRESS
from tests.api_helpers import error_of

LIST_URL = "/api/v1/addresses"
ADDRESS = API_ADDRESS
KEY = "6f1c1c3e-8a47-4b8e-9d55-0e2f3c9b7a10"

pytestmark = pytest.mark.django_db


def detail_url(address_id: int) -> str:
    return f"/api/v1/addresses/{address_id}"


def as_json(address: Address) -> dict:
    fields = ["id", "full_name", "line1", "line2", "city", "postal_code", "country", "phone", "is_default"]
    return {field: getattr(address, field) for field in fields}


def post_address(client, body: dict | None = None, key: str | None = None):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(LIST_URL, ADDRESS if body is None else body, format="json", headers=headers)


@pytest.fixture
def own_address(customer) -> Address:
    return AddressFactory(user=customer, is_default=True, city="Paris", country="FR")


@pytest.fixture
def others_address(other_customer) -> Address:
    return AddressFactory(user=other_customer, is_default=True, city="Rome", country="IT")


# --- Create --------------------------------------------------------------------------------


def test_create_answers_201_with_the_address_and_the_first_one_is_the_default(customer_api, customer):
    response = post_address(customer_api)

    assert response.status_code == 201
    address = Address.objects.get(user=customer)
    assert response.json() == {**ADDRESS, "id": address.pk, "line2": "", "phone": "", "is_default": True}
    assert address.is_default


def test_a_second_address_is_not_the_default(customer_api, customer, own_address):
    response = post_address(customer_api)

    assert response.status_code == 201
    assert response.json()["is_default"] is False
    assert list(Address.objects.filter(user=customer, is_default=True)) == [own_address]


def test_create_with_is_default_moves_the_default(customer_api, customer, own_address):
    response = post_address(customer_api, {**ADDRESS, "is_default": True})

    assert response.status_code == 201
    assert list(Address.objects.filter(user=customer, is_default=True).values_list("pk", flat=True)) == [
        response.json()["id"]
    ]


def test_create_with_an_unknown_country_is_400_and_saves_nothing(customer_api, customer):
    response = post_address(customer_api, {**ADDRESS, "country": "XX"})

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert list(error["fields"]) == ["country"]
    assert not Address.objects.exists()


def test_create_past_the_address_limit_is_refused_and_saves_nothing(customer_api, customer):
    AddressFactory.create_batch(20, user=customer)

    response = post_address(customer_api)

    assert response.status_code == 400
    assert error_of(response)["code"] == "address_limit"
    assert Address.objects.filter(user=customer).count() == 20


def test_anonymous_create_is_401_and_saves_nothing(api_client, db):
    response = post_address(api_client)

    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"
    assert not Address.objects.exists()


def test_a_plain_text_body_is_415_and_saves_nothing(customer_api, customer):
    response = customer_api.post(LIST_URL, "city=London", content_type="text/plain")

    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"
    assert not Address.objects.exists()


def test_a_malformed_json_body_is_400_malformed_request_and_saves_nothing(customer_api, customer):
    response = customer_api.post(LIST_URL, '{"city": "London",', content_type="application/json")

    assert response.status_code == 400
    assert error_of(response)["code"] == "malformed_request"
    assert not Address.objects.exists()


# --- Idempotency ---------------------------------------------------------------------------


def test_the_same_post_with_the_same_key_replays_the_first_address(customer_api, customer):
    first = post_address(customer_api, key=KEY)

    second = post_address(customer_api, key=KEY)

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == first.json()
    assert Address.objects.filter(user=customer).count() == 1


def test_the_same_body_with_its_keys_in_another_order_is_a_replay(customer_api, customer):
    assert post_address(customer_api, key=KEY).status_code == 201

    response = post_address(customer_api, dict(reversed(ADDRESS.items())), key=KEY)

    assert response.status_code == 200
    assert Address.objects.filter(user=customer).count() == 1


def test_the_same_key_with_another_body_is_422_and_saves_nothing_more(customer_api, customer):
    assert post_address(customer_api, key=KEY).status_code == 201

    response = post_address(customer_api, {**ADDRESS, "city": "Berlin", "country": "DE"}, key=KEY)

    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "idempotency_key_reused"
    assert list(error["fields"]) == ["Idempotency-Key"]
    assert list(Address.objects.filter(user=customer).values_list("city", flat=True)) == ["London"]


@pytest.mark.parametrize("key", ["has a space", "k" * 300, ""], ids=["space", "300-chars", "empty"])
def test_a_malformed_key_is_400_naming_the_header_and_saves_nothing(customer_api, customer, key):
    response = post_address(customer_api, key=key)

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert list(error["fields"]) == ["Idempotency-Key"]
    assert not Address.objects.exists()
    assert not IdempotencyKey.objects.exists()


def test_two_customers_may_use_the_same_key(customer_api, other_customer_api, customer, other_customer):
    mine = post_address(customer_api, key=KEY)

    theirs = post_address(other_customer_api, key=KEY)

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]
    assert Address.objects.filter(user=customer).count() == 1
    assert Address.objects.filter(user=other_customer).count() == 1


def test_a_refused_post_does_not_use_up_its_key(customer_api, customer):
    assert post_address(customer_api, {**ADDRESS, "country": "XX"}, key=KEY).status_code == 400

    response = post_address(customer_api, key=KEY)

    assert response.status_code == 201
    assert Address.objects.filter(user=customer).count() == 1


def test_without_a_key_the_same_post_twice_saves_two_addresses(customer_api, customer):
    assert post_address(customer_api).status_code == 201

    assert post_address(customer_api).status_code == 201
    assert Address.objects.filter(user=customer).count() == 2


# --- List ----------------------------------------------------------------------------------


def test_list_is_paginated_default_first_and_only_mine(customer_api, customer, own_address, others_address):
    newer = AddressFactory(user=customer, city="Vienna", country="AT")

    response = customer_api.get(LIST_URL)

    assert response.status_code == 200
    assert response.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [as_json(own_address), as_json(newer)],
    }


def test_list_pages_with_page_size(customer_api, customer, own_address):
    AddressFactory.create_batch(2, user=customer)

    response = customer_api.get(LIST_URL, {"page_size": 2})

    body = response.json()
    assert (body["count"], len(body["results"]), body["previous"]) == (3, 2, None)
    assert body["next"].endswith("?page=2&page_size=2")
    assert len(customer_api.get(LIST_URL, {"page_size": 2, "page": 2}).json()["results"]) == 1


def test_list_queries_do_not_grow_with_the_addresses(customer_api, customer, django_assert_max_num_queries):
    AddressFactory.create_batch(10, user=customer)

    with django_assert_max_num_queries(3):
        response = customer_api.get(LIST_URL)

    assert len(response.json()["results"]) == 10


def test_anonymous_list_is_401(api_client, db):
    response = api_client.get(LIST_URL)

    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


# --- One address ---------------------------------------------------------------------------


def test_get_one_shows_the_address(customer_api, own_address):
    response = customer_api.get(detail_url(own_address.pk))

    assert response.status_code == 200
    assert response.json() == as_json(own_address)


def test_patch_city_changes_only_the_city(customer_api, own_address):
    before = as_json(own_address)

    response = customer_api.patch(detail_url(own_address.pk), {"city": "Berlin"}, format="json")

    assert response.status_code == 200
    own_address.refresh_from_db()
    assert as_json(own_address) == {**before, "city": "Berlin"}
    assert response.json() == as_json(own_address)


def test_patch_is_default_on_the_second_moves_the_default(customer_api, customer, own_address):
    second = AddressFactory(user=customer)

    response = customer_api.patch(detail_url(second.pk), {"is_default": True}, format="json")

    assert response.status_code == 200
    assert response.json()["is_default"] is True
    assert list(Address.objects.filter(user=customer, is_default=True)) == [second]


def test_patch_with_an_unknown_country_is_400_and_changes_nothing(customer_api, own_address):
    before = as_json(own_address)

    response = customer_api.patch(detail_url(own_address.pk), {"country": "XX"}, format="json")

    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["country"]
    own_address.refresh_from_db()
    assert as_json(own_address) == before


def test_delete_answers_204_and_the_address_is_gone(customer_api, customer, own_address):
    response = customer_api.delete(detail_url(own_address.pk))

    assert response.status_code == 204
    assert not Address.objects.filter(pk=own_address.pk).exists()
    assert customer_api.get(detail_url(own_address.pk)).status_code == 404


def test_deleting_the_default_makes_the_newest_remaining_the_default(customer_api, customer, own_address):
    AddressFactory(user=customer)
    newest = AddressFactory(user=customer)

    assert customer_api.delete(detail_url(own_address.pk)).status_code == 204

    assert list(Address.objects.filter(user=customer, is_default=True)) == [newest]


# --- Another customer's address ------------------------------------------------------------


def test_get_of_another_customers_address_is_404(customer_api, others_address):
    response = customer_api.get(detail_url(others_address.pk))

    assert response.status_code == 404
    assert error_of(response) == {"code": "address_not_found", "message": "This address does not exist.", "fields": {}}


def test_patch_of_another_customers_address_is_404_and_changes_nothing(customer_api, others_address):
    before = as_json(others_address)

    response = customer_api.patch(detail_url(others_address.pk), {"city": "Berlin", "is_default": True}, format="json")

    assert response.status_code == 404
    assert error_of(response)["code"] == "address_not_found"
    others_address.refresh_from_db()
    assert as_json(others_address) == before


def test_delete_of_another_customers_address_is_404_and_keeps_it(customer_api, others_address):
    response = customer_api.delete(detail_url(others_address.pk))

    assert response.status_code == 404
    assert error_of(response)["code"] == "address_not_found"
    assert Address.objects.filter(pk=others_address.pk).exists()
