"""The real cart services driven by a hypothesis state machine, with cart.crdt as the oracle.

Every step calls a service on PostgreSQL (its own durable transaction, as in production) and then
checks that the rows are the model's adds and tombstones and that the customer's view shows the
model's lines, clamped to 99.
"""

from __future__ import annotations

import secrets
import uuid

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from cart import selectors, services
from cart.crdt import Add, CartState, merge
from cart.exceptions import InvalidQuantity, ResyncRequired
from cart.models import Cart, CartAdd, CartStatus
from tests.cart.factories import apply_to_model, clamp, row_counts, stocked_product, stored_state

AT_MOST_99 = "At most 99 per product: the quantity was lowered to 99."

products = st.integers(0, 2)  # an index into the machine's three products
quantities = st.integers(1, 40)  # large enough that lines pass 99 now and then


class CartMachine(RuleBasedStateMachine):
    def __init__(self, product_ids: list[int]):
        super().__init__()
        self.product_ids = product_ids
        self.cart = services.get_or_create_cart(guest_token=secrets.token_urlsafe(32))
        self.model = CartState()
        self.epoch = 0
        self.merged_sources: list[int] = []

    # --- steps ---------------------------------------------------------------------------------

    @rule(product=products, quantity=quantities)
    def add_item(self, product: int, quantity: int) -> None:
        tag, product_id = uuid.uuid4(), self.product_ids[product]
        if self.model.lines().get(product_id, 0) + quantity > 99:
            # A customer's add may not take a line past 99 (a device sync may; the read clamps).
            with pytest.raises(InvalidQuantity):
                services.add_item(cart_id=self.cart.pk, product_id=product_id, quantity=quantity, tag=tag)
            return
        services.add_item(cart_id=self.cart.pk, product_id=product_id, quantity=quantity, tag=tag)
        self.model = self.model.add(Add(tag, product_id, quantity))

    @rule(product=products, quantity=st.integers(0, 40))
    def set_quantity(self, product: int, quantity: int) -> None:
        product_id = self.product_ids[product]
        known = {a.tag for a in self.model.adds}
        services.set_quantity(cart_id=self.cart.pk, product_id=product_id, quantity=quantity)
        new_tags = list(CartAdd.objects.filter(cart=self.cart).exclude(tag__in=known).values_list("tag", flat=True))
        assert len(new_tags) == (1 if quantity else 0)
        self.model = self.model.set_quantity(product_id, quantity, new_tags[0] if new_tags else uuid.uuid4())

    @rule(product=products)
    def remove_product(self, product: int) -> None:
        services.remove_product(cart_id=self.cart.pk, product_id=self.product_ids[product])
        self.model = self.model.remove(self.model.observed_tags(self.product_ids[product]))

    @rule(data=st.data())
    def sync_a_batch(self, data) -> None:
        """A device's batch: fresh adds, replays of adds the cart holds, removes of observed tags."""
        operations = self._draw_operations(data, self.model)
        answered = services.apply_operations(cart_id=self.cart.pk, base_epoch=self.epoch, operations=operations)
        assert answered.epoch == self.epoch
        self.model = apply_to_model(self.model, operations)

    @rule(data=st.data())
    def merge_another_cart(self, data) -> None:
        """A guest cart (which may hold the same adds, and removes of tags seen here) merges in."""
        other = services.get_or_create_cart(guest_token=secrets.token_urlsafe(32))
        operations = self._draw_operations(data, self.model)
        services.apply_operations(cart_id=other.pk, base_epoch=0, operations=operations)
        services.merge_carts(into_cart_id=self.cart.pk, from_cart_id=other.pk)
        assert Cart.objects.get(pk=other.pk).status == CartStatus.MERGED
        self.model = merge(self.model, apply_to_model(CartState(), operations))
        self.merged_sources.append(other.pk)

    @precondition(lambda self: self.merged_sources)
    @rule(data=st.data())
    def merge_a_merged_cart_again(self, data) -> None:
        before = row_counts()
        source = data.draw(st.sampled_from(self.merged_sources))
        services.merge_carts(into_cart_id=self.cart.pk, from_cart_id=source)
        assert row_counts() == before

    @rule()
    def compact(self) -> None:
        expected = clamp(self.model.lines())
        services.compact_cart(cart_id=self.cart.pk)
        self.epoch += 1
        compacted = stored_state(Cart.objects.get(pk=self.cart.pk))
        assert compacted.tombstones == frozenset()
        assert sorted(a.product_id for a in compacted.adds) == sorted(expected)  # one tag per line
        assert compacted.lines() == expected
        self.model = compacted  # the tags are new: devices resync from here

    @precondition(lambda self: self.epoch > 0)
    @rule(product=products, quantity=quantities)
    def sync_with_a_stale_epoch(self, product: int, quantity: int) -> None:
        before = row_counts()
        stale = [services.AddOperation(uuid.uuid4(), self.product_ids[product], quantity)]
        stale += (
            [services.RemoveOperation(tuple(tags))]
            if (tags := self.model.observed_tags(self.product_ids[product]))
            else []
        )
        with pytest.raises(ResyncRequired) as refused:
            services.apply_operations(cart_id=self.cart.pk, base_epoch=self.epoch - 1, operations=stale)
        assert refused.value.epoch == self.epoch
        assert row_counts() == before

    # --- the oracle ------------------------------------------------------------------------------

    @invariant()
    def rows_and_view_follow_the_model(self) -> None:
        cart = Cart.objects.get(pk=self.cart.pk)
        view = selectors.get_cart_view(cart=cart)
        expected = self.model.lines()
        assert (cart.epoch, view.epoch) == (self.epoch, self.epoch)
        assert stored_state(cart) == self.model
        assert {line.product_id: line.quantity for line in view.lines} == clamp(expected)
        assert {line.product_id: line.notices for line in view.lines} == {
            p: [AT_MOST_99] if q > 99 else [] for p, q in expected.items()
        }
        assert view.item_count == selectors.count_items(cart=cart) == sum(clamp(expected).values())

    # --- helpers -----------------------------------------------------------------------------------

    def _draw_operations(self, data, state: CartState) -> list[services.Operation]:
        operations: list[services.Operation] = []
        held = sorted(state.adds, key=lambda a: a.tag)
        for kind in data.draw(st.lists(st.sampled_from(["add", "replay", "remove", "remove_unseen"]), max_size=6)):
            if kind == "add" or (kind == "replay" and not held):
                product = self.product_ids[data.draw(products)]
                operations.append(services.AddOperation(uuid.uuid4(), product, data.draw(quantities)))
            elif kind == "replay":
                again = data.draw(st.sampled_from(held))
                operations.append(services.AddOperation(again.tag, again.product_id, again.quantity))
            elif kind == "remove":
                observed = sorted(a.tag for a in state.live()) + [
                    op.tag for op in operations if isinstance(op, services.AddOperation)
                ]
                if observed:
                    tags = data.draw(st.lists(st.sampled_from(observed), min_size=1, max_size=4, unique=True))
                    operations.append(services.RemoveOperation(tuple(tags)))
            else:  # a tag this cart has not seen yet (its add may come later, from a merge)
                operations.append(services.RemoveOperation((uuid.uuid4(),)))
        return operations


@pytest.mark.postgres
def test_the_cart_services_follow_the_model(transactional_db):
    product_ids = [stocked_product(available=1000).pk for _ in range(3)]  # stock never limits here (tested apart)
    deep = settings.default.max_examples > 60  # HYPOTHESIS_PROFILE=deep explores further

    run_state_machine_as_test(
        lambda: CartMachine(product_ids),
        settings=settings(
            max_examples=200 if deep else 25,
            stateful_step_count=30 if deep else 15,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
