"""The cart's services on rows: the observe-remove rules, the limits, the read's clamp and notices,
compaction, the epoch, all-or-nothing batches and merges."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from cart import selectors, services
from cart.crdt import Add, CartState
from cart.exceptions import CartFull, InvalidQuantity, ProductNotAvailable, ResyncRequired
from cart.models import Cart, CartAdd, CartStatus, CartTombstone
from catalog.models import Product
from inventory.services import set_level
from tests.accounts.factories import UserFactory
from tests.cart.factories import (
    CartAddFactory,
    CartFactory,
    add,
    remove,
    row_counts,
    stocked_product,
    stored_state,
    view_lines,
)
from tests.catalog.factories import ProductFactory

pytestmark = pytest.mark.django_db

NO_LONGER_SOLD = "This product is no longer sold and will not be ordered."
AT_MOST_99 = "At most 99 per product: the quantity was lowered to 99."
AT_MOST_100_LINES = "Your cart can hold 100 different products; the oldest 100 are kept here."


def refresh(cart: Cart) -> Cart:
    return Cart.objects.get(pk=cart.pk)


def sync(cart: Cart, *operations, base_epoch: int | None = None) -> Cart:
    epoch = refresh(cart).epoch if base_epoch is None else base_epoch
    return services.apply_operations(cart_id=cart.pk, base_epoch=epoch, operations=list(operations))


# --- Finding the cart ---------------------------------------------------------------------------


def test_an_account_and_a_guest_token_each_find_their_one_open_cart(customer):
    mine = services.get_or_create_cart(user=customer)
    guest = services.get_or_create_cart(guest_token="t" * 43)

    assert services.get_or_create_cart(user=customer) == mine
    assert services.get_or_create_cart(guest_token="t" * 43) == guest
    assert mine != guest
    assert (mine.user, mine.guest_key, guest.user) == (customer, None, None)
    assert selectors.find_open_cart(user=customer) == mine
    assert selectors.find_open_cart(guest_token="t" * 43) == guest
    assert selectors.find_open_cart(guest_token="u" * 43) is None


# --- The observe-remove rules ---------------------------------------------------------------------


def test_replaying_an_add_with_the_same_tag_changes_nothing(cart, shoe):
    tag = uuid.uuid4()
    services.add_item(cart_id=cart.pk, product_id=shoe.pk, quantity=2, tag=tag)
    sync(cart, add(shoe.pk, 2, tag))
    services.add_item(cart_id=cart.pk, product_id=shoe.pk, quantity=2, tag=tag)

    assert view_lines(cart) == {shoe.pk: 2}
    assert list(CartAdd.objects.filter(cart=cart).values_list("tag", "quantity")) == [(tag, 2)]


def test_a_replayed_batch_writes_no_row(cart, shoe, sock):
    batch = [add(shoe.pk, 1), add(sock.pk, 2), remove(uuid.uuid4())]
    sync(cart, *batch)
    before = row_counts()

    sync(cart, *batch)

    assert row_counts() == before
    assert view_lines(cart) == {shoe.pk: 1, sock.pk: 2}


def test_a_remove_of_observed_tags_keeps_a_concurrent_add(cart, shoe):
    # given: the phone saw one add of 1; the laptop then added 4 the phone never saw
    seen = uuid.uuid4()
    sync(cart, add(shoe.pk, 1, seen))
    services.add_item(cart_id=cart.pk, product_id=shoe.pk, quantity=4)
    # when: the phone removes the line it sees
    sync(cart, remove(seen))
    # then
    assert view_lines(cart) == {shoe.pk: 4}
    assert set(CartTombstone.objects.filter(cart=cart).values_list("tag", flat=True)) == {seen}


def test_a_remove_that_arrives_before_its_add_still_removes_it(cart, shoe):
    tag = uuid.uuid4()
    sync(cart, remove(tag))
    sync(cart, add(shoe.pk, 3, tag))

    assert view_lines(cart) == {}
    assert CartAdd.objects.filter(cart=cart).count() == 1


def test_set_quantity_replaces_the_line_with_one_add(cart, shoe, sock):
    first, second = uuid.uuid4(), uuid.uuid4()
    sync(cart, add(shoe.pk, 2, first), add(shoe.pk, 3, second), add(sock.pk, 1))

    services.set_quantity(cart_id=cart.pk, product_id=shoe.pk, quantity=7)

    assert view_lines(cart) == {shoe.pk: 7, sock.pk: 1}
    assert set(CartTombstone.objects.filter(cart=cart).values_list("tag", flat=True)) == {first, second}
    assert len(selectors.live_tags(cart_id=cart.pk, product_id=shoe.pk)) == 1


def test_set_quantity_zero_removes_the_line(cart, shoe, sock):
    sync(cart, add(shoe.pk, 2), add(shoe.pk, 1), add(sock.pk, 1))

    services.set_quantity(cart_id=cart.pk, product_id=shoe.pk, quantity=0)

    assert view_lines(cart) == {sock.pk: 1}
    assert CartAdd.objects.filter(cart=cart).count() == 3


def test_two_devices_that_each_set_three_end_with_six(cart, shoe):
    # given: both devices saw the line of 1 (one tag)
    seen = uuid.uuid4()
    sync(cart, add(shoe.pk, 1, seen))
    # when: each sends its offline "set to 3": remove the tag it saw, add 3 under a tag of its own
    sync(cart, remove(seen), add(shoe.pk, 3))
    sync(cart, remove(seen), add(shoe.pk, 3))
    # then
    assert view_lines(cart) == {shoe.pk: 6}


def test_remove_product_and_clear_cart_empty_what_was_seen(cart, shoe, sock):
    sync(cart, add(shoe.pk, 2), add(sock.pk, 1), add(sock.pk, 1))

    services.remove_product(cart_id=cart.pk, product_id=sock.pk)
    assert view_lines(cart) == {shoe.pk: 2}

    services.clear_cart(cart_id=cart.pk)
    assert view_lines(cart) == {}
    assert CartTombstone.objects.filter(cart=cart).count() == 3


def test_the_header_count_is_the_units_of_the_live_tags(cart, shoe, sock):
    seen = uuid.uuid4()
    sync(cart, add(shoe.pk, 2, seen), add(shoe.pk, 3), add(sock.pk, 4), remove(seen))

    assert selectors.count_items(cart=cart) == 7
    assert selectors.count_items(cart=None) == 0


# --- Limits when a customer edits -------------------------------------------------------------


@pytest.mark.parametrize("quantity", [0, -1, 100])
def test_adding_a_quantity_outside_1_to_99_is_refused_naming_the_field(cart, shoe, quantity):
    before = row_counts()

    with pytest.raises(InvalidQuantity) as refused:
        services.add_item(cart_id=cart.pk, product_id=shoe.pk, quantity=quantity)

    assert refused.value.fields == {"quantity": ["Choose a quantity from 1 to 99."]}
    assert row_counts() == before


@pytest.mark.parametrize("quantity", [-1, 100])
def test_setting_a_quantity_outside_0_to_99_is_refused_and_the_line_stays(cart, shoe, quantity):
    sync(cart, add(shoe.pk, 2))
    before = row_counts()

    with pytest.raises(InvalidQuantity) as refused:
        services.set_quantity(cart_id=cart.pk, product_id=shoe.pk, quantity=quantity)

    assert refused.value.fields == {"quantity": ["Choose a quantity from 1 to 99."]}
    assert row_counts() == before
    assert view_lines(cart) == {shoe.pk: 2}


@pytest.mark.parametrize("quantity", [0, 100])
def test_a_batch_with_a_quantity_outside_1_to_99_names_the_operation(cart, shoe, quantity):
    before = row_counts()

    with pytest.raises(InvalidQuantity) as refused:
        sync(cart, add(shoe.pk, 1), add(shoe.pk, quantity))

    assert refused.value.fields == {"operations.1.quantity": ["Choose a quantity from 1 to 99."]}
    assert row_counts() == before


@pytest.fixture
def full_cart(cart):
    """The customer's cart with 100 different products, one each."""
    products = [stocked_product() for _ in range(100)]
    sync(cart, *(add(p.pk) for p in products))
    return cart


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda cart, p: services.add_item(cart_id=cart.pk, product_id=p.pk, quantity=1), id="add_item"),
        pytest.param(lambda cart, p: services.set_quantity(cart_id=cart.pk, product_id=p.pk, quantity=1), id="set"),
        pytest.param(lambda cart, p: sync(cart, add(p.pk)), id="batch"),
    ],
)
def test_the_101st_product_is_refused_and_nothing_is_written(full_cart, shoe, edit):
    before = row_counts()

    with pytest.raises(CartFull) as refused:
        edit(full_cart, shoe)

    assert refused.value.code == "cart_full"
    assert row_counts() == before
    assert len(view_lines(full_cart)) == 100


