"""Every write of the cart: the observe-remove set of cart/crdt.py on rows.

Each top-level service is one durable transaction that locks the cart row first, so operations
on one cart are applied one after another; inserts are insert-or-ignore on the tag, so replays
change nothing. Limits (1..99 per line, 100 lines, no more than in stock) are enforced when a customer edits; a
merge or a device's offline sync cannot be refused (that would break convergence), so the read
clamps what a merge produced and warns about lines above stock (cart.selectors).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef

from cart import selectors
from cart.crdt import Add
from cart.exceptions import (
    CartClosed,
    CartFull,
    InvalidQuantity,
    NotEnoughStock,
    ProductNotAvailable,
    ResyncRequired,
)
from cart.models import MAX_LINES, MAX_QUANTITY, Cart, CartAdd, CartStatus, CartTombstone
from catalog import selectors as catalog_selectors
from inventory import selectors as inventory_selectors
from shop.guest import guest_key
from shop.sql import now_for, quoted

COMPACT_ABOVE_ROWS = 400  # adds + tombstones of one cart; past this, compaction collapses them


# A device's add is exactly an element of the observe-remove set of cart/crdt.py.
AddOperation = Add


@dataclass(frozen=True)
class RemoveOperation:
    tags: tuple[uuid.UUID, ...]


Operation = AddOperation | RemoveOperation


# --- Finding the cart ---------------------------------------------------------------------------


def get_or_create_cart(*, user=None, guest_token: str | None = None) -> Cart:
    """The open cart of the account (or of the guest token), created on first use. Race-safe."""
    signed_in = user is not None and user.is_authenticated
    assert signed_in or guest_token, "a cart needs a user or a guest token"
    owner = {"user": user} if signed_in else {"guest_key": guest_key(guest_token)}
    cart = Cart.objects.filter(status=CartStatus.OPEN, **owner).first()
    if cart is not None:
        return cart
    try:
        with transaction.atomic():
            return Cart.objects.create(**owner)
    except IntegrityError:  # a concurrent request created it first (one open cart per owner)
        return Cart.objects.get(status=CartStatus.OPEN, **owner)


# --- Customer edits (line endpoints, storefront) -----------------------------------------------


@transaction.atomic(durable=True)
def add_item(*, cart_id: int, product_id: int, quantity: int, tag: uuid.UUID | None = None, device: str = "") -> Cart:
    """Add `quantity` of a product (one new tagged add).

    Raises ProductNotAvailable, InvalidQuantity, CartFull, NotEnoughStock (the line would pass the
    units in stock now: the message says how many can still be added).
    """
    cart = _lock_open_cart(cart_id)
    prices = _sellable_prices([product_id], field="product_id")
    _check_quantity(quantity)
    in_cart = sum(a.quantity for a in selectors.live_adds(cart_id=cart.pk) if a.product_id == product_id)
    if in_cart + quantity > MAX_QUANTITY:
        raise InvalidQuantity(message=f"At most {MAX_QUANTITY} per product: you have {in_cart} in your cart.")
    _check_stock(product_id, wanted=in_cart + quantity, in_cart=in_cart, adding=True)
    _check_room(cart, new_products={product_id})
    _insert_adds(cart, [AddOperation(tag or uuid.uuid4(), product_id, quantity)], prices, device)
    return _touch(cart)


@transaction.atomic(durable=True)
def set_quantity(*, cart_id: int, product_id: int, quantity: int, device: str = "") -> Cart:
    """Set a line: tombstone its observed tags, add one tag of `quantity` (0 removes the line).

    Raises ProductNotAvailable, InvalidQuantity, CartFull, NotEnoughStock (more than in stock now).
    """
    cart = _lock_open_cart(cart_id)
    if quantity != 0:
        _check_quantity(quantity)
        prices = _sellable_prices([product_id], field="product_id")
        _check_stock(product_id, wanted=quantity, in_cart=0, adding=False)
        _check_room(cart, new_products={product_id})
    _insert_tombstones(cart, selectors.live_tags(cart_id=cart.pk, product_id=product_id))
    if quantity:
        _insert_adds(cart, [AddOperation(uuid.uuid4(), product_id, quantity)], prices, device)
    return _touch(cart)


@transaction.atomic(durable=True)
def remove_product(*, cart_id: int, product_id: int) -> Cart:
    """Remove a line: tombstone every tag of it this cart has observed."""
    cart = _lock_open_cart(cart_id)
    _insert_tombstones(cart, selectors.live_tags(cart_id=cart.pk, product_id=product_id))
    return _touch(cart)


@transaction.atomic(durable=True)
def clear_cart(*, cart_id: int) -> Cart:
    """Empty the cart: tombstone every live tag."""
    cart = _lock_open_cart(cart_id)
    _insert_tombstones(cart, selectors.live_tags(cart_id=cart.pk))
    return _touch(cart)


def close_cart(*, cart_id: int) -> Cart:
    """Mark the cart checked out: it takes no more edits, and the owner's next add opens a new one.

    Runs inside the caller's transaction (orders.services.place_order; asserted, not durable).
    Raises CartClosed when it was merged or checked out already (a second submit of one cart).
    """
    assert transaction.get_connection().in_atomic_block, "close_cart() runs inside the checkout's transaction"
    cart = _lock_open_cart(cart_id)
    cart.status = CartStatus.CHECKED_OUT
    cart.save(update_fields=["status", "updated_at"])
    return cart


def check_out_open_cart(*, user=None, guest_token: str | None = None) -> Cart | None:
    """Close the open cart of the signed-in user (else of the guest token) for checkout, in one
    conditional UPDATE ... RETURNING; None when there is no open cart.

    Runs inside the caller's transaction (orders.services.place_order; asserted). The row stays
    locked until that commits: a concurrent submit of the same cart waits here, then finds it
    closed (None); if the checkout rolls back, the cart is open again.
    """
    assert transaction.get_connection().in_atomic_block, "check_out_open_cart() runs inside the checkout's transaction"
    if user is not None and user.is_authenticated:
        owner_field, owner = "user", user.pk
    elif guest_token:
        owner_field, owner = "guest_key", guest_key(guest_token)
    else:
        return None
    table, (pk, owned_by, status, updated_at) = quoted(Cart, "id", owner_field, "status", "updated_at")
    sql = (
        f"UPDATE {table} SET {status} = %s, {updated_at} = %s WHERE {status} = %s AND {pk} = "  # noqa: S608
        f"(SELECT {pk} FROM {table} WHERE {owned_by} = %s AND {status} = %s ORDER BY {pk} LIMIT 1) RETURNING {pk}"
    )
    now = now_for(Cart, "updated_at")
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(sql, [CartStatus.CHECKED_OUT, now, CartStatus.OPEN, owner, CartStatus.OPEN])
        row = cursor.fetchone()
    if row is None:
        return None
    cart = Cart(pk=row[0], status=CartStatus.CHECKED_OUT)
    cart.guest_key = owner if owner_field == "guest_key" else None
    return cart


# --- Device sync ---------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def apply_operations(*, cart_id: int, base_epoch: int, operations: list[Operation], device: str = "") -> Cart:
    """Apply a device's batch whole or not at all; a replayed batch changes nothing.

    Raises ResyncRequired when `base_epoch` predates the cart's epoch (a compaction happened
    since the device last synced), ProductNotAvailable / InvalidQuantity naming the operation
    ("operations.3.product_id"), CartFull when new products would pass 100 lines.
    """
    cart = _lock_open_cart(cart_id)
    if base_epoch < cart.epoch:
        raise ResyncRequired(epoch=cart.epoch)
    for index, op in enumerate(operations):
        if isinstance(op, AddOperation) and not 1 <= op.quantity <= MAX_QUANTITY:
            raise InvalidQuantity(field=f"operations.{index}.quantity")
    # An add whose tag the cart already holds is a replay; one whose tag is already tombstoned
    # (its remove arrived first) can never be live. Neither is a new line, so neither a product
    # sold out since nor a full cart may refuse them.
    added, removed = selectors.known_tags(
        cart_id=cart.pk, tags=[op.tag for op in operations if isinstance(op, AddOperation)]
    )
    removed |= {tag for op in operations if isinstance(op, RemoveOperation) for tag in op.tags}
    checked = [op if isinstance(op, AddOperation) and op.tag not in added | removed else None for op in operations]
    adds = [op for op in checked if op is not None]
    prices = _sellable_prices(
        [op.product_id for op in adds], field="product_id", operations=[op or RemoveOperation(()) for op in checked]
    )
    _check_room(cart, new_products={op.product_id for op in adds})
    dead = [op for op in operations if isinstance(op, AddOperation) and op.tag in removed - added]
    prices.update(catalog_selectors.get_sellable_prices(product_ids=[op.product_id for op in dead]))
    adds += [op for op in dead if op.product_id in prices]  # kept for the record (and merges)
    _insert_adds(cart, adds, prices, device)
    _insert_tombstones(cart, [tag for op in operations if isinstance(op, RemoveOperation) for tag in op.tags])
    if selectors.count_rows(cart_id=cart.pk) > COMPACT_ABOVE_ROWS:
        _compact(cart)
    return _touch(cart)


@transaction.atomic(durable=True)
def compact_cart(*, cart_id: int) -> Cart:
    """Collapse each product's live tags into one and drop the tombstones; raises the epoch."""
    cart = _lock_open_cart(cart_id)
    _compact(cart)
    return _touch(cart)


