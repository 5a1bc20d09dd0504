import re

import pytest
from django.urls import reverse

from tests.accounts.factories import DEFAULT_PASSWORD

RESET_URL = reverse("accounts:password_reset")
NEW_PASSWORD = "violet-harbour-compass-77"
LINK_PATTERN = re.compile(r"https?://testserver(/accounts/password-reset/[^/\s]+/[^/\s]+/)")


def request_reset_link(client, email, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(RESET_URL, {"email": email})


@pytest.fixture
def reset_link(client, customer, mailoutbox, django_capture_on_commit_callbacks) -> str:
    """The path of the link the customer received by e-mail."""
    request_reset_link(client, "ada@example.com", django_capture_on_commit_callbacks)
    (message,) = mailoutbox
    return LINK_PATTERN.search(message.body).group(1)


def set_new_password(client, reset_link):
    form_url = client.get(reset_link).url
    return client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})


def test_password_reset_sends_one_email_with_a_link(client, customer, mailoutbox, django_capture_on_commit_callbacks):
    response = request_reset_link(client, "ada@example.com", django_capture_on_commit_callbacks)

    assert response.status_code == 302
    assert response.url == reverse("accounts:password_reset_done")
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["ada@example.com"]
    assert mailoutbox[0].subject == "Reset your testserver password"
    assert LINK_PATTERN.search(mailoutbox[0].body)


def test_password_reset_email_typed_in_another_case_still_arrives(
    client, customer, mailoutbox, django_capture_on_commit_callbacks
):
    request_reset_link(client, "ADA@example.com", django_capture_on_commit_callbacks)

    assert len(mailoutbox) == 1
    assert LINK_PATTERN.search(mailoutbox[0].body)


def test_password_reset_for_an_unknown_email_looks_the_same_and_sends_nothing(
    client, customer, mailoutbox, django_capture_on_commit_callbacks
):
    response = request_reset_link(client, "nobody@example.com", django_capture_on_commit_callbacks)

    assert response.status_code == 302
    assert response.url == reverse("accounts:password_reset_done")
    assert mailoutbox == []


def test_reset_link_leads_to_the_set_password_form(client, reset_link):
    response = client.get(reset_link)

    assert response.status_code == 302
    assert response.url.endswith("/set-password/")
    form_page = client.get(response.url)
    assert form_page.status_code == 200
    assert "Choose a new password" in form_page.content.decode()


def test_reset_link_sets_the_new_password(client, customer, reset_link):
    response = set_new_password(client, reset_link)

    assert response.status_code == 302
    assert response.url == reverse("accounts:password_reset_complete")
    assert client.login(username="ada@example.com", password=NEW_PASSWORD)


def test_after_a_reset_the_old_password_no_longer_logs_in(client, customer, reset_link):
    set_new_password(client, reset_link)

    assert not client.login(username="ada@example.com", password=DEFAULT_PASSWORD)


def test_reset_link_used_twice_shows_it_has_expired(client, customer, reset_link):
    # given: the link was used once to set a new password
    set_new_password(client, reset_link)
    client.logout()

    # when
    response = client.get(reset_link, follow=True)

    # then
    assert response.status_code == 200
    assert "This link has expired" in response.content.decode()
    customer.refresh_from_db()
    assert customer.check_password(NEW_PASSWORD)


def test_reset_with_mismatched_passwords_changes_nothing(client, customer, reset_link):
    form_url = client.get(reset_link).url

    response = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD + "x"})

    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["new_password2"]
    customer.refresh_from_db()
    assert customer.check_password(DEFAULT_PASSWORD)