def test_a_full_cart_still_takes_more_of_a_product_it_holds(full_cart):
    held = CartAdd.objects.filter(cart=full_cart).first().product_id

    services.add_item(cart_id=full_cart.pk, product_id=held, quantity=2)
    services.set_quantity(cart_id=full_cart.pk, product_id=held, quantity=5)

    assert len(view_lines(full_cart)) == 100
    assert view_lines(full_cart)[held] == 5


def test_a_full_cart_takes_a_new_product_once_a_line_is_removed(full_cart, shoe):
    services.remove_product(cart_id=full_cart.pk, product_id=CartAdd.objects.filter(cart=full_cart).first().product_id)

    services.add_item(cart_id=full_cart.pk, product_id=shoe.pk, quantity=1)

    assert len(view_lines(full_cart)) == 100
    assert view_lines(full_cart)[shoe.pk] == 1


def test_replaying_an_old_batch_on_a_full_cart_changes_nothing(cart, shoe):
    # given: the phone's batch added the shoe and was applied; the line was removed later and the
    # cart then filled up with 100 other products
    batch = [add(shoe.pk, 1)]
    sync(cart, *batch)
    services.remove_product(cart_id=cart.pk, product_id=shoe.pk)
    sync(cart, *(add(p.pk) for p in ProductFactory.create_batch(100)))
    before = row_counts()
    # when: the phone, which never got the first answer, sends the same batch again
    sync(cart, *batch)
    # then: as any replay, it changes nothing
    assert row_counts() == before
    assert len(view_lines(cart)) == 100