def _compact(cart: Cart) -> None:
    live = selectors.live_adds(cart_id=cart.pk)
    by_product: dict[int, list[CartAdd]] = {}
    for add in live:
        by_product.setdefault(add.product_id, []).append(add)
    CartTombstone.objects.filter(cart=cart).delete()
    CartAdd.objects.filter(cart=cart).delete()
    CartAdd.objects.bulk_create(
        CartAdd(cart=cart, tag=uuid.uuid4(), product_id=product_id, quantity=min(sum(a.quantity for a in adds), MAX_QUANTITY),
                unit_price=adds[-1].unit_price, device="compaction")
        for product_id, adds in by_product.items()
    )  # fmt: skip
    # A device whose log names the old tags must resync: its replay could otherwise re-add them.
    cart.epoch += 1
    cart.save(update_fields=["epoch", "updated_at"])


# --- Merge ---------------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def merge_carts(*, into_cart_id: int, from_cart_id: int) -> Cart:
    """Union `from`'s adds and tombstones into `into`; `from` is closed as merged. Idempotent.

    Never refused (limits are applied when the cart is read). Locks both carts in id order.
    """
    carts = selectors.lock_carts(cart_ids=[into_cart_id, from_cart_id])
    into, source = carts[into_cart_id], carts[from_cart_id]
    if into.status != CartStatus.OPEN:
        raise CartClosed()
    if source.status == CartStatus.OPEN and into.pk != source.pk:
        _union_into(into, source)
        source.status = CartStatus.MERGED
        source.save(update_fields=["status", "updated_at"])
    return _touch(into)


