import pytest
from django.urls import reverse

from accounts import services
from tests.accounts.factories import DEFAULT_PASSWORD
from tests.accounts.helpers import logged_in_user_id

LOGIN_URL = reverse("accounts:login")
ACCOUNT_URL = reverse("accounts:account")
WRONG_LOGIN_MESSAGE = "That e-mail address and password do not match an account"


@pytest.mark.smoke
def test_login_with_the_right_password_opens_the_account(client, customer):
    response = client.post(LOGIN_URL, {"username": "ada@example.com", "password": DEFAULT_PASSWORD})

    assert response.status_code == 302
    assert response.url == ACCOUNT_URL
    assert logged_in_user_id(client) == customer.pk


def test_login_accepts_the_email_typed_in_another_case(client, customer):
    response = client.post(LOGIN_URL, {"username": "ADA@Example.Com", "password": DEFAULT_PASSWORD})

    assert response.status_code == 302
    assert logged_in_user_id(client) == customer.pk


@pytest.mark.smoke
def test_login_with_a_wrong_password_shows_an_error_and_stays_anonymous(client, customer):
    response = client.post(LOGIN_URL, {"username": "ada@example.com", "password": "not my password"})

    assert response.status_code == 200
    assert WRONG_LOGIN_MESSAGE in response.content.decode()
    assert logged_in_user_id(client) is None


def test_login_with_an_unknown_email_shows_the_same_error(client, db):
    response = client.post(LOGIN_URL, {"username": "nobody@example.com", "password": DEFAULT_PASSWORD})

    assert response.status_code == 200
    assert WRONG_LOGIN_MESSAGE in response.content.decode()
    assert logged_in_user_id(client) is None


def test_a_deleted_account_cannot_log_in(client, customer):
    services.delete_account(user=customer)

    response = client.post(LOGIN_URL, {"username": "ada@example.com", "password": DEFAULT_PASSWORD})

    assert response.status_code == 200
    assert WRONG_LOGIN_MESSAGE in response.content.decode()
    assert logged_in_user_id(client) is None


def test_logout_by_post_logs_the_customer_out(customer_client):
    response = customer_client.post(reverse("accounts:logout"))

    assert response.status_code == 302
    assert response.url == reverse("catalog:home")
    assert logged_in_user_id(customer_client) is None


def test_logout_by_get_is_refused_and_keeps_the_customer_logged_in(customer_client, customer):
    response = customer_client.get(reverse("accounts:logout"))

    assert response.status_code == 405
    assert logged_in_user_id(customer_client) == customer.pk


def test_account_page_sends_anonymous_visitors_to_login(client, db):
    response = client.get(ACCOUNT_URL)

    assert response.status_code == 302
    assert response.url == f"{LOGIN_URL}?next={ACCOUNT_URL}"
