"""Concurrent address POSTs through the API on real PostgreSQL: one Idempotency-Key, one address."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import Address
from shop.models import IdempotencyKey
from tests.accounts.factories import UserFactory
from tests.accounts.helpers import API_ADDRESS
from tests.concurrency import run_concurrently as run_threads

THREADS = 8
LIST_URL = "/api/v1/addresses"
ADDRESS = API_ADDRESS
KEY = "0b6c4f9e-2d1a-4e57-8f3b-93a1c6d2e7f4"

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_concurrently(target: Callable[[int], object], count: int = THREADS) -> list:
    return run_threads(target, count)


@pytest.fixture
def apps() -> list[APIClient]:
    """THREADS apps signed in as one customer, each with its own client and access token."""
    user = UserFactory()
    clients = []
    for _ in range(THREADS):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
        clients.append(client)
    return clients


def test_concurrent_posts_with_one_key_create_one_address(apps):
    responses = run_concurrently(
        lambda index: apps[index].post(LIST_URL, ADDRESS, format="json", headers={"Idempotency-Key": KEY})
    )

    statuses = sorted(getattr(response, "status_code", response) for response in responses)
    assert statuses == [200] * (THREADS - 1) + [201], responses
    assert len({response.json()["id"] for response in responses}) == 1
    assert list(Address.objects.values_list("pk", flat=True)) == [responses[0].json()["id"]]
    assert IdempotencyKey.objects.count() == 1


def test_concurrent_posts_without_a_key_create_one_address_each_and_one_default(apps):
    responses = run_concurrently(lambda index: apps[index].post(LIST_URL, ADDRESS, format="json"))

    assert [getattr(response, "status_code", response) for response in responses] == [201] * THREADS, responses
    assert Address.objects.count() == THREADS
    assert Address.objects.filter(is_default=True).count() == 1