def merge_guest_cart(*, user, guest_token: str) -> Cart | None:
    """At sign-in: the guest's open cart (if any) merges into the account's cart."""
    guest = Cart.objects.filter(status=CartStatus.OPEN, guest_key=guest_key(guest_token)).first()
    if guest is None:
        return None
    try:
        return merge_carts(into_cart_id=get_or_create_cart(user=user).pk, from_cart_id=guest.pk)
    except CartClosed:  # the account's cart was checked out meanwhile: merge into its new one
        return merge_carts(into_cart_id=get_or_create_cart(user=user).pk, from_cart_id=guest.pk)


def _union_into(into: Cart, source: Cart) -> None:
    known_adds = CartAdd.objects.filter(cart=into, tag=OuterRef("tag"))
    CartAdd.objects.bulk_create(
        [CartAdd(cart=into, tag=a.tag, product_id=a.product_id, quantity=a.quantity, unit_price=a.unit_price, device=a.device)
         for a in CartAdd.objects.filter(cart=source).exclude(Exists(known_adds))],
        ignore_conflicts=True,
    )  # fmt: skip
    _insert_tombstones(into, CartTombstone.objects.filter(cart=source).values_list("tag", flat=True))


# --- Helpers -------------------------------------------------------------------------------------


def _lock_open_cart(cart_id: int) -> Cart:
    """Lock the cart; a cart merged or checked out since the caller found it takes no more writes
    (the client fetches its cart again and resends: its tags make the resend harmless)."""
    cart = selectors.lock_cart(cart_id=cart_id)
    if cart.status != CartStatus.OPEN:
        raise CartClosed()
    return cart


def _check_quantity(quantity: int) -> None:
    if not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidQuantity()


def _check_stock(product_id: int, *, wanted: int, in_cart: int, adding: bool) -> None:
    """Refuse an interactive edit that asks for more than is in stock now (read on the primary:
    the service's transaction). Checkout checks again, and allocation is the authority."""
    available = inventory_selectors.get_level(product_id=product_id)
    if wanted <= available:
        return
    title = next(iter(catalog_selectors.get_product_cards(product_ids=[product_id])), {}).get("title", "this product")
    if available <= 0:
        raise NotEnoughStock(message=f"{title} is out of stock at the moment.", available=0)
    if not adding:
        message = f"Only {available} of {title} left: choose {available} or fewer."
    elif in_cart >= available:
        message = f"Only {available} of {title} left, and your cart already has {in_cart}."
    elif in_cart:
        message = f"Only {available} of {title} left: you can add {available - in_cart} more (your cart has {in_cart})."
    else:
        message = f"Only {available} of {title} left: you can add up to {available}."
    raise NotEnoughStock(message=message, available=max(available - in_cart, 0) if adding else available)


def _sellable_prices(product_ids: list[int], *, field: str, operations: list[Operation] | None = None) -> dict:
    prices = catalog_selectors.get_sellable_prices(product_ids=list(set(product_ids)))
    for index, op in enumerate(operations or []):
        if isinstance(op, AddOperation) and op.product_id not in prices:
            raise ProductNotAvailable(field=f"operations.{index}.{field}")
    if operations is None and any(p not in prices for p in product_ids):
        raise ProductNotAvailable(field=field)
    return prices


def _check_room(cart: Cart, *, new_products: set[int]) -> None:
    present = selectors.live_product_ids(cart_id=cart.pk)
    if len(present | new_products) > MAX_LINES and not new_products <= present:
        raise CartFull()


def _insert_adds(cart: Cart, adds: Iterable[AddOperation], prices: dict, device: str) -> None:
    CartAdd.objects.bulk_create(
        [CartAdd(cart=cart, tag=a.tag, product_id=a.product_id, quantity=a.quantity, unit_price=prices[a.product_id],
                 device=device[:64]) for a in adds],
        ignore_conflicts=True,  # insert-or-ignore on (cart, tag): a replay changes nothing
    )  # fmt: skip


def _insert_tombstones(cart: Cart, tags: Iterable[uuid.UUID]) -> None:
    CartTombstone.objects.bulk_create([CartTombstone(cart=cart, tag=t) for t in set(tags)], ignore_conflicts=True)


def _touch(cart: Cart) -> Cart:
    cart.save(update_fields=["updated_at"])
    return cart
