"""E-mail verification links (issue 19, item 5): a signed link e-mailed to the address proves it,
once; a forged, altered, expired or used link verifies nothing."""

from __future__ import annotations

import re
import time

import pytest
from django.core import mail, signing
from django.urls import reverse
from rest_framework.test import APIClient

from accounts import services, verification
from accounts.exceptions import InvalidVerificationLink, VerificationLinkExpired
from accounts.signals import email_verified
from tests.accounts.factories import UserFactory
from tests.api_helpers import error_of


@pytest.fixture
def verified_signals():
    received = []

    def on_verified(sender, *, user, email, **kwargs):
        received.append((user.pk, email))

    email_verified.connect(on_verified)
    yield received
    email_verified.disconnect(on_verified)


def emailed_link(to: str) -> str:
    [message] = [m for m in mail.outbox if m.to == [to] and "confirm your e-mail address" in m.subject]
    return re.search(r"https?://\S+", message.body).group(0)


def token_of(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[1]


@pytest.mark.django_db
def test_the_link_goes_to_the_accounts_address_and_verifies_it(customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.request_email_verification(user=customer)
    link = emailed_link("ada@example.com")
    assert link.startswith("http://") and "/accounts/verify-email/" in link

    with django_capture_on_commit_callbacks(execute=True):
        services.verify_email(token=token_of(link))

    customer.refresh_from_db()
    assert customer.email_verified_at is not None


@pytest.mark.django_db
def test_a_link_verifies_once(customer, verified_signals, django_capture_on_commit_callbacks):
    token = verification.make_token(customer)
    with django_capture_on_commit_callbacks(execute=True):
        services.verify_email(token=token)
    first = type(customer).objects.get(pk=customer.pk).email_verified_at

    with pytest.raises(InvalidVerificationLink) as refused:
        services.verify_email(token=token)

    assert refused.value.fields == {"token": ["This link was used already. Ask for a new one if you need it."]}
    assert type(customer).objects.get(pk=customer.pk).email_verified_at == first
    assert verified_signals == [(customer.pk, "ada@example.com")]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"), id="altered-signature"),
        pytest.param(lambda token: "not-a-token", id="garbage"),
        pytest.param(
            lambda token: signing.dumps({"u": 1, "e": "ada@example.com", "s": ""}, salt="another.salt"), id="other-salt"
        ),
        pytest.param(
            lambda token: signing.dumps(
                {"u": 1, "e": "ada@example.com", "s": ""}, salt=verification.SALT, key="x" * 50
            ),
            id="other-key",
        ),
    ],
)
def test_a_forged_link_is_refused_and_changes_nothing(customer, forge, verified_signals):
    with pytest.raises(InvalidVerificationLink):
        services.verify_email(token=forge(verification.make_token(customer)))
    customer.refresh_from_db()
    assert customer.email_verified_at is None
    assert verified_signals == []


@pytest.mark.django_db
def test_an_expired_link_is_refused(customer, settings, monkeypatch, verified_signals):
    token = verification.make_token(customer)
    later = time.time() + settings.ACCOUNTS_EMAIL_VERIFICATION_MAX_AGE + 60
    monkeypatch.setattr(signing.time, "time", lambda: later)

    with pytest.raises(VerificationLinkExpired):
        services.verify_email(token=token)
    customer.refresh_from_db()
    assert customer.email_verified_at is None


@pytest.mark.django_db
def test_a_link_for_an_address_the_account_no_longer_has_is_refused(customer, verified_signals):
    token = verification.make_token(customer)
    type(customer).objects.filter(pk=customer.pk).update(email="ada.new@example.com")

    with pytest.raises(InvalidVerificationLink):
        services.verify_email(token=token)
    assert verified_signals == []


@pytest.mark.django_db
def test_another_users_link_verifies_only_that_user(
    client, customer, verified_signals, django_capture_on_commit_callbacks
):
    # given: Bob is signed in and opens Ada's link (forwarded, or on a shared computer)
    bob = UserFactory(email="bob@example.com")
    client.force_login(bob)
    url = reverse("accounts:verify_email", args=[verification.make_token(customer)])

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url)

    assert response.status_code == 302
    bob.refresh_from_db()
    assert bob.email_verified_at is None
    assert verified_signals == [(customer.pk, "ada@example.com")]


@pytest.mark.django_db
def test_the_page_asks_before_verifying_and_a_used_link_is_a_400_page(
    client, customer, django_capture_on_commit_callbacks
):
    url = reverse("accounts:verify_email", args=[verification.make_token(customer)])

    page = client.get(url)  # a mail scanner prefetching the link uses nothing
    assert page.status_code == 200 and "Confirm ada@example.com" in page.content.decode()
    customer.refresh_from_db()
    assert customer.email_verified_at is None

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url).status_code == 302
    again = client.post(url)
    assert again.status_code == 400
    assert "This link was used already" in again.content.decode()


@pytest.mark.django_db
def test_a_forged_link_is_a_400_page(client, customer):
    token = verification.make_token(customer)
    response = client.get(reverse("accounts:verify_email", args=[token[:-3] + "xyz"]))
    assert response.status_code == 400
    assert "This link is not valid" in response.content.decode()


@pytest.mark.django_db
def test_a_signed_in_customer_asks_for_a_new_link(client, customer, django_capture_on_commit_callbacks):
    client.force_login(customer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:verify_email_request"), {"next": reverse("orders:list")})
    assert response.status_code == 302 and response.url == reverse("orders:list")
    assert "/accounts/verify-email/" in emailed_link("ada@example.com")


@pytest.mark.django_db
def test_asking_for_a_link_needs_an_account(client):
    response = client.post(reverse("accounts:verify_email_request"))
    assert response.status_code == 302 and response.url.startswith(reverse("accounts:login"))
    assert mail.outbox == []


# --- The API ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_api_asks_for_a_link_and_confirms_it_once(customer, django_capture_on_commit_callbacks):
    api = APIClient()
    api.force_authenticate(customer)
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post("/api/v1/auth/verify-email").status_code == 202
    token = token_of(emailed_link("ada@example.com"))

    anonymous = APIClient()
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = anonymous.post("/api/v1/auth/verify-email/confirm", {"token": token}, format="json")
    assert confirmed.status_code == 200 and confirmed.json()["email"] == "ada@example.com"
    assert confirmed.json()["email_verified_at"]

    again = anonymous.post("/api/v1/auth/verify-email/confirm", {"token": token}, format="json")
    assert again.status_code == 400
    assert error_of(again)["code"] == "invalid_verification_link" and "token" in error_of(again)["fields"]
    forged = anonymous.post("/api/v1/auth/verify-email/confirm", {"token": token[:-2] + "zz"}, format="json")
    assert forged.status_code == 400 and "token" in error_of(forged)["fields"]
    assert anonymous.post("/api/v1/auth/verify-email/confirm", {}, format="json").status_code == 400


@pytest.mark.django_db
def test_the_api_link_request_needs_an_account():
    assert APIClient().post("/api/v1/auth/verify-email").status_code == 401
    assert mail.outbox == []
