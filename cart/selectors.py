"""Every read of the cart: the live content (adds not tombstoned) and the page/API view of it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import Exists, IntegerField, Max, Min, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Cast

from cart.models import MAX_LINES, MAX_QUANTITY, Cart, CartAdd, CartStatus, CartTombstone
from catalog import selectors as catalog_selectors
from shop.guest import guest_key

CENT = Decimal("0.01")


def lock_cart(*, cart_id: int) -> Cart:
    assert transaction.get_connection().in_atomic_block, "lock_cart() needs an open transaction"
    return Cart.objects.select_for_update(of=("self",)).get(pk=cart_id)


def lock_carts(*, cart_ids: list[int]) -> dict[int, Cart]:
    """Lock several carts in id order (two merges never deadlock); returns them by id."""
    assert transaction.get_connection().in_atomic_block, "lock_carts() needs an open transaction"
    return {c.pk: c for c in Cart.objects.filter(pk__in=cart_ids).order_by("pk").select_for_update(of=("self",))}


def _live(cart_id: int) -> QuerySet[CartAdd]:
    removed = CartTombstone.objects.filter(cart_id=cart_id, tag=OuterRef("tag"))
    return CartAdd.objects.filter(cart_id=cart_id).exclude(Exists(removed))


def _live_in_open_carts(**owner) -> QuerySet[CartAdd]:
    removed = CartTombstone.objects.filter(cart_id=OuterRef("cart_id"), tag=OuterRef("tag"))
    return CartAdd.objects.filter(cart__status=CartStatus.OPEN, **owner).exclude(Exists(removed))


def _line_position() -> Subquery:
    """A line's place in the cart: the product's first add to this cart, live or removed since.

    So changing a quantity (which tombstones the line's tags and adds a new one) leaves the line
    where it was; merges and syncs keep the rule, since it is read, never stored.
    """
    first = CartAdd.objects.filter(cart_id=OuterRef("cart_id"), product_id=OuterRef("product_id")).order_by("id")
    return Subquery(first.values("id")[:1])


def _units(adds: QuerySet[CartAdd]) -> int:
    """Units as the cart page counts them: the first 100 lines (in line order), products still
    sold, each line clamped to 99."""
    per_line = (
        adds.annotate(position=_line_position())
        .values("product_id")
        .annotate(units=Sum("quantity"), first=Min("position"), sold=Max(Cast("product__is_active", IntegerField())))
        .order_by("first")[:MAX_LINES]
    )
    return sum(min(row["units"], MAX_QUANTITY) for row in per_line if row["sold"])


def live_adds(*, cart_id: int) -> list[CartAdd]:
    """Live adds in line order (each product's first add to the cart), then insertion order."""
    return list(_live(cart_id).annotate(position=_line_position()).order_by("position", "id"))


def live_tags(*, cart_id: int, product_id: int | None = None) -> list[uuid.UUID]:
    adds = _live(cart_id)
    if product_id is not None:
        adds = adds.filter(product_id=product_id)
    return list(adds.values_list("tag", flat=True))


def known_tags(*, cart_id: int, tags: list[uuid.UUID]) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """Which of these tags the cart holds as adds, and which as tombstones."""
    if not tags:
        return set(), set()
    added = CartAdd.objects.filter(cart_id=cart_id, tag__in=tags).values_list("tag", flat=True)
    removed = CartTombstone.objects.filter(cart_id=cart_id, tag__in=tags).values_list("tag", flat=True)
    return set(added), set(removed)


def live_product_ids(*, cart_id: int) -> set[int]:
    return set(_live(cart_id).values_list("product_id", flat=True).distinct())


def count_rows(*, cart_id: int) -> int:
    return CartAdd.objects.filter(cart_id=cart_id).count() + CartTombstone.objects.filter(cart_id=cart_id).count()


def find_open_cart(*, user=None, guest_token: str | None = None) -> Cart | None:
    """The open cart of the signed-in user, else of the guest token; None when there is none yet."""
    if user is not None and user.is_authenticated:
        return Cart.objects.filter(user=user, status=CartStatus.OPEN).first()
    if guest_token:
        return Cart.objects.filter(guest_key=guest_key(guest_token), status=CartStatus.OPEN).first()
    return None


@dataclass
class CartLine:
    product_id: int
    quantity: int
    tags: list[str]
    product: dict | None  # the catalog card; None when the product is no longer sold
    unit_price: Decimal | None
    line_total: Decimal
    availability: object | None
    notices: list[str] = field(default_factory=list)
    above_stock: int | None = None  # the units left, when the line asks for more than that


@dataclass
class CartView:
    cart_id: int | None
    epoch: int
    lines: list[CartLine]
    item_count: int
    subtotal: Decimal
    notices: list[str]


def _group(adds: list[CartAdd]) -> dict[int, dict]:
    """Live adds by product, in line order: the quantity rule (sum of live tags), the tags, the
    price of the latest add."""
    grouped: dict[int, dict] = {}
    for add in adds:
        entry = grouped.setdefault(add.product_id, {"quantity": 0, "tags": [], "added_price": add.unit_price})
        entry["quantity"] += add.quantity
        entry["tags"].append(str(add.tag))
        entry["added_price"] = add.unit_price
    return grouped


@dataclass(frozen=True)
class CheckoutLine:
    product_id: int
    quantity: int
    added_price: Decimal


def get_checkout_lines(*, cart_id: int) -> list[CheckoutLine]:
    """What checkout orders from this cart, in one query: the lines the cart page shows (the
    first 100, each clamped to 99), with the price each had when it was last added."""
    grouped = _group(live_adds(cart_id=cart_id))
    return [
        CheckoutLine(product_id=product_id, quantity=min(entry["quantity"], MAX_QUANTITY), added_price=entry["added_price"])
        for product_id, entry in list(grouped.items())[:MAX_LINES]
    ]


def get_cart_view(*, cart: Cart | None) -> CartView:
    """The cart as a customer sees it: lines (sum of live tags per product, clamped to 1..99 and
    at most 100 lines with a notice), current prices, availability, notices and totals.

    A fixed number of queries whatever the number of lines: live adds, product cards (cached),
    current prices, availability.
    """
    if cart is None:
        return CartView(cart_id=None, epoch=0, lines=[], item_count=0, subtotal=Decimal("0.00"), notices=[])
    grouped = _group(live_adds(cart_id=cart.pk))
    notices: list[str] = []
    product_ids = list(grouped)
    if len(product_ids) > MAX_LINES:
        notices.append(f"Your cart can hold {MAX_LINES} different products; the oldest {MAX_LINES} are kept here.")
        product_ids = product_ids[:MAX_LINES]
    cards = {c["id"]: c for c in catalog_selectors.get_product_cards(product_ids=product_ids)}
    prices = catalog_selectors.get_sellable_prices(product_ids=product_ids)
    availability = catalog_selectors.get_availability(product_ids=product_ids)
    lines = []
    for product_id in product_ids:
        entry = grouped[product_id]
        line = CartLine(product_id=product_id, quantity=entry["quantity"], tags=entry["tags"], product=cards.get(product_id),
                        unit_price=prices.get(product_id), line_total=Decimal("0.00"),
                        availability=availability.get(product_id))  # fmt: skip
        if line.quantity > MAX_QUANTITY:
            line.notices.append(f"At most {MAX_QUANTITY} per product: the quantity was lowered to {MAX_QUANTITY}.")
            line.quantity = MAX_QUANTITY
        if line.unit_price is None or line.product is None:
            line.notices.append("This product is no longer sold and will not be ordered.")
        else:
            if line.unit_price != entry["added_price"]:
                line.notices.append(f"The price changed from {entry['added_price']} to {line.unit_price}.")
            if line.availability is not None and line.availability.status == "out_of_stock":
                line.notices.append("Out of stock at the moment.")
            elif line.availability is not None and line.quantity > line.availability.quantity:
                # A merge or an offline sync is never refused: the page says what checkout would refuse.
                left = line.availability.quantity
                line.notices.append(f"Only {left} left: your cart has {line.quantity}. Lower the quantity to {left} to order it.")
                line.above_stock = left
            line.line_total = (line.unit_price * line.quantity).quantize(CENT)
        lines.append(line)
    sold = [line for line in lines if line.unit_price is not None and line.product is not None]
    return CartView(
        cart_id=cart.pk,
        epoch=cart.epoch,
        lines=lines,
        item_count=sum(line.quantity for line in sold),
        subtotal=sum((line.line_total for line in sold), Decimal("0.00")),
        notices=notices,
    )


def get_cart_recommendations(*, view: CartView) -> catalog_selectors.Recommendations:
    """"Customers also bought" for the cart's first lines still sold, without what the cart holds
    (two cache round trips and one query warm, whatever the number; nothing for an empty cart)."""
    sold = [line.product for line in view.lines if line.product is not None]
    slugs = [card["slug"] for card in sold[: catalog_selectors.CART_LINES_RECOMMENDED_FOR]]
    if not slugs:
        return catalog_selectors.Recommendations([], None)
    return catalog_selectors.get_recommendations(slugs=slugs, exclude={line.product_id for line in view.lines})


def count_items(*, cart: Cart | None) -> int:
    """Units in the cart, as its page counts them (one query)."""
    return 0 if cart is None else _units(_live(cart.pk))


def count_items_for(*, user=None, guest_token: str | None = None) -> int:
    """The header's count for a visitor, in one query (none without a user or a guest token)."""
    if user is not None and user.is_authenticated:
        return _units(_live_in_open_carts(cart__user=user))
    if guest_token:
        return _units(_live_in_open_carts(cart__guest_key=guest_key(guest_token)))
    return 0