# --- Products that are not (or no longer) sold, prices that moved -------------------------------


def test_an_inactive_product_cannot_be_added(cart):
    hidden = stocked_product(is_active=False)
    before = row_counts()

    with pytest.raises(ProductNotAvailable) as refused:
        services.add_item(cart_id=cart.pk, product_id=hidden.pk, quantity=1)

    assert refused.value.fields == {"product_id": ["This product does not exist or is no longer sold."]}
    assert row_counts() == before


def test_a_line_whose_product_stopped_selling_shows_a_notice_and_is_left_out_of_the_totals(cart, shoe, sock):
    sync(cart, add(shoe.pk, 1), add(sock.pk, 2))
    selectors.get_cart_view(cart=cart)  # the product cards are cached while both are sold

    Product.objects.filter(pk=sock.pk).update(is_active=False)
    view = selectors.get_cart_view(cart=cart)

    gone = next(line for line in view.lines if line.product_id == sock.pk)
    assert (gone.quantity, gone.unit_price, gone.line_total, gone.notices) == (
        2,
        None,
        Decimal("0.00"),
        [NO_LONGER_SOLD],
    )
    assert (view.item_count, view.subtotal) == (1, Decimal("50.00"))
    assert services.set_quantity(cart_id=cart.pk, product_id=sock.pk, quantity=0)  # it can still be taken out
    assert view_lines(cart) == {shoe.pk: 1}


def test_a_price_change_since_the_add_shows_a_notice_and_the_new_price(cart, shoe):
    sync(cart, add(shoe.pk, 2))

    Product.objects.filter(pk=shoe.pk).update(price=Decimal("45.50"))
    view = selectors.get_cart_view(cart=cart)

    (line,) = view.lines
    assert line.notices == ["The price changed from 50.00 to 45.50."]
    assert (line.unit_price, line.line_total, view.subtotal) == (Decimal("45.50"), Decimal("91.00"), Decimal("91.00"))


def test_replaying_a_batch_whose_product_stopped_selling_changes_nothing(cart, shoe, sock):
    batch = [add(shoe.pk, 2), add(sock.pk, 1)]
    sync(cart, *batch)
    Product.objects.filter(pk=sock.pk).update(is_active=False)
    before, state = row_counts(), stored_state(cart)

    sync(cart, *batch)

    assert (row_counts(), stored_state(cart)) == (before, state)


def test_an_add_whose_remove_arrived_first_is_not_refused_when_its_product_stopped_selling(cart, shoe, sock):
    tag = uuid.uuid4()
    sync(cart, remove(tag))
    Product.objects.filter(pk=sock.pk).update(is_active=False)

    sync(cart, add(sock.pk, 1, tag), add(shoe.pk, 1))

    assert view_lines(cart) == {shoe.pk: 1}


