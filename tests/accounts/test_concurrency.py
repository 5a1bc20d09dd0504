from collections.abc import Callable

import pytest

from accounts import selectors, services
from accounts.exceptions import EmailAlreadyRegistered
from accounts.models import Address, User
from shop.idempotency import Created
from tests.accounts.factories import UserFactory, address_data
from tests.concurrency import run_concurrently as run_threads

THREADS = 8

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_concurrently(target: Callable[[int], object], count: int = THREADS) -> list:
    return run_threads(target, count)


def test_concurrent_signups_with_one_email_in_different_cases_create_one_account():
    emails = ["ada@example.com", "ADA@example.com", "Ada@Example.com", "ada@EXAMPLE.COM"] * 2

    results = run_concurrently(
        lambda index: services.register_user(email=emails[index], password="tangerine-orbit-lantern-42")
    )

    created = [result for result in results if isinstance(result, User)]
    refused = [result for result in results if isinstance(result, EmailAlreadyRegistered)]
    assert (len(created), len(refused)) == (1, THREADS - 1), results
    assert list(User.objects.values_list("email", flat=True)) == ["ada@example.com"]


def test_concurrent_default_addresses_leave_exactly_one_default():
    user = UserFactory()

    results = run_concurrently(
        lambda index: services.add_address(
            user=User.objects.get(pk=user.pk), data=address_data(line1=f"{index} Race Street"), make_default=True
        )
    )

    assert all(isinstance(result, Created) and result.created for result in results), results
    assert Address.objects.filter(user=user).count() == THREADS
    assert Address.objects.filter(user=user, is_default=True).count() == 1
    assert selectors.get_default_address(user=user) is not None
