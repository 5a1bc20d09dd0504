"""Devices syncing one cart at the same moment, on real PostgreSQL: nothing lost, nothing doubled."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from cart import selectors, services
from cart.crdt import CartState
from cart.exceptions import ResyncRequired
from cart.models import Cart, CartAdd, CartStatus, CartTombstone
from tests.accounts.factories import UserFactory
from tests.cart.factories import add, apply_to_model, clamp, remove, stocked_product, stored_state, view_lines
from tests.concurrency import run_concurrently as run_threads

THREADS = 8

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_concurrently(target: Callable[[int], object], count: int = THREADS) -> list:
    return run_threads(target, count)


@pytest.fixture
def products() -> list:
    return [stocked_product() for _ in range(3)]


def test_devices_syncing_at_once_lose_nothing_and_double_nothing(products):
    # given: a cart with one line every device has seen; each device removes it and adds its own
    cart = services.get_or_create_cart(user=UserFactory())
    seen = uuid.uuid4()
    services.apply_operations(cart_id=cart.pk, base_epoch=0, operations=[add(products[0].pk, 5, seen)])
    batches = [[add(products[i % 3].pk, i + 1), add(products[(i + 1) % 3].pk, 1), remove(seen)] for i in range(THREADS)]
    expected = apply_to_model(stored_state(cart), [op for batch in batches for op in batch])
    # when
    results = run_concurrently(
        lambda i: services.apply_operations(cart_id=cart.pk, base_epoch=0, operations=batches[i], device=f"d{i}")
    )
    # then
    assert all(isinstance(result, Cart) for result in results), results
    assert stored_state(cart) == expected
    assert view_lines(cart) == clamp(expected.lines())
    assert (CartAdd.objects.filter(cart=cart).count(), CartTombstone.objects.filter(cart=cart).count()) == (17, 1)


def test_the_same_batch_replayed_at_once_is_applied_once(products):
    cart = services.get_or_create_cart(guest_token="r" * 43)
    batch = [add(products[0].pk, 2), add(products[1].pk, 3), add(products[0].pk, 1), remove(uuid.uuid4())]

    results = run_concurrently(lambda i: services.apply_operations(cart_id=cart.pk, base_epoch=0, operations=batch))

    assert all(isinstance(result, Cart) for result in results), results
    assert stored_state(cart) == apply_to_model(CartState(), batch)
    assert view_lines(cart) == {products[0].pk: 3, products[1].pk: 3}
    assert (CartAdd.objects.count(), CartTombstone.objects.count()) == (3, 1)


def test_the_first_syncs_of_a_new_account_from_many_devices_make_one_cart(products):
    user = UserFactory()
    batches = [[add(products[i % 3].pk, 1)] for i in range(THREADS)]

    def first_sync(i: int) -> Cart:
        cart = services.get_or_create_cart(user=user)
        return services.apply_operations(cart_id=cart.pk, base_epoch=0, operations=batches[i])

    results = run_concurrently(first_sync)

    assert all(isinstance(result, Cart) for result in results), results
    (cart,) = Cart.objects.filter(user=user)
    assert {result.pk for result in results} == {cart.pk}
    assert stored_state(cart) == apply_to_model(CartState(), [op for batch in batches for op in batch])
    assert selectors.count_items(cart=cart) == THREADS


def test_sign_ins_racing_syncs_merge_the_guest_cart_once_and_keep_every_add(products):
    # given: a guest cart of 2, and an account cart of 1
    user = UserFactory()
    account = services.get_or_create_cart(user=user)
    guest = services.get_or_create_cart(guest_token="s" * 43)
    guest_batch = [add(products[0].pk, 2), remove(uuid.uuid4())]
    services.apply_operations(cart_id=guest.pk, base_epoch=0, operations=guest_batch)
    services.apply_operations(cart_id=account.pk, base_epoch=0, operations=[add(products[1].pk, 1)])
    expected = apply_to_model(stored_state(account), guest_batch)
    device_batches = {i: [add(products[2].pk, 1)] for i in range(0, THREADS, 2)}
    for batch in device_batches.values():
        expected = apply_to_model(expected, batch)

    # when: half the threads sign in with the guest token, half sync the account cart
    def act(i: int):
        if i in device_batches:
            return services.apply_operations(cart_id=account.pk, base_epoch=0, operations=device_batches[i])
        return services.merge_guest_cart(user=user, guest_token="s" * 43)

    results = run_concurrently(act)

    # then: one merge took place; the others found nothing left to merge
    assert not [r for r in results if isinstance(r, Exception)], results
    assert [r for r in results if r is not None and r.pk == account.pk]
    assert stored_state(account) == expected
    assert view_lines(account) == {products[0].pk: 2, products[1].pk: 1, products[2].pk: THREADS // 2}
    assert Cart.objects.get(pk=guest.pk).status == CartStatus.MERGED


def test_a_compaction_racing_syncs_loses_no_acknowledged_add(products):
    # given: a cart of 1; seven devices sync at epoch 0 while one compacts
    cart = services.get_or_create_cart(guest_token="c" * 43)
    services.apply_operations(cart_id=cart.pk, base_epoch=0, operations=[add(products[0].pk, 1)])

    def act(i: int):
        if i == 0:
            return services.compact_cart(cart_id=cart.pk)
        return services.apply_operations(cart_id=cart.pk, base_epoch=0, operations=[add(products[i % 3].pk, i)])

    results = run_concurrently(act)

    # then: a sync before the compaction is kept (in a collapsed tag), one after it must resync
    acknowledged = [i for i in range(1, THREADS) if isinstance(results[i], Cart)]
    refused = [i for i in range(1, THREADS) if isinstance(results[i], ResyncRequired)]
    assert isinstance(results[0], Cart), results
    assert sorted(acknowledged + refused) == list(range(1, THREADS)), results
    expected: dict[int, int] = {products[0].pk: 1}
    for i in acknowledged:
        expected[products[i % 3].pk] = expected.get(products[i % 3].pk, 0) + i
    assert view_lines(cart) == expected
    assert Cart.objects.get(pk=cart.pk).epoch == 1


def test_devices_adding_new_products_to_a_cart_of_99_at_once_fill_it_to_100_only():
    # given: a cart one line short of the limit, and eight devices that each add another product
    cart = services.get_or_create_cart(guest_token="f" * 43)
    held = [stocked_product() for _ in range(99)]
    services.apply_operations(cart_id=cart.pk, base_epoch=0, operations=[add(p.pk) for p in held])
    newcomers = [stocked_product() for _ in range(THREADS)]
    # when
    results = run_concurrently(
        lambda i: services.apply_operations(cart_id=cart.pk, base_epoch=0, operations=[add(newcomers[i].pk)])
    )
    # then: the cart lock lets exactly one in
    assert sorted(type(result).__name__ for result in results) == ["Cart"] + ["CartFull"] * (THREADS - 1), results
    assert len(selectors.live_product_ids(cart_id=cart.pk)) == 100
    assert CartAdd.objects.filter(cart=cart).count() == 100
