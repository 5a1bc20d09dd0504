"""The accounts API's profile (/api/v1/me): read, rename, and delete (anonymise) the account."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import Address, User
from tests.accounts.factories import DEFAULT_PASSWORD, AddressFactory
from tests.api_helpers import error_of

ME_URL = "/api/v1/me"
TOKEN_URL = "/api/v1/auth/token"
REFRESH_URL = "/api/v1/auth/token/refresh"
SIGNUP_URL = "/api/v1/auth/signup"

pytestmark = pytest.mark.django_db


@pytest.fixture
def tokens(customer) -> dict:
    """The customer's token pair, obtained through the API."""
    response = APIClient().post(TOKEN_URL, {"email": "ada@example.com", "password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def app(tokens) -> APIClient:
    """The customer's app, sending the access token from `tokens`."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    return client


def test_me_shows_the_signed_in_customer(customer_api, customer):
    response = customer_api.get(ME_URL)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "email", "full_name", "date_joined"}
    assert (body["id"], body["email"], body["full_name"]) == (customer.pk, "ada@example.com", "Ada Lovelace")


def test_anonymous_me_is_401(api_client, db):
    response = api_client.get(ME_URL)

    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"


def test_patch_full_name_renames_the_customer(customer_api, customer):
    response = customer_api.patch(ME_URL, {"full_name": "  Ada King  "}, format="json")

    assert response.status_code == 200
    assert response.json()["full_name"] == "Ada King"
    customer.refresh_from_db()
    assert customer.full_name == "Ada King"


def test_patch_full_name_over_150_characters_is_400_and_changes_nothing(customer_api, customer):
    response = customer_api.patch(ME_URL, {"full_name": "A" * 151}, format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert list(error["fields"]) == ["full_name"]
    customer.refresh_from_db()
    assert customer.full_name == "Ada Lovelace"


def test_patch_cannot_change_the_email(customer_api, customer):
    response = customer_api.patch(ME_URL, {"full_name": "Ada", "email": "mallory@example.com"}, format="json")

    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.email == "ada@example.com"


def test_delete_with_a_wrong_password_is_400_and_changes_nothing(customer_api, customer):
    AddressFactory(user=customer)

    response = customer_api.delete(ME_URL, {"password": "not-my-password-at-all"}, format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert list(error["fields"]) == ["password"]
    customer.refresh_from_db()
    assert (customer.email, customer.full_name, customer.is_active, customer.deleted_at) == (
        "ada@example.com",
        "Ada Lovelace",
        True,
        None,
    )
    assert customer.check_password(DEFAULT_PASSWORD)
    assert Address.objects.filter(user=customer).count() == 1


def test_delete_without_a_password_is_400_and_changes_nothing(customer_api, customer):
    response = customer_api.delete(ME_URL)

    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["password"]
    customer.refresh_from_db()
    assert customer.deleted_at is None


def test_delete_with_the_password_anonymises_the_account(customer_api, customer):
    AddressFactory(user=customer)

    response = customer_api.delete(ME_URL, {"password": DEFAULT_PASSWORD}, format="json")

    assert response.status_code == 204
    customer.refresh_from_db()
    assert (customer.email, customer.full_name, customer.is_active) == (
        f"deleted-{customer.pk}@deleted.invalid",
        "",
        False,
    )
    assert customer.deleted_at is not None
    assert not customer.has_usable_password()
    assert not Address.objects.filter(user=customer).exists()
    assert User.objects.count() == 1


def test_deleted_account_refresh_token_no_longer_refreshes(app, tokens):
    assert app.delete(ME_URL, {"password": DEFAULT_PASSWORD}, format="json").status_code == 204

    response = APIClient().post(REFRESH_URL, {"refresh": tokens["refresh"]}, format="json")

    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


def test_deleted_account_access_token_no_longer_authenticates(app):
    assert app.delete(ME_URL, {"password": DEFAULT_PASSWORD}, format="json").status_code == 204

    response = app.get(ME_URL)

    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


def test_deleted_accounts_email_is_free_for_a_new_signup(customer_api, api_client):
    assert customer_api.delete(ME_URL, {"password": DEFAULT_PASSWORD}, format="json").status_code == 204

    response = api_client.post(
        SIGNUP_URL, {"email": "ada@example.com", "password": "tangerine-orbit-lantern-42"}, format="json"
    )

    assert response.status_code == 201
    assert User.objects.filter(email="ada@example.com").count() == 1
