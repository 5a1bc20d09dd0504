"""The idempotency helper: a replay returns the first result; another body with the key is a 422."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Address
from shop import idempotency
from shop.idempotency import IdempotencyKeyReused, IdempotencyRequest
from shop.models import IdempotencyKey
from shop.tasks import purge_idempotency_keys_task
from tests.accounts.factories import AddressFactory


def request(key: str = "k-1", body: str = "a", scope: str = "user:1") -> IdempotencyRequest:
    return IdempotencyRequest(
        scope=scope, key=key, fingerprint=idempotency.fingerprint(method="POST", path="/x", body=body)
    )


@pytest.mark.django_db
def test_first_claim_is_new_and_a_replay_returns_what_it_created():
    address = AddressFactory()
    with transaction.atomic():
        assert idempotency.claim(request()) is None
        idempotency.complete(request(), address)
    with transaction.atomic():
        assert idempotency.claim(request()) == f"accounts.address:{address.pk}"


@pytest.mark.django_db
def test_same_key_with_another_body_is_refused_and_changes_nothing():
    with transaction.atomic():
        idempotency.claim(request(body="a"))
    with pytest.raises(IdempotencyKeyReused) as refused, transaction.atomic():
        idempotency.claim(request(body="b"))
    assert (refused.value.status_code, refused.value.code) == (422, "idempotency_key_reused")
    assert IdempotencyKey.objects.get().fingerprint == request(body="a").fingerprint


@pytest.mark.django_db
def test_keys_are_per_client():
    with transaction.atomic():
        assert idempotency.claim(request(scope="user:1")) is None
        assert idempotency.claim(request(scope="user:2")) is None
    assert IdempotencyKey.objects.count() == 2


@pytest.mark.django_db
def test_a_rolled_back_creation_leaves_the_key_free():
    with pytest.raises(RuntimeError), transaction.atomic():
        idempotency.claim(request())
        raise RuntimeError("the service failed after claiming")
    with transaction.atomic():
        assert idempotency.claim(request()) is None


def test_claim_outside_a_transaction_is_a_programming_error():
    with pytest.raises(AssertionError):
        idempotency.claim(request())


@pytest.mark.django_db
def test_keys_older_than_a_day_are_purged_by_the_hourly_task():
    with transaction.atomic():
        idempotency.claim(request(key="old"))
        idempotency.claim(request(key="new"))
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
    assert purge_idempotency_keys_task.delay().get() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_concurrent_duplicate_waits_for_the_first_and_then_replays():
    # given: the first request has claimed the key and created its address, not yet committed
    address_holder, first_claimed, let_first_commit = {}, threading.Event(), threading.Event()
    second_result = {}

    def first() -> None:
        try:
            with transaction.atomic():
                idempotency.claim(request())
                address = AddressFactory()
                idempotency.complete(request(), address)
                address_holder["id"] = address.pk
                first_claimed.set()
                let_first_commit.wait(10)
        finally:
            connection.close()

    def second() -> None:
        try:
            with transaction.atomic():
                second_result["ref"] = idempotency.claim(request())
        finally:
            connection.close()

    one = threading.Thread(target=first)
    one.start()
    assert first_claimed.wait(10)
    # when: the duplicate arrives while the first is still open
    two = threading.Thread(target=second)
    two.start()
    two.join(0.5)
    still_waiting = two.is_alive()
    let_first_commit.set()
    one.join(10)
    two.join(10)
    # then: it waited on the unique index, then replayed the first result
    assert still_waiting
    assert second_result["ref"] == f"accounts.address:{address_holder['id']}"
    assert IdempotencyKey.objects.count() == 1
    assert Address.objects.count() == 1
