"""The guest token identifies an anonymous shopper until sign-in, on every sign-in door."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.signals import customer_signed_in
from shop.guest import GUEST_COOKIE, guest_token_from_request, is_valid_guest_token
from tests.accounts.factories import DEFAULT_PASSWORD, UserFactory


@pytest.fixture
def sign_ins():
    received = []

    def on_signed_in(sender, *, user, guest_token, **kwargs):
        received.append((user.email, guest_token))

    customer_signed_in.connect(on_signed_in)
    yield received
    customer_signed_in.disconnect(on_signed_in)


@pytest.fixture
def guest_token() -> str:
    response = APIClient().post("/api/v1/guest-tokens")
    assert response.status_code == 201
    return response.json()["guest_token"]


@pytest.mark.django_db
def test_a_new_guest_token_is_long_random_and_well_formed():
    tokens = {APIClient().post("/api/v1/guest-tokens").json()["guest_token"] for _ in range(5)}
    assert len(tokens) == 5
    assert all(is_valid_guest_token(t) and len(t) >= 43 for t in tokens)


@pytest.mark.django_db
def test_an_app_signing_in_with_its_guest_token_hands_it_to_the_account(
    sign_ins, guest_token, django_capture_on_commit_callbacks
):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        response = APIClient().post(
            "/api/v1/auth/token",
            {"email": user.email, "password": DEFAULT_PASSWORD},
            format="json",
            HTTP_X_GUEST_TOKEN=guest_token,
        )
    assert response.status_code == 200
    assert sign_ins == [(user.email, guest_token)]


@pytest.mark.django_db
def test_a_browser_logging_in_with_its_guest_cookie_hands_it_to_the_account(
    client, sign_ins, guest_token, django_capture_on_commit_callbacks
):
    user = UserFactory()
    client.cookies[GUEST_COOKIE] = guest_token
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("accounts:login"), {"username": user.email, "password": DEFAULT_PASSWORD})
    assert sign_ins == [(user.email, guest_token)]


@pytest.mark.django_db
def test_signing_up_through_the_api_hands_over_the_guest_token(
    sign_ins, guest_token, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = APIClient().post(
            "/api/v1/auth/signup",
            {"email": "new@example.com", "password": "a long enough pass phrase"},
            format="json",
            HTTP_X_GUEST_TOKEN=guest_token,
        )
    assert response.status_code == 201
    assert sign_ins == [("new@example.com", guest_token)]


@pytest.mark.django_db
def test_a_failed_log_in_hands_nothing_over(sign_ins, guest_token, django_capture_on_commit_callbacks):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        APIClient().post("/api/v1/auth/token", {"email": user.email, "password": "nope"}, format="json",
                         HTTP_X_GUEST_TOKEN=guest_token)  # fmt: skip
    assert sign_ins == []


@pytest.mark.parametrize(
    "token", ["short", "x" * 200, "has spaces in it but is long enough to pass", "../../etc/passwd" * 3]
)
def test_malformed_guest_tokens_are_ignored(rf, token):
    assert guest_token_from_request(rf.get("/", HTTP_X_GUEST_TOKEN=token)) is None
