import importlib

import pytest
from django.urls import reverse

from accounts.models import User
from tests.accounts.factories import UserFactory
from tests.accounts.helpers import logged_in_user_id

SIGNUP_URL = reverse("accounts:signup")
STRONG_PASSWORD = "tangerine-orbit-lantern-42"


def signup_data(**overrides) -> dict:
    return {"full_name": "Ada Lovelace", "email": "ada@example.com", "password": STRONG_PASSWORD, **overrides}


@pytest.mark.smoke
@pytest.mark.django_db
def test_signup_creates_the_account_and_redirects_to_it(client):
    response = client.post(SIGNUP_URL, signup_data())

    assert response.status_code == 302
    assert response.url == reverse("accounts:account")
    user = User.objects.get()
    assert (user.email, user.full_name) == ("ada@example.com", "Ada Lovelace")
    assert user.check_password(STRONG_PASSWORD)


@pytest.mark.django_db
def test_signup_logs_the_new_customer_in(client):
    client.post(SIGNUP_URL, signup_data())

    response = client.get(reverse("accounts:account"))

    assert logged_in_user_id(client) == User.objects.get().pk
    assert response.status_code == 200
    assert "ada@example.com" in response.content.decode()
    assert "Welcome! Your account is ready." in response.content.decode()


@pytest.mark.django_db
def test_signup_stores_the_email_in_lower_case(client):
    client.post(SIGNUP_URL, signup_data(email="  Ada.Lovelace@Example.COM "))

    assert list(User.objects.values_list("email", flat=True)) == ["ada.lovelace@example.com"]


@pytest.mark.django_db
def test_signup_with_an_email_taken_in_another_case_is_refused_on_the_email_field(client):
    UserFactory(email="ada@example.com")

    response = client.post(SIGNUP_URL, signup_data(email="ADA@Example.com"))

    assert response.status_code == 400
    assert response.context["form"].errors == {"email": ["An account with this e-mail address already exists."]}
    assert "An account with this e-mail address already exists." in response.content.decode()
    assert User.objects.count() == 1
    assert logged_in_user_id(client) is None


@pytest.mark.django_db
@pytest.mark.parametrize("password", ["password", "12345678", "ada@example.com"])
def test_signup_with_a_weak_password_is_refused_on_the_password_field(client, password):
    response = client.post(SIGNUP_URL, signup_data(password=password))

    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["password"]
    assert 'class="field-error"' in response.content.decode()
    assert User.objects.count() == 0


@pytest.mark.django_db
def test_signup_with_a_common_password_says_it_is_too_common(client):
    response = client.post(SIGNUP_URL, signup_data(password="iloveyou123"))

    assert response.status_code == 400
    assert response.context["form"].errors == {"password": ["This password is too common."]}
    assert User.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("email", ["not-an-address", "ada@", "@example.com", ""])
def test_signup_with_a_malformed_email_is_refused(client, email):
    response = client.post(SIGNUP_URL, signup_data(email=email))

    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["email"]
    assert User.objects.count() == 0


@pytest.mark.django_db
def test_signup_page_sends_a_logged_in_customer_to_their_account(customer_client):
    response = customer_client.get(SIGNUP_URL)

    assert response.status_code == 302
    assert response.url == reverse("accounts:account")


@pytest.mark.django_db
def test_passwords_are_hashed_with_argon2_in_production(client, settings):
    settings.PASSWORD_HASHERS = importlib.import_module("shop.settings").PASSWORD_HASHERS

    client.post(SIGNUP_URL, signup_data())

    user = User.objects.get()
    assert user.password.startswith("argon2")
    assert user.check_password(STRONG_PASSWORD)