def test_a_line_at_the_price_it_was_added_and_in_stock_has_no_notice(cart, shoe):
    sync(cart, add(shoe.pk, 2))

    view = selectors.get_cart_view(cart=cart)

    (line,) = view.lines
    assert (line.quantity, line.unit_price, line.line_total, line.notices) == (
        2,
        Decimal("50.00"),
        Decimal("100.00"),
        [],
    )
    assert (view.item_count, view.subtotal, view.notices, view.epoch) == (2, Decimal("100.00"), [], 0)


def test_an_out_of_stock_line_shows_a_notice_and_still_counts(cart):
    unstocked = ProductFactory(price=Decimal("10.00"))
    sync(cart, add(unstocked.pk, 3))

    view = selectors.get_cart_view(cart=cart)

    assert view.lines[0].notices == ["Out of stock at the moment."]
    assert (view.item_count, view.subtotal) == (3, Decimal("30.00"))


# --- The read's clamp after a merge -------------------------------------------------------------


def test_merging_two_carts_of_60_shows_99_with_a_notice(cart, guest_cart, shoe):
    set_level(product_id=shoe.pk, quantity=500, cause="test:plenty")  # only the 99 limit speaks here
    sync(cart, add(shoe.pk, 60))
    sync(guest_cart, add(shoe.pk, 60))

    services.merge_carts(into_cart_id=cart.pk, from_cart_id=guest_cart.pk)
    view = selectors.get_cart_view(cart=cart)

    (line,) = view.lines
    assert (line.quantity, line.notices, line.line_total) == (99, [AT_MOST_99], Decimal("4950.00"))
    assert (view.item_count, view.notices) == (99, [])
    assert sum(CartAdd.objects.filter(cart=cart).values_list("quantity", flat=True)) == 120  # kept, only shown as 99


def test_merging_past_100_products_shows_100_lines_with_a_notice(cart, guest_cart):
    mine, theirs = ProductFactory.create_batch(60), ProductFactory.create_batch(41)
    sync(cart, *(add(p.pk) for p in mine))
    sync(guest_cart, *(add(p.pk) for p in theirs))

    services.merge_carts(into_cart_id=cart.pk, from_cart_id=guest_cart.pk)
    view = selectors.get_cart_view(cart=cart)

    shown = [line.product_id for line in view.lines]
    assert view.notices == [AT_MOST_100_LINES]
    assert len(shown) == 100
    assert shown[:60] == [p.pk for p in mine]  # the account's older lines first
    assert set(shown[60:]) < {p.pk for p in theirs}
    assert view.item_count == 100
    assert len(selectors.live_product_ids(cart_id=cart.pk)) == 101


def test_the_header_count_matches_the_cart_page_after_a_merge_past_100_products(cart, guest_cart):
    sync(cart, *(add(p.pk) for p in ProductFactory.create_batch(60)))
    sync(guest_cart, *(add(p.pk) for p in ProductFactory.create_batch(41)))
    services.merge_carts(into_cart_id=cart.pk, from_cart_id=guest_cart.pk)

    assert selectors.count_items(cart=cart) == selectors.get_cart_view(cart=cart).item_count == 100


def test_the_header_count_matches_the_cart_page_after_a_merge_past_99(cart, guest_cart, shoe, sock):
    sync(cart, add(shoe.pk, 60), add(sock.pk, 1))
    sync(guest_cart, add(shoe.pk, 60))
    services.merge_carts(into_cart_id=cart.pk, from_cart_id=guest_cart.pk)
    Product.objects.filter(pk=sock.pk).update(is_active=False)

    assert selectors.count_items(cart=cart) == selectors.get_cart_view(cart=cart).item_count == 99


# --- Compaction and the epoch -------------------------------------------------------------------


