"""Throttles: per user, per anonymous IP, tight for log-in; 429 with Retry-After; open without Redis."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from shop.conf import redis_cache_config
from tests.accounts.factories import UserFactory
from tests.shop.test_health import redis_down  # noqa: F401  (fixture)


@pytest.fixture
def rates(settings):
    def set_rates(**rates: str) -> None:
        settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, **rates}

    return set_rates


def login(client: APIClient, password: str = "wrong"):
    return client.post("/api/v1/auth/token", {"email": "ada@example.com", "password": password}, format="json")


@pytest.mark.django_db
def test_login_attempts_past_the_rate_get_429_with_retry_after(rates):
    rates(login="3/minute")
    client = APIClient()
    assert [login(client).status_code for _ in range(3)] == [401, 401, 401]
    refused = login(client)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= 60


@pytest.mark.django_db
def test_each_signed_in_user_has_a_budget_of_their_own(rates):
    rates(user="2/minute")
    first, second = APIClient(), APIClient()
    first.force_authenticate(UserFactory())
    second.force_authenticate(UserFactory())
    assert [first.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 429]
    assert second.get("/api/v1/me").status_code == 200


@pytest.mark.django_db
def test_anonymous_clients_are_counted_per_ip(rates):
    rates(anon="2/minute")
    here, there = APIClient(REMOTE_ADDR="10.0.0.1"), APIClient(REMOTE_ADDR="10.0.0.2")
    assert [here.post("/api/v1/guest-tokens").status_code for _ in range(3)] == [201, 201, 429]
    assert there.post("/api/v1/guest-tokens").status_code == 201


@pytest.mark.django_db
def test_throttles_fail_open_when_redis_is_down(rates, redis_down):  # noqa: F811
    rates(login="1/minute")
    client = APIClient()
    assert [login(client).status_code for _ in range(3)] == [401, 401, 401]


@pytest.mark.redis
@pytest.mark.django_db
def test_throttle_counts_live_in_redis(rates, settings, redis_url):
    settings.CACHES = {"default": redis_cache_config(redis_url, key_prefix="test-throttle")}
    rates(login="2/minute")
    client = APIClient(REMOTE_ADDR="10.9.9.9")
    assert [login(client).status_code for _ in range(3)] == [401, 401, 429]


@pytest.mark.django_db
def test_the_storefront_login_form_shares_the_log_in_limit(client, rates):
    rates(login="2/minute")
    url = "/accounts/login/"
    statuses = [client.post(url, {"username": "ada@example.com", "password": "x"}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = client.post(url, {"username": "ada@example.com", "password": "x"})
    assert "Too many attempts" in refused.content.decode()
    assert int(refused["Retry-After"]) > 0
    assert client.get(url).status_code == 200  # reading the page is never throttled


@pytest.mark.django_db
def test_the_storefront_password_reset_form_is_throttled_without_sending_more_mail(
    client, rates, mailoutbox, django_capture_on_commit_callbacks
):
    rates(password_reset="1/minute")
    UserFactory(email="ada@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        accepted = client.post("/accounts/password-reset/", {"email": "ada@example.com"})
        refused = client.post("/accounts/password-reset/", {"email": "ada@example.com"})
    assert (accepted.status_code, refused.status_code) == (302, 429)
    assert len(mailoutbox) == 1


@pytest.mark.django_db
def test_a_forged_x_forwarded_for_does_not_buy_more_log_in_attempts(rates):
    rates(login="3/minute")
    client = APIClient()
    statuses = [
        client.post("/api/v1/auth/token", {"email": "a@example.com", "password": "x"}, format="json",
                    HTTP_X_FORWARDED_FOR=f"10.0.0.{n}").status_code
        for n in range(5)
    ]  # fmt: skip
    assert statuses == [401, 401, 401, 429, 429]


# --- Log-in doors: per address and per account (issue 20, item 8) ---------------------------------


def attempt(door: str, email: str, address: str) -> int:
    """One wrong-password log-in through a door, from a client at `address`; the status code."""
    if door == "api":
        client = APIClient(REMOTE_ADDR=address)
        return client.post("/api/v1/auth/token", {"email": email, "password": "wrong"}, format="json").status_code
    url = "/admin/login/" if door == "admin" else "/accounts/login/"
    return Client(REMOTE_ADDR=address).post(url, {"username": email, "password": "wrong"}).status_code


@pytest.mark.django_db
def test_twelve_wrong_admin_passwords_are_throttled_with_a_clear_message(client):
    # given: the default rate, 10 a minute; a staff account under attack
    UserFactory(email="boss@example.com", staff=True)
    statuses = [
        client.post("/admin/login/", {"username": "boss@example.com", "password": f"guess-{n}"}).status_code
        for n in range(12)
    ]
    assert statuses == [200] * 10 + [429] * 2
    refused = client.post("/admin/login/", {"username": "boss@example.com", "password": "guess"})
    assert "Too many attempts" in refused.content.decode()
    assert 0 < int(refused["Retry-After"]) <= 60
    assert client.get("/admin/login/").status_code == 200  # reading the page is never throttled


@pytest.mark.django_db
@pytest.mark.parametrize("door", ["api", "storefront", "admin"])
def test_attempts_on_one_account_from_many_addresses_share_one_budget(rates, door):
    rates(login="3/minute")
    wrong, ok = (401, 401) if door == "api" else (200, 200)
    statuses = [attempt(door, "ada@example.com", f"10.1.0.{n}") for n in range(5)]
    assert statuses == [wrong] * 3 + [429, 429]
    # another account, from yet another address, is not held back by Ada's attackers
    assert attempt(door, "grace@example.com", "10.1.0.99") == ok
