"""The accounts API's sign-up, tokens (obtain, refresh with rotation, logout) and authentication."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts import services
from accounts.models import User
from tests.accounts.factories import DEFAULT_PASSWORD
from tests.api_helpers import error_of

SIGNUP_URL = "/api/v1/auth/signup"
TOKEN_URL = "/api/v1/auth/token"
REFRESH_URL = "/api/v1/auth/token/refresh"
LOGOUT_URL = "/api/v1/auth/logout"
ME_URL = "/api/v1/me"
STRONG_PASSWORD = "tangerine-orbit-lantern-42"

pytestmark = pytest.mark.django_db


def bearer(access: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {access}"}


def obtain(api_client, email: str, password: str = DEFAULT_PASSWORD):
    return api_client.post(TOKEN_URL, {"email": email, "password": password}, format="json")


def refresh(api_client, token: str):
    return api_client.post(REFRESH_URL, {"refresh": token}, format="json")


@pytest.fixture
def tokens(api_client, customer) -> dict:
    """The customer's token pair, obtained through the API."""
    response = obtain(api_client, "ada@example.com")
    assert response.status_code == 200
    return response.json()


# --- Sign-up -------------------------------------------------------------------------------


def test_signup_creates_the_account_and_answers_with_its_user_and_tokens(api_client):
    response = api_client.post(
        SIGNUP_URL, {"email": "New@Example.com", "password": STRONG_PASSWORD, "full_name": "Ada King"}, format="json"
    )

    assert response.status_code == 201
    user = User.objects.get()
    body = response.json()
    assert set(body) == {"user", "tokens"}
    assert body["user"] == {
        "id": user.pk,
        "email": "new@example.com",
        "full_name": "Ada King",
        "date_joined": body["user"]["date_joined"],
    }
    assert set(body["tokens"]) == {"access", "refresh"}
    assert user.check_password(STRONG_PASSWORD)


def test_signup_access_token_signs_the_app_in(api_client):
    response = api_client.post(SIGNUP_URL, {"email": "new@example.com", "password": STRONG_PASSWORD}, format="json")

    me = APIClient().get(ME_URL, **bearer(response.json()["tokens"]["access"]))

    assert me.status_code == 200
    assert me.json()["email"] == "new@example.com"


def test_signup_with_a_taken_email_in_another_case_is_409_and_creates_nothing(api_client, customer):
    response = api_client.post(SIGNUP_URL, {"email": "ADA@Example.com", "password": STRONG_PASSWORD}, format="json")

    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "email_taken"
    assert list(error["fields"]) == ["email"]
    assert list(User.objects.values_list("email", flat=True)) == ["ada@example.com"]


def test_signup_with_a_weak_password_is_400_and_creates_nothing(api_client):
    response = api_client.post(SIGNUP_URL, {"email": "new@example.com", "password": "password"}, format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert list(error["fields"]) == ["password"]
    assert not User.objects.exists()


def test_signup_without_an_email_is_400_naming_the_email(api_client):
    response = api_client.post(SIGNUP_URL, {"password": STRONG_PASSWORD}, format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert list(error["fields"]) == ["email"]
    assert not User.objects.exists()


# --- Obtaining tokens ----------------------------------------------------------------------


def test_token_obtain_with_the_right_password_answers_an_access_and_a_refresh_token(api_client, customer):
    response = obtain(api_client, "ada@example.com")

    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}
    assert APIClient().get(ME_URL, **bearer(response.json()["access"])).json()["email"] == "ada@example.com"


def test_token_obtain_with_a_wrong_password_is_401(api_client, customer):
    response = obtain(api_client, "ada@example.com", "not-my-password-at-all")

    assert response.status_code == 401
    assert error_of(response) == {
        "code": "authentication_failed",
        "message": "No active account found with the given credentials",
        "fields": {},
    }


def test_token_obtain_accepts_the_email_typed_in_another_case(api_client, customer):
    response = obtain(api_client, "ADA@Example.COM")

    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}


@pytest.mark.parametrize("email", ["ada@example.com", "deleted-{pk}@deleted.invalid"])
def test_deleted_account_cannot_obtain_tokens(api_client, customer, email):
    services.delete_account(user=customer)

    response = obtain(api_client, email.format(pk=customer.pk))

    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