def test_compaction_collapses_tags_drops_tombstones_keeps_lines_and_raises_the_epoch(cart, shoe, sock):
    # given: two adds of the shoe, one removed sock add, one live sock add
    removed = uuid.uuid4()
    sync(cart, add(shoe.pk, 2), add(shoe.pk, 3), add(sock.pk, 1, removed), add(sock.pk, 4), remove(removed))
    old_tags = set(CartAdd.objects.filter(cart=cart).values_list("tag", flat=True))

    compacted = services.compact_cart(cart_id=cart.pk)

    assert compacted.epoch == refresh(cart).epoch == 1
    assert sorted(CartAdd.objects.filter(cart=cart).values_list("product_id", "quantity")) == sorted(
        [(shoe.pk, 5), (sock.pk, 4)]
    )
    assert not old_tags & set(CartAdd.objects.filter(cart=cart).values_list("tag", flat=True))
    assert CartTombstone.objects.filter(cart=cart).count() == 0
    assert view_lines(cart) == {shoe.pk: 5, sock.pk: 4}


def test_compaction_keeps_a_merged_line_at_99(cart, guest_cart, shoe):
    set_level(product_id=shoe.pk, quantity=500, cause="test:plenty")
    sync(cart, add(shoe.pk, 60))
    sync(guest_cart, add(shoe.pk, 60))
    services.merge_carts(into_cart_id=cart.pk, from_cart_id=guest_cart.pk)

    services.compact_cart(cart_id=cart.pk)

    assert list(CartAdd.objects.filter(cart=cart).values_list("quantity", flat=True)) == [99]
    assert selectors.get_cart_view(cart=cart).lines[0].notices == []


def test_a_batch_past_400_rows_compacts_the_cart(cart, shoe, sock):
    # given: 360 rows already (180 adds of the sock, all removed)
    tags = [uuid.uuid4() for _ in range(180)]
    sync(cart, *(add(sock.pk, 1, t) for t in tags), remove(*tags))
    assert refresh(cart).epoch == 0
    # when: a batch takes the cart past 400 rows
    answered = sync(cart, *(add(shoe.pk, 1) for _ in range(60)), add(sock.pk, 2))
    # then
    assert answered.epoch == refresh(cart).epoch == 1
    assert CartTombstone.objects.filter(cart=cart).count() == 0
    assert sorted(CartAdd.objects.filter(cart=cart).values_list("product_id", "quantity")) == sorted(
        [(shoe.pk, 60), (sock.pk, 2)]
    )


def test_a_stale_epoch_gets_resync_required_and_nothing_is_written(cart, shoe):
    sync(cart, add(shoe.pk, 1))
    services.compact_cart(cart_id=cart.pk)
    before, state = row_counts(), stored_state(cart)

    with pytest.raises(ResyncRequired) as refused:
        sync(cart, add(shoe.pk, 5), remove(*state.observed_tags(shoe.pk)), base_epoch=0)

    assert (refused.value.code, refused.value.epoch) == ("cart_resync_required", 1)
    assert refused.value.fields == {"base_epoch": ["The cart is at epoch 1."]}
    assert (row_counts(), stored_state(cart)) == (before, state)
    assert sync(cart, add(shoe.pk, 5), base_epoch=1).epoch == 1  # after a resync it goes through
    assert view_lines(cart) == {shoe.pk: 6}


# --- All or nothing -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["unknown", "inactive"])
def test_a_batch_with_one_product_not_sold_writes_nothing_and_names_it(cart, shoe, sock, kind):
    # given: a cart with one line, and a batch whose third operation names a product not sold
    seen = uuid.uuid4()
    sync(cart, add(shoe.pk, 1, seen))
    not_sold = stocked_product(is_active=False).pk if kind == "inactive" else Product.objects.latest("pk").pk + 1000
    before, state = row_counts(), stored_state(cart)
    # when
    with pytest.raises(ProductNotAvailable) as refused:
        sync(cart, add(sock.pk, 2), remove(seen), add(not_sold, 1), add(shoe.pk, 1))
    # then
    assert refused.value.fields == {"operations.2.product_id": ["This product does not exist or is no longer sold."]}
    assert (row_counts(), stored_state(cart)) == (before, state)


# --- Merges -------------------------------------------------------------------------------------


def test_a_merge_unions_adds_and_tombstones_and_closes_the_source(cart, guest_cart, shoe, sock):
    # given: the guest removed one of its adds; the account has a line of its own
    gone = uuid.uuid4()
    sync(cart, add(shoe.pk, 1))
    sync(guest_cart, add(sock.pk, 2), add(sock.pk, 1, gone), remove(gone))
    expected = stored_state(cart)
    guest_state = stored_state(guest_cart)
    # when
    merged = services.merge_carts(into_cart_id=cart.pk, from_cart_id=guest_cart.pk)
    # then
    assert merged == cart
    assert stored_state(cart) == CartState(
        expected.adds | guest_state.adds, expected.tombstones | guest_state.tombstones
    )
    assert view_lines(cart) == {shoe.pk: 1, sock.pk: 2}
    assert (refresh(guest_cart).status, refresh(cart).status) == (CartStatus.MERGED, CartStatus.OPEN)


