"""One normal form for e-mail addresses (NFKC, lower case) at sign-up, log-in, reset and checkout:
a look-alike address (U+017F LONG S for "s") is the address it looks like (issue 20, item 10)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import User
from shop.email_addresses import normalize_email
from tests.accounts.factories import DEFAULT_PASSWORD, UserFactory
from tests.api_helpers import error_of

LONG_S = "\u017f"
LOOK_ALIKE = f"{LONG_S}am@Example.COM"  # renders as "sam@Example.COM"
STRONG_PASSWORD = "tangerine-orbit-lantern-42"


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        (LOOK_ALIKE, "sam@example.com"),
        ("  Ada.Lovelace+Shop@EXAMPLE.org ", "ada.lovelace+shop@example.org"),
        ("\uff33am@example.com", "sam@example.com"),  # FULLWIDTH LATIN CAPITAL S
        ("sam@example.com", "sam@example.com"),
    ],
    ids=["long-s", "case-and-spaces", "fullwidth", "already-normal"],
)
def test_the_normal_form(given, normal):
    assert normalize_email(given) == normal


@pytest.mark.django_db
def test_a_look_alike_sign_up_gets_the_address_it_looks_like(api_client):
    response = api_client.post("/api/v1/auth/signup", {"email": LOOK_ALIKE, "password": STRONG_PASSWORD}, format="json")
    assert response.status_code == 201
    assert response.json()["user"]["email"] == "sam@example.com"
    assert list(User.objects.values_list("email", flat=True)) == ["sam@example.com"]


@pytest.mark.django_db
@pytest.mark.parametrize("door", ["api", "storefront"])
def test_a_look_alike_of_a_taken_address_is_refused(api_client, client, door):
    UserFactory(email="sam@example.com")
    if door == "api":
        response = api_client.post(
            "/api/v1/auth/signup", {"email": LOOK_ALIKE, "password": STRONG_PASSWORD}, format="json"
        )
        assert response.status_code == 409
        assert error_of(response)["code"] == "email_taken"
    else:
        response = client.post(reverse("accounts:signup"), {"email": LOOK_ALIKE, "password": STRONG_PASSWORD})
        assert response.status_code == 400
        assert response.context["form"].errors == {"email": ["An account with this e-mail address already exists."]}
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_log_in_with_a_look_alike_reaches_the_one_account(api_client):
    UserFactory(email="sam@example.com")
    response = api_client.post("/api/v1/auth/token", {"email": LOOK_ALIKE, "password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 200


@pytest.mark.django_db
def test_a_reset_asked_for_a_look_alike_goes_to_the_real_mailbox(
    api_client, mailoutbox, django_capture_on_commit_callbacks
):
    UserFactory(email="sam@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/v1/auth/password-reset", {"email": LOOK_ALIKE}, format="json")
    assert response.status_code == 202
    assert [message.to for message in mailoutbox] == [["sam@example.com"]]


@pytest.mark.postgres
@pytest.mark.django_db
def test_on_postgresql_a_squatted_look_alike_cannot_take_the_real_mailbox(api_client, mailoutbox,
                                                                         django_capture_on_commit_callbacks):  # fmt: skip
    # given: the look-alike signs up first (before the fix it was stored as typed, and PostgreSQL's
    # UPPER() folded it onto "sam@example.com" for every later iexact look-up)
    api_client.post("/api/v1/auth/signup", {"email": LOOK_ALIKE, "password": STRONG_PASSWORD}, format="json")
    # when: the owner of sam@example.com asks for a reset
    with django_capture_on_commit_callbacks(execute=True):
        api_client.post("/api/v1/auth/password-reset", {"email": "sam@example.com"}, format="json")
    # then: the one account is sam@example.com, and the link goes to that mailbox, not to a look-alike
    assert list(User.objects.values_list("email", flat=True)) == ["sam@example.com"]
    assert [message.to for message in mailoutbox] == [["sam@example.com"]]