def test_token_obtain_is_throttled_past_the_login_rate(api_client, customer, settings):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "login": "3/minute"}
    for _ in range(3):
        assert obtain(api_client, "ada@example.com", "not-my-password-at-all").status_code == 401

    response = obtain(api_client, "ada@example.com")

    assert response.status_code == 429
    assert error_of(response)["code"] == "throttled"
    assert int(response["Retry-After"]) > 0


# --- Refresh with rotation -----------------------------------------------------------------


def test_refresh_answers_a_new_access_and_a_new_refresh_token(api_client, tokens):
    response = refresh(api_client, tokens["refresh"])

    assert response.status_code == 200
    renewed = response.json()
    assert set(renewed) == {"access", "refresh"}
    assert renewed["access"] != tokens["access"]
    assert renewed["refresh"] != tokens["refresh"]
    assert APIClient().get(ME_URL, **bearer(renewed["access"])).status_code == 200


def test_rotated_refresh_token_refreshes_again(api_client, tokens):
    renewed = refresh(api_client, tokens["refresh"]).json()

    response = refresh(api_client, renewed["refresh"])

    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}


def test_old_refresh_token_is_refused_after_rotation(api_client, tokens):
    assert refresh(api_client, tokens["refresh"]).status_code == 200

    response = refresh(api_client, tokens["refresh"])

    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


def test_garbage_refresh_token_is_401(api_client, db):
    response = refresh(api_client, "not-a-token")

    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


# --- Logout --------------------------------------------------------------------------------


def test_logout_answers_204_and_the_refresh_token_no_longer_refreshes(api_client, tokens):
    response = api_client.post(LOGOUT_URL, {"refresh": tokens["refresh"]}, format="json")

    assert response.status_code == 204
    refused = refresh(api_client, tokens["refresh"])
    assert refused.status_code == 401
    assert error_of(refused)["code"] == "authentication_failed"


@pytest.mark.parametrize("body", [{"refresh": "garbage"}, {}])
def test_logout_without_a_valid_refresh_token_is_400_naming_refresh(api_client, db, body):
    response = api_client.post(LOGOUT_URL, body, format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert list(error["fields"]) == ["refresh"]


def test_logout_twice_with_one_refresh_token_is_400(api_client, tokens):
    assert api_client.post(LOGOUT_URL, {"refresh": tokens["refresh"]}, format="json").status_code == 204

    response = api_client.post(LOGOUT_URL, {"refresh": tokens["refresh"]}, format="json")

    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["refresh"]


# --- Authenticating requests ---------------------------------------------------------------


def test_me_without_credentials_is_401_not_authenticated(api_client, db):
    response = api_client.get(ME_URL)

    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_garbage_access_token_is_401_authentication_failed(api_client, db):
    response = api_client.get(ME_URL, **bearer("not.a.token"))

    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


def test_expired_access_token_is_401_authentication_failed(api_client, customer):
    token = AccessToken.for_user(customer)
    token.set_exp(lifetime=timedelta(seconds=-1))

    response = api_client.get(ME_URL, **bearer(str(token)))

    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


def test_refresh_token_is_not_accepted_as_an_access_token(api_client, tokens):
    response = api_client.get(ME_URL, **bearer(tokens["refresh"]))

    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


# --- The browser's session -----------------------------------------------------------------


def test_browser_session_reads_the_profile(customer):
    browser = APIClient(enforce_csrf_checks=True)
    assert browser.login(username="ada@example.com", password=DEFAULT_PASSWORD)

    response = browser.get(ME_URL)

    assert response.status_code == 200
    assert response.json()["email"] == "ada@example.com"


def test_browser_session_write_without_a_csrf_token_is_403_and_changes_nothing(customer):
    browser = APIClient(enforce_csrf_checks=True)
    assert browser.login(username="ada@example.com", password=DEFAULT_PASSWORD)

    response = browser.patch(ME_URL, {"full_name": "Mallory"}, format="json")

    assert response.status_code == 403
    assert error_of(response)["code"] == "permission_denied"
    customer.refresh_from_db()
    assert customer.full_name == "Ada Lovelace"


def test_browser_session_write_with_the_csrf_token_goes_through(customer, settings):
    browser = APIClient(enforce_csrf_checks=True)
    assert browser.login(username="ada@example.com", password=DEFAULT_PASSWORD)
    secret = "a" * 32
    browser.cookies[settings.CSRF_COOKIE_NAME] = secret

    response = browser.patch(ME_URL, {"full_name": "Ada King"}, format="json", HTTP_X_CSRFTOKEN=secret)

    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.full_name == "Ada King"
