"""The merge rules of cart/crdt.py as properties of the pure model (no database)."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from cart.crdt import Add, CartState, merge

PRODUCTS = (1, 2, 3)
TAGS = tuple(uuid.UUID(int=i) for i in range(1, 11))

# One tag names one add: every state of an example draws its adds from the same universe, where
# each tag is bound to one (product, quantity) for the whole example.
universe = st.shared(
    st.lists(st.tuples(st.sampled_from(PRODUCTS), st.integers(1, 5)), min_size=len(TAGS), max_size=len(TAGS)).map(
        lambda specs: {tag: Add(tag, product, quantity) for tag, (product, quantity) in zip(TAGS, specs, strict=True)}
    ),
    key="universe",
)


@st.composite
def cart_states(draw) -> CartState:
    """A replica after a random history: adds of the universe, and removes of tags it observed."""
    pool = draw(universe)
    state = CartState()
    steps = st.one_of(st.sampled_from(TAGS).map(lambda tag: ("add", tag)), st.just(("remove", None)))
    for kind, tag in draw(st.lists(steps, max_size=12)):
        if kind == "add":
            state = state.add(pool[tag])
        else:
            observed = sorted(a.tag for a in state.live())
            if observed:
                state = state.remove(set(draw(st.lists(st.sampled_from(observed), min_size=1, unique=True))))
    return state


@given(cart_states(), cart_states())
def test_merge_is_commutative(a, b):
    assert merge(a, b) == merge(b, a)


@given(cart_states(), cart_states(), cart_states())
def test_merge_is_associative(a, b, c):
    assert merge(merge(a, b), c) == merge(a, merge(b, c))


@given(cart_states(), cart_states())
def test_merge_is_idempotent(a, b):
    assert merge(a, a) == a
    assert merge(merge(a, b), b) == merge(a, b)


@given(cart_states(), cart_states())
def test_an_add_is_lost_only_when_a_remove_observed_its_tag(a, b):
    merged = merge(a, b)
    live = set(merged.live())
    for element in a.adds | b.adds:
        assert (element in live) == (element.tag not in a.tombstones | b.tombstones)
    assert merged.adds == a.adds | b.adds


@given(cart_states(), st.sampled_from(TAGS))
def test_replaying_an_add_changes_nothing(state, tag):
    element = next((a for a in state.adds if a.tag == tag), Add(tag, PRODUCTS[0], 1))
    once = state.add(element)
    assert once.add(element) == once
    assert once.add(Add(tag, PRODUCTS[-1], 99)) == once  # a tag already known is ignored, whatever it says


# --- Two devices' operation logs --------------------------------------------------------------

# A device's step as it is recorded in its log: ("add", Add) or ("remove", observed tags).
device_steps = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(PRODUCTS), st.integers(1, 5)),
    st.tuples(st.just("set"), st.sampled_from(PRODUCTS), st.integers(0, 5)),
    st.tuples(st.just("remove_product"), st.sampled_from(PRODUCTS), st.just(0)),
    st.tuples(st.just("remove_some"), st.sampled_from(PRODUCTS), st.integers(0, 2**16)),
)


def run_device(base: CartState, steps, *, device: int) -> tuple[CartState, list]:
    """What one offline device does from `base`: its final state and the log it would send."""
    state, log = base, []
    for index, (kind, product, number) in enumerate(steps):
        tag = uuid.UUID(int=(device << 64) + index + 1)  # fresh and unique to this device
        if kind == "add":
            entries = [("add", Add(tag, product, number))]
        elif kind == "set":
            entries = [("remove", state.observed_tags(product))]
            entries += [("add", Add(tag, product, number))] if number else []
        elif kind == "remove_product":
            entries = [("remove", state.observed_tags(product))]
        else:  # remove a subset of the observed tags of the product, chosen by the bits of `number`
            observed = sorted(state.observed_tags(product))
            entries = [("remove", frozenset(t for i, t in enumerate(observed) if number >> i & 1))]
        for entry in entries:
            state = apply_entry(state, entry)
            log.append(entry)
    return state, log


def apply_entry(state: CartState, entry) -> CartState:
    kind, payload = entry
    return state.add(payload) if kind == "add" else state.remove(payload)


@given(cart_states(), st.lists(device_steps, max_size=8), st.lists(device_steps, max_size=8), st.data())
def test_any_interleaving_of_two_logs_gives_the_merged_cart(base, steps_a, steps_b, data):
    # given: two devices that both start from `base` and work offline
    state_a, log_a = run_device(base, steps_a, device=1)
    state_b, log_b = run_device(base, steps_b, device=2)
    # when: the server receives both logs in some interleaving (each device's own order kept)
    picks = data.draw(st.permutations(["a"] * len(log_a) + ["b"] * len(log_b)))
    queues = {"a": iter(log_a), "b": iter(log_b)}
    server = base
    for pick in picks:
        server = apply_entry(server, next(queues[pick]))
    # then
    assert server == merge(state_a, state_b)
    assert server.lines() == merge(state_a, state_b).lines()


@given(cart_states(), st.sampled_from(PRODUCTS), st.integers(0, 99))
def test_setting_a_quantity_makes_the_line_that_quantity_and_leaves_the_others(state, product, quantity):
    after = state.set_quantity(product, quantity, uuid.uuid4())
    expected = {p: q for p, q in state.lines().items() if p != product}
    if quantity:
        expected[product] = quantity
    assert after.lines() == expected
    assert after.tombstones == state.tombstones | state.observed_tags(product)


def test_two_devices_that_each_set_three_offline_end_with_six():
    # given: both devices synced a line of 1
    base = CartState().add(Add(uuid.uuid4(), 1, 1))
    # when: each sets the line to 3 offline, then they sync
    phone = base.set_quantity(1, 3, uuid.uuid4())
    laptop = base.set_quantity(1, 3, uuid.uuid4())
    # then: each set removed only the tag it had seen and added one of 3
    assert phone.lines() == laptop.lines() == {1: 3}
    assert merge(phone, laptop).lines() == {1: 6}


@given(cart_states(), st.integers(0, 20), st.integers(0, 20))
def test_concurrent_sets_of_one_line_add_up(base, first, second):
    one = base.set_quantity(2, first, uuid.uuid4())
    other = base.set_quantity(2, second, uuid.uuid4())
    merged = merge(one, other)
    assert merged.lines().get(2, 0) == first + second
    assert {p: q for p, q in merged.lines().items() if p != 2} == {p: q for p, q in base.lines().items() if p != 2}


def test_a_remove_does_not_take_an_add_it_never_saw():
    seen, unseen = Add(uuid.uuid4(), 1, 2), Add(uuid.uuid4(), 1, 4)
    phone = CartState().add(seen)
    laptop = phone.add(unseen)  # the laptop synced the phone's add, then added 4 more
    emptied = phone.remove(phone.observed_tags(1))  # the phone removes the line it sees
    assert merge(emptied, laptop).lines() == {1: 4}
    assert merge(emptied, laptop).live() == [unseen]


def test_a_remove_arriving_before_its_add_still_removes_it():
    element = Add(uuid.uuid4(), 3, 1)
    assert CartState().remove({element.tag}).add(element).lines() == {}
