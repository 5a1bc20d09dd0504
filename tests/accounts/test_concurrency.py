import threading
from collections.abc import Callable

import pytest
from django.db import connection

from accounts import selectors, services
from accounts.exceptions import EmailAlreadyRegistered
from accounts.models import Address, User
from shop.idempotency import Created
from tests.accounts.factories import UserFactory, address_data

THREADS = 8

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_concurrently(target: Callable[[int], object], count: int = THREADS) -> list:
    """Run target(0..count-1) in threads released together; return each result or exception."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = target(index)
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a thread is still running"
    return results


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