def test_merging_twice_is_the_same_as_merging_once(cart, guest_cart, shoe, sock):
    sync(cart, add(shoe.pk, 1))
    sync(guest_cart, add(sock.pk, 2))
    services.merge_carts(into_cart_id=cart.pk, from_cart_id=guest_cart.pk)
    once, counts = stored_state(cart), row_counts()

    services.merge_carts(into_cart_id=cart.pk, from_cart_id=guest_cart.pk)

    assert (stored_state(cart), row_counts()) == (once, counts)
    assert refresh(guest_cart).status == CartStatus.MERGED


def test_a_merge_keeps_an_add_both_carts_hold_once(cart, guest_cart, shoe):
    # the same add (one tag) reached both carts, e.g. a device that synced to each
    tag = uuid.uuid4()
    sync(cart, add(shoe.pk, 2, tag))
    sync(guest_cart, add(shoe.pk, 2, tag))

    services.merge_carts(into_cart_id=cart.pk, from_cart_id=guest_cart.pk)

    assert view_lines(cart) == {shoe.pk: 2}
    assert CartAdd.objects.filter(cart=cart).count() == 1


def test_a_guest_remove_of_a_tag_the_account_holds_removes_it_at_merge(cart, guest_cart, shoe, sock):
    tag = uuid.uuid4()
    sync(cart, add(shoe.pk, 2, tag), add(sock.pk, 1))
    sync(guest_cart, remove(tag))

    services.merge_carts(into_cart_id=cart.pk, from_cart_id=guest_cart.pk)

    assert view_lines(cart) == {sock.pk: 1}


def test_merging_a_cart_into_itself_changes_nothing(cart, shoe):
    sync(cart, add(shoe.pk, 1))
    before, state = row_counts(), stored_state(cart)

    services.merge_carts(into_cart_id=cart.pk, from_cart_id=cart.pk)

    assert (row_counts(), stored_state(cart), refresh(cart).status) == (before, state, CartStatus.OPEN)


def test_merge_guest_cart_moves_the_guest_lines_to_the_account(shoe):
    user = UserFactory()
    guest = services.get_or_create_cart(guest_token="k" * 43)
    sync(guest, add(shoe.pk, 3))

    merged = services.merge_guest_cart(user=user, guest_token="k" * 43)

    assert merged == selectors.find_open_cart(user=user)
    assert view_lines(merged) == {shoe.pk: 3}
    assert refresh(guest).status == CartStatus.MERGED
    assert services.merge_guest_cart(user=user, guest_token="k" * 43) is None  # nothing left to merge
    assert services.merge_guest_cart(user=user, guest_token="n" * 43) is None  # a token with no cart


def test_a_merged_cart_holds_the_price_each_add_was_made_at(cart, shoe):
    guest = CartFactory()
    CartAddFactory(cart=guest, product=shoe, quantity=1, unit_price=Decimal("40.00"))

    services.merge_carts(into_cart_id=cart.pk, from_cart_id=guest.pk)

    (line,) = selectors.get_cart_view(cart=cart).lines
    assert line.notices == ["The price changed from 40.00 to 50.00."]
    assert CartAdd.objects.get(cart=cart).unit_price == Decimal("40.00")
    assert Add(CartAdd.objects.get(cart=cart).tag, shoe.pk, 1) in stored_state(cart).adds


def test_a_customer_cannot_add_a_line_past_99(cart, shoe):
    set_level(product_id=shoe.pk, quantity=500, cause="test:plenty")  # the 99 limit, not the stock, refuses
    services.add_item(cart_id=cart.pk, product_id=shoe.pk, quantity=60)
    with pytest.raises(InvalidQuantity) as refused:
        services.add_item(cart_id=cart.pk, product_id=shoe.pk, quantity=60)
    assert refused.value.fields == {"quantity": ["At most 99 per product: you have 60 in your cart."]}
    assert view_lines(cart) == {shoe.pk: 60}
