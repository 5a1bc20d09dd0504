"""The cart's merge rules as a pure model: an observe-remove set of tagged adds.

This module is the specification (and the oracle of the property tests); the database services
in cart/services.py implement the same rules on rows.

- Every add is an element with a unique tag (a UUID the client or server generates once):
  (tag, product, quantity). Inserting a tag that exists changes nothing (insert-or-ignore), so a
  replayed operation is harmless.
- A remove names exactly the tags it observed; they become tombstones. An add is lost only if a
  remove observed its tag. An add made concurrently with (or after) a remove survives.
- The cart's content is the adds whose tag is not tombstoned. **A line's quantity is the sum of
  the quantities of its live tags.** Consequence: two devices that each set a line to 3 while
  offline end with 6 after they sync (each set tombstoned only the tags it had seen and added
  one tag of 3). Adds are never lost; the customer sees 6 and can correct it.
- Setting a quantity = tombstone the observed live tags of that product + one new add.
- Merge is the union of the adds and the union of the tombstones: commutative, associative and
  idempotent, so any interleaving of two devices' logs gives the same cart.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Add:
    tag: uuid.UUID
    product_id: int
    quantity: int


@dataclass(frozen=True)
class CartState:
    adds: frozenset[Add] = field(default_factory=frozenset)
    tombstones: frozenset[uuid.UUID] = field(default_factory=frozenset)

    def add(self, element: Add) -> CartState:
        if any(a.tag == element.tag for a in self.adds):  # insert-or-ignore on the tag
            return self
        return CartState(self.adds | {element}, self.tombstones)

    def remove(self, tags: set[uuid.UUID] | frozenset[uuid.UUID]) -> CartState:
        return CartState(self.adds, self.tombstones | frozenset(tags))

    def live(self) -> list[Add]:
        return [a for a in self.adds if a.tag not in self.tombstones]

    def observed_tags(self, product_id: int) -> frozenset[uuid.UUID]:
        return frozenset(a.tag for a in self.live() if a.product_id == product_id)

    def set_quantity(self, product_id: int, quantity: int, tag: uuid.UUID) -> CartState:
        state = self.remove(self.observed_tags(product_id))
        return state.add(Add(tag, product_id, quantity)) if quantity > 0 else state

    def lines(self) -> dict[int, int]:
        """{product_id: quantity}: the sum of each product's live tags."""
        totals: dict[int, int] = defaultdict(int)
        for a in self.live():
            totals[a.product_id] += a.quantity
        return dict(totals)


def merge(a: CartState, b: CartState) -> CartState:
    """The union of adds and of tombstones (a tag names one add, so the union of adds is by tag)."""
    by_tag = {x.tag: x for x in a.adds}
    for x in b.adds:
        by_tag.setdefault(x.tag, x)
    return CartState(frozenset(by_tag.values()), a.tombstones | b.tombstones)
