"""The accounts API's password reset: request the e-mail, then confirm with its uid and token."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from tests.accounts.factories import DEFAULT_PASSWORD
from tests.api_helpers import error_of

RESET_URL = "/api/v1/auth/password-reset"
CONFIRM_URL = "/api/v1/auth/password-reset/confirm"
TOKEN_URL = "/api/v1/auth/token"
REFRESH_URL = "/api/v1/auth/token/refresh"
NEW_PASSWORD = "violet-harbour-compass-77"
LINK_PATTERN = re.compile(r"/accounts/password-reset/(?P<uid>[^/\s]+)/(?P<token>[^/\s]+)/")

pytestmark = pytest.mark.django_db


def request_reset(api_client, email: str, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return api_client.post(RESET_URL, {"email": email}, format="json")


def confirm(api_client, uid: str, token: str, new_password: str = NEW_PASSWORD):
    return api_client.post(CONFIRM_URL, {"uid": uid, "token": token, "new_password": new_password}, format="json")


def obtain(api_client, password: str):
    return api_client.post(TOKEN_URL, {"email": "ada@example.com", "password": password}, format="json")


def link_for(user) -> dict:
    """The uid and token of a reset link made now, as the reset e-mail makes them (a log-in voids older ones)."""
    user.refresh_from_db()
    return {"uid": urlsafe_base64_encode(force_bytes(user.pk)), "token": default_token_generator.make_token(user)}


@pytest.fixture
def reset_link(customer) -> dict:
    return link_for(customer)


def test_password_reset_answers_202_and_sends_one_email_with_a_link(
    api_client, customer, mailoutbox, django_capture_on_commit_callbacks
):
    response = request_reset(api_client, "ada@example.com", django_capture_on_commit_callbacks)

    assert response.status_code == 202
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["ada@example.com"]
    assert LINK_PATTERN.search(mailoutbox[0].body)


def test_link_from_the_email_sets_a_new_password(api_client, customer, mailoutbox, django_capture_on_commit_callbacks):
    request_reset(api_client, "ADA@example.com", django_capture_on_commit_callbacks)
    (message,) = mailoutbox

    response = confirm(api_client, **LINK_PATTERN.search(message.body).groupdict())

    assert response.status_code == 204
    assert obtain(api_client, NEW_PASSWORD).status_code == 200


def test_a_login_after_the_link_was_made_voids_it(api_client, customer, reset_link):
    assert obtain(api_client, DEFAULT_PASSWORD).status_code == 200

    response = confirm(api_client, **reset_link)

    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["token"]


def test_password_reset_for_an_unknown_email_answers_202_and_sends_nothing(
    api_client, customer, mailoutbox, django_capture_on_commit_callbacks
):
    response = request_reset(api_client, "nobody@example.com", django_capture_on_commit_callbacks)

    assert response.status_code == 202
    assert mailoutbox == []


def test_password_reset_without_an_email_is_400_naming_the_email(api_client, mailoutbox):
    response = api_client.post(RESET_URL, {}, format="json")

    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["email"]
    assert mailoutbox == []


def test_confirm_answers_204_and_the_new_password_obtains_tokens(api_client, reset_link):
    response = confirm(api_client, **reset_link)

    assert response.status_code == 204
    signed_in = obtain(api_client, NEW_PASSWORD)
    assert signed_in.status_code == 200
    assert set(signed_in.json()) == {"access", "refresh"}


def test_confirm_makes_the_old_password_stop_working(api_client, reset_link):
    assert confirm(api_client, **reset_link).status_code == 204

    response = obtain(api_client, DEFAULT_PASSWORD)

    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


def test_confirm_with_a_used_token_is_400_naming_the_token(api_client, customer, reset_link):
    assert confirm(api_client, **reset_link).status_code == 204

    response = confirm(api_client, **reset_link, new_password="another-fresh-password-31")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert list(error["fields"]) == ["token"]
    customer.refresh_from_db()
    assert customer.check_password(NEW_PASSWORD)


@pytest.mark.parametrize(
    "uid",
    [
        "not base64!",
        urlsafe_base64_encode(force_bytes("999999")),
        urlsafe_base64_encode(force_bytes("not-a-number")),
        urlsafe_base64_encode(force_bytes("9" * 40)),
    ],
    ids=["garbage", "unknown-user", "not-a-number", "huge-number"],
)
def test_confirm_with_a_bad_uid_is_400_naming_the_uid(api_client, customer, reset_link, uid):
    response = confirm(api_client, uid, reset_link["token"])

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert list(error["fields"]) == ["uid"]
    customer.refresh_from_db()
    assert customer.check_password(DEFAULT_PASSWORD)


def test_confirm_with_a_weak_new_password_is_400_and_keeps_the_old_password(api_client, customer, reset_link):
    response = confirm(api_client, **reset_link, new_password="password")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert list(error["fields"]) == ["new_password"]
    customer.refresh_from_db()
    assert customer.check_password(DEFAULT_PASSWORD)


def test_weak_new_password_leaves_the_link_usable(api_client, reset_link):
    assert confirm(api_client, **reset_link, new_password="password").status_code == 400

    assert confirm(api_client, **reset_link).status_code == 204


def test_confirm_for_a_deleted_account_is_400_naming_the_uid(api_client, customer, reset_link):
    from accounts import services

    services.delete_account(user=customer)

    response = confirm(api_client, **reset_link)

    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["uid"]


def test_reset_revokes_refresh_tokens_issued_before_it(api_client, customer):
    issued = obtain(api_client, DEFAULT_PASSWORD).json()["refresh"]

    assert confirm(api_client, **link_for(customer)).status_code == 204

    response = api_client.post(REFRESH_URL, {"refresh": issued}, format="json")
    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


def test_reset_revokes_refresh_tokens_from_a_rotation_too(api_client, customer):
    issued = obtain(api_client, DEFAULT_PASSWORD).json()["refresh"]
    rotated = api_client.post(REFRESH_URL, {"refresh": issued}, format="json").json()["refresh"]

    assert confirm(api_client, **link_for(customer)).status_code == 204

    response = api_client.post(REFRESH_URL, {"refresh": rotated}, format="json")
    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"


# --- Outstanding access tokens die with the password (issue 20, item 9) -----------------------------


def me_with(api_client, access: str):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    try:
        return api_client.get("/api/v1/me")
    finally:
        api_client.credentials()


def test_a_password_reset_revokes_outstanding_access_tokens(api_client, customer):
    # given: an app holding a fresh access token
    access = obtain(api_client, DEFAULT_PASSWORD).json()["access"]
    assert me_with(api_client, access).status_code == 200
    # when: the password is reset from the e-mail's link
    assert confirm(api_client, **link_for(customer)).status_code == 204
    # then: the old access token no longer works (before: for up to 15 minutes); a new log-in does
    refused = me_with(api_client, access)
    assert refused.status_code == 401
    assert error_of(refused)["code"] == "authentication_failed"
    assert me_with(api_client, obtain(api_client, NEW_PASSWORD).json()["access"]).status_code == 200


def test_a_password_change_in_the_back_office_revokes_outstanding_access_tokens(api_client, client, customer):
    access = obtain(api_client, DEFAULT_PASSWORD).json()["access"]
    customer.is_staff = True
    customer.save(update_fields=["is_staff"])
    client.force_login(customer)
    changed = client.post("/admin/password_change/", {"old_password": DEFAULT_PASSWORD,
                                                      "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})  # fmt: skip
    assert changed.status_code == 302
    assert me_with(api_client, access).status_code == 401


def test_deleting_the_account_revokes_outstanding_access_tokens(api_client, customer):
    access = obtain(api_client, DEFAULT_PASSWORD).json()["access"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert api_client.delete("/api/v1/me", {"password": DEFAULT_PASSWORD}, format="json").status_code == 204
    api_client.credentials()
    assert me_with(api_client, access).status_code == 401
