"""Every write of the inventory: levels, restocks, staff adjustments and seller feeds, each on the ledger.

How every service here works (STYLE.md sections 5 and 7, ARCHITECTURE.md flow 5):

- It owns one durable transaction. On PostgreSQL that transaction waits for a row or index lock
  at most LOCK_TIMEOUT; past it the service raises StockBusy (503; tasks retry it).
- It claims its ledger row first, inside a savepoint. StockMovement is unique by (cause, kind,
  product), so a retry, or a concurrent duplicate that waits on that index until the first one
  commits, finds the row and returns "already applied" without touching stock. The row is
  inserted with placeholder figures and completed (quantity, level_after) before commit; no
  other transaction can see it in between.
- Stock moves with one conditional UPDATE (F()) where the decision fits in one statement
  (restock, adjust). set_level must read the level to compute its delta, so it locks the row
  first (selectors.lock_stock_items).
- Stock never goes below zero: the conditional UPDATE refuses, and the CHECK constraint is the
  last line behind it.

Products are referred to by id only (inventory imports no other app). A product id that does
not exist is refused by the deferred foreign keys at commit and raised as UnknownProduct.

Inventory tells the rest of the shop through the outbox, in the change's own transaction: a
change applied now that takes a product's available units from 0 to more than 0 (a restock, a
seller feed, a staff adjustment, a cancelled order's release, a first level) publishes one
BACK_IN_STOCK message (payload: product_id, available). A replay applies nothing and publishes
nothing; a change from more than 0 to more publishes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from inventory import selectors
from inventory.exceptions import InvalidStockChange, OutOfStock, StockBusy, StockWouldGoNegative, UnknownProduct
from inventory.models import MovementKind, StockItem, StockMovement
from shop import outbox
from shop.sql import now_for, quoted

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

logger = logging.getLogger(__name__)

LOCK_TIMEOUT = "2s"  # the longest a stock transaction waits for a row or index lock (PostgreSQL)
# PostgreSQL SQLSTATEs: a lock wait past lock_timeout, a deadlock, a foreign key violation.
LOCK_NOT_AVAILABLE = "55P03"
DEADLOCK_DETECTED = "40P01"
FOREIGN_KEY_VIOLATION = "23503"
MAX_CAUSE_LENGTH = StockMovement._meta.get_field("cause").max_length
MAX_REASON_LENGTH = StockMovement._meta.get_field("reason").max_length
INITIAL_LEVELS_CHUNK = 1000  # products per statement pair in set_initial_levels (3 parameters each)
LEVEL_KINDS = (MovementKind.SET_LEVEL, MovementKind.FEED)  # the kinds of change set_level records

BACK_IN_STOCK = "stock.back_in_stock"  # outbox topic: a product's available units went from 0 to more

APPLIED = "applied"
ALREADY_APPLIED = "already_applied"
ERROR = "error"


@dataclass(frozen=True)
class StockChange:
    """One change on the ledger: what it did (quantity is the delta) and whether it happened now.

    applied=False means the cause was applied before (a replay): the figures are the first
    application's and nothing changed this time.
    """

    product_id: int
    kind: str
    cause: str
    quantity: int
    level_after: int
    applied: bool

    @property
    def already_applied(self) -> bool:
        return not self.applied


@dataclass(frozen=True)
class StockUpdate:
    """One line of a seller feed: set this product's level; update_id is the seller's own key."""

    update_id: str
    product_id: int
    quantity: int


@dataclass(frozen=True)
class StockUpdateResult:
    """The outcome of one feed line: applied, already_applied, or error (with the code and reason)."""

    update_id: str
    product_id: int
    status: str
    level_after: int | None = None
    error_code: str = ""
    reason: str = ""


def feed_cause(*, source: str, update_id: str) -> str:
    """The ledger cause of a feed line; the source keeps two sellers' update ids apart."""
    return f"feed:{source}:{update_id}"


def set_level(
    *,
    product_id: int,
    quantity: int,
    cause: str,
    kind: str = MovementKind.SET_LEVEL,
    reason: str = "",
    actor: AbstractBaseUser | None = None,
) -> StockChange:
    """Set the product's available units to `quantity` (a stock count, a seller's level).

    Durable transaction; creates the stock row if the product has none, then locks it (read,
    compute the delta, write). Writes one ledger row (quantity = the delta) keyed by (cause,
    kind, product): idempotent, a replay returns the first change with applied=False.
    Raises InvalidStockChange (field "quantity" when negative), UnknownProduct, StockBusy.
    """
    if kind not in LEVEL_KINDS:
        raise ValueError(f"set_level records kind {LEVEL_KINDS}, not {kind!r}")
    if quantity < 0:
        raise InvalidStockChange(field="quantity", message="A stock level cannot be negative.")
    _check_cause_and_reason(cause=cause, reason=reason)
    with _stock_transaction(product_id=product_id):
        movement, claimed = _claim_cause(product_id=product_id, kind=kind, cause=cause, reason=reason, actor=actor)
        if not claimed:
            return _change_from(movement, applied=False)
        item = _lock_or_create(product_id=product_id)
        delta = quantity - item.available
        if delta:
            StockItem.objects.filter(pk=item.pk).update(available=quantity, updated_at=timezone.now())
        return _complete(movement, delta=delta, level_after=quantity)


def restock(
    *, product_id: int, quantity: int, cause: str, reason: str = "", actor: AbstractBaseUser | None = None
) -> StockChange:
    """Add `quantity` (> 0) units that arrived (a delivery, a return to stock).

    Durable transaction, one conditional UPDATE (available = available + n), creating the stock
    row if the product has none. Idempotent by (cause, restock, product).
    Raises InvalidStockChange (field "quantity"), UnknownProduct, StockBusy.
    """
    if quantity <= 0:
        raise InvalidStockChange(field="quantity", message="A restock adds at least one unit.")
    _check_cause_and_reason(cause=cause, reason=reason)
    with _stock_transaction(product_id=product_id):
        kind = MovementKind.RESTOCK
        movement, claimed = _claim_cause(product_id=product_id, kind=kind, cause=cause, reason=reason, actor=actor)
        if not claimed:
            return _change_from(movement, applied=False)
        level = _add_units(product_id=product_id, delta=quantity)
        assert level is not None, "adding units is never refused"
        return _complete(movement, delta=quantity, level_after=level)


def adjust(*, product_id: int, delta: int, reason: str, actor: AbstractBaseUser | None, cause: str) -> StockChange:
    """A staff correction by `delta` units (negative takes stock away); the reason is required.

    Durable transaction, one conditional UPDATE that refuses to go below zero
    (WHERE available >= -delta). Idempotent by (cause, adjustment, product).
    Raises InvalidStockChange (field "delta" when zero, "reason" when blank),
    StockWouldGoNegative (nothing written), UnknownProduct, StockBusy.
    """
    if delta == 0:
        raise InvalidStockChange(field="delta", message="An adjustment changes stock by at least one unit.")
    if not reason.strip():
        raise InvalidStockChange(field="reason", message="Say why the stock is adjusted.")
    _check_cause_and_reason(cause=cause, reason=reason)
    with _stock_transaction(product_id=product_id):
        kind = MovementKind.ADJUSTMENT
        movement, claimed = _claim_cause(
            product_id=product_id, kind=kind, cause=cause, reason=reason.strip(), actor=actor
        )
        if not claimed:
            return _change_from(movement, applied=False)
        level = _add_units(product_id=product_id, delta=delta)
        if level is None:
            raise StockWouldGoNegative(product_id=product_id, requested=-delta)  # rolls back the claim too
        return _complete(movement, delta=delta, level_after=level)


def apply_stock_updates(*, source: str, updates: list[StockUpdate]) -> list[StockUpdateResult]:
    """Apply a seller feed in order: each line is set_level(kind=FEED, cause="feed:<source>:<update_id>").

    Each line runs in its own durable transaction, so a refused line (negative quantity, unknown
    product, busy row) is reported in its result and does not undo the others. Not a transaction
    itself: it must be called outside any (the first set_level would raise RuntimeError).
    Idempotent per (source, update_id): a replayed line reports already_applied.
    """
    results = []
    for update in updates:
        try:
            change = set_level(
                product_id=update.product_id,
                quantity=update.quantity,
                cause=feed_cause(source=source, update_id=update.update_id),
                kind=MovementKind.FEED,
            )
        except (InvalidStockChange, UnknownProduct, StockBusy) as exc:
            logger.warning("stock update %s from %s refused: %s", update.update_id, source, exc.code)
            results.append(
                StockUpdateResult(
                    update_id=update.update_id,
                    product_id=update.product_id,
                    status=ERROR,
                    error_code=exc.code,
                    reason=exc.message,
                )
            )
            continue
        results.append(
            StockUpdateResult(
                update_id=update.update_id,
                product_id=update.product_id,
                status=APPLIED if change.applied else ALREADY_APPLIED,
                level_after=change.level_after,
            )
        )
    return results


def set_initial_levels(*, levels: dict[int, int], cause: str) -> int:
    """Give products that were never stocked their first level, in bulk (demo data, a one-off import).

    Runs inside the caller's transaction (asserted; not durable), in two statements per
    INITIAL_LEVELS_CHUNK products. A product that already has a stock row is left exactly as it
    is, so running it again changes nothing. Each product it stocks gets one ledger row (kind
    set_level, this cause, quantity = level_after = its level). Returns how many it stocked.
    Raises InvalidStockChange (field "levels" for a negative level, "cause").
    """
    assert transaction.get_connection().in_atomic_block, "set_initial_levels() runs inside the caller's transaction"
    if any(isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0 for quantity in levels.values()):
        raise InvalidStockChange(field="levels", message="Stock levels are whole numbers, zero or more.")
    _check_cause_and_reason(cause=cause, reason="")
    rows = sorted(levels.items())  # product id order, like every other stock write
    stocked = 0
    for start in range(0, len(rows), INITIAL_LEVELS_CHUNK):
        chunk = dict(rows[start : start + INITIAL_LEVELS_CHUNK])
        inserted = _insert_missing_stock_items(list(chunk.items()))
        if inserted:
            _insert_initial_movements(product_ids=inserted, cause=cause)
            _announce_back_in_stock({product_id: chunk[product_id] for product_id in inserted})
        stocked += len(inserted)
    return stocked


def set_low_stock_threshold(*, product_id: int, threshold: int | None) -> None:
    """Set the product's own low-stock threshold (None: the shop's default applies again). One
    UPDATE of a threshold, not of stock: no ledger row, no lock. Raises InvalidStockChange (field
    "low_stock_threshold") below zero, UnknownProduct when the product has no stock row."""
    if threshold is not None and threshold < 0:
        raise InvalidStockChange(field="low_stock_threshold", message="A threshold is zero units or more.")
    if not StockItem.objects.filter(product_id=product_id).update(low_stock_threshold=threshold):
        raise UnknownProduct(product_id=product_id)


def order_cause(*, order_id: int) -> str:
    """The ledger cause of an order's allocation and of its release."""
    return f"order:{order_id}"


def allocate(*, order_id: int, lines: list[tuple[int, int]]) -> list[StockChange]:
    """Take stock for every (product_id, quantity) line of one order: all lines, or none.

    A batch of one (allocate_batch): runs inside the caller's transaction (asserted, not durable),
    locks the stock rows in product-id order, writes one ledger row per product keyed by
    ("order:<id>", allocation, product), so a retry of an allocation that committed returns its
    changes with applied=False and takes nothing. Lock waits are bounded (LOCK_TIMEOUT) for the
    rest of the caller's transaction. Raises OutOfStock (the first short product, in product-id
    order; nothing taken), StockBusy, InvalidStockChange.
    """
    (decision,) = allocate_batch(requests=[AllocationRequest(order_id=order_id, lines=tuple(lines))]).decisions
    if decision.shortage is not None:
        raise OutOfStock(**decision.shortage.__dict__)
    return list(decision.changes)


# --- Allocation in batches (ARCHITECTURE.md flow 5) ------------------------------------------------
#
# A batch of orders is decided first come, first served in memory and written set-based: one
# UPDATE ... FROM (VALUES ...) for every stock row it changes, one INSERT for its ledger rows. The
# result is exactly that of allocating the orders one by one in the order given. The caller can
# write what follows from the decisions (the orders' states) before the stock rows are locked:
# plan_allocation() decides on levels read without a lock, apply_allocation() then locks the rows
# (product-id order), decides again on the locked levels and writes only if every decision is the
# same (levels moved by other allocators rarely change a decision); otherwise it raises
# AllocationPlanChanged and the caller falls back to allocate_batch(), which decides under the lock.


@dataclass(frozen=True)
class AllocationRequest:
    """One order to allocate: its id and its (product_id, quantity) lines."""

    order_id: int
    lines: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Shortage:
    """Why an order was refused: the first product (in product-id order) it wants more of than is left."""

    product_id: int
    requested: int
    available: int


@dataclass(frozen=True)
class AllocationDecision:
    """One order's outcome: its stock changes (allocated), or the shortage that refused it (nothing taken)."""

    order_id: int
    changes: tuple[StockChange, ...] = ()
    shortage: Shortage | None = None

    @property
    def allocated(self) -> bool:
        return self.shortage is None


@dataclass(frozen=True)
class AllocationPlan:
    """The decisions of a batch, in the order the requests were given."""

    requests: tuple[AllocationRequest, ...]
    decisions: tuple[AllocationDecision, ...]
    replayed: frozenset[int] = frozenset()  # orders whose allocation committed before (nothing taken now)

    def outcomes(self) -> tuple:
        """What the orders' side depends on: who was allocated, and every shortage's figures."""
        return tuple((d.order_id, d.shortage) for d in self.decisions)


class AllocationPlanChanged(Exception):
    """The locked levels decide some order differently from the plan; nothing was written."""


def plan_allocation(*, requests: list[AllocationRequest]) -> AllocationPlan:
    """Decide a batch on the levels read now, without a lock (two queries: earlier allocations, levels).

    Writes nothing. Raises InvalidStockChange when an order has no line or a line below one unit.
    """
    requests = tuple(AllocationRequest(order_id=r.order_id, lines=tuple(_merge_lines(list(r.lines)))) for r in requests)
    replays = _earlier_allocations(order_ids=[r.order_id for r in requests])
    products = sorted({product_id for r in requests if r.order_id not in replays for product_id, _ in r.lines})
    levels = selectors.get_levels(product_ids=products)
    return _decide(requests, replays, levels)[0]


def apply_allocation(*, plan: AllocationPlan, strict: bool = True) -> AllocationPlan:
    """Lock the batch's stock rows (product-id order), decide again on the locked levels and write.

    Inside the caller's transaction (asserted; the caller's savepoint undoes it on an error), with
    bounded lock waits. strict: when a decision differs from the plan's, raise
    AllocationPlanChanged with nothing written; not strict: write the new decisions. Returns the decisions
    written, with the ledger's figures. Raises StockBusy.
    """
    assert transaction.get_connection().in_atomic_block, "apply_allocation() runs inside the caller's transaction"
    replays = {d.order_id: d.changes for d in plan.decisions if d.order_id in plan.replayed}
    products = sorted({p for r in plan.requests if r.order_id not in replays for p, _ in r.lines})
    with _busy_as_stock_busy():  # no savepoint of its own: nothing is written before the last check
        _bound_lock_wait()
        locked = {item.product_id: item.available for item in selectors.lock_stock_items(product_ids=products)}
        decided, levels = _decide(plan.requests, replays, {p: locked.get(p, 0) for p in products})
        if strict and decided.outcomes() != plan.outcomes():
            raise AllocationPlanChanged()
        _write_levels({p: level for p, level in levels.items() if level != locked.get(p, 0)})
        StockMovement.objects.bulk_create(
            [
                StockMovement(product_id=change.product_id, kind=change.kind, cause=change.cause,
                              quantity=change.quantity, level_after=change.level_after)
                for decision in decided.decisions if decision.order_id not in replays
                for change in decision.changes
            ]
        )  # fmt: skip
    return decided


def allocate_batch(*, requests: list[AllocationRequest]) -> AllocationPlan:
    """Allocate a batch of orders, first come first served in the order given: each is allocated
    (all its lines) or refused naming its first short product, with nothing taken.

    Inside the caller's transaction (asserted): locks every stock row the batch touches once, in
    product-id order, then one UPDATE for the levels and one INSERT for the ledger rows (unique per
    order and product: a batch retried after it committed takes nothing twice). Raises StockBusy,
    InvalidStockChange.
    """
    return apply_allocation(plan=plan_allocation(requests=requests), strict=False)


def _decide(
    requests: tuple[AllocationRequest, ...], replays: dict[int, tuple[StockChange, ...]], levels: dict[int, int]
) -> tuple[AllocationPlan, dict[int, int]]:
    """The one-by-one rule, in memory: returns the plan and the levels after it."""
    levels = dict(levels)
    decisions = []
    for request in requests:
        if request.order_id in replays:
            decisions.append(AllocationDecision(order_id=request.order_id, changes=replays[request.order_id]))
            continue
        short = next(((p, q) for p, q in request.lines if levels[p] < q), None)
        if short is not None:
            shortage = Shortage(product_id=short[0], requested=short[1], available=levels[short[0]])
            decisions.append(AllocationDecision(order_id=request.order_id, shortage=shortage))
            continue
        cause = order_cause(order_id=request.order_id)
        changes = []
        for product_id, quantity in request.lines:
            levels[product_id] -= quantity
            changes.append(StockChange(product_id=product_id, kind=MovementKind.ALLOCATION, cause=cause,
                                       quantity=-quantity, level_after=levels[product_id], applied=True))  # fmt: skip
        decisions.append(AllocationDecision(order_id=request.order_id, changes=tuple(changes)))
    plan = AllocationPlan(requests=requests, decisions=tuple(decisions), replayed=frozenset(replays))
    return plan, levels


def _earlier_allocations(*, order_ids: list[int]) -> dict[int, tuple[StockChange, ...]]:
    """The allocations of these orders already on the ledger (a replay), by order id; one query."""
    causes = {order_cause(order_id=order_id): order_id for order_id in order_ids}
    found: dict[int, list[StockChange]] = {}
    movements = StockMovement.objects.filter(kind=MovementKind.ALLOCATION, cause__in=list(causes)).order_by("product_id")
    for movement in movements:
        found.setdefault(causes[movement.cause], []).append(_change_from(movement, applied=False))
    return {order_id: tuple(changes) for order_id, changes in found.items()}


def _write_levels(levels: dict[int, int]) -> None:
    """Set these products' levels in one UPDATE ... FROM (VALUES ...) RETURNING, in product-id order.

    The rows are locked by the caller; the CHECK constraint (available >= 0) stays the last line
    of defence. RETURNING proves every row was written, without a second read.
    """
    if not levels:
        return
    table, (product, available, updated_at) = quoted(StockItem, "product", "available", "updated_at")
    rows = sorted(levels.items())
    sql = (
        f"UPDATE {table} SET {available} = new.column2, {updated_at} = %s "  # noqa: S608
        f"FROM (VALUES {', '.join(['(%s, %s)'] * len(rows))}) AS new "
        f"WHERE {table}.{product} = new.column1 RETURNING {table}.{product}, {table}.{available}"
    )
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(sql, [now_for(StockItem, "updated_at"), *(value for row in rows for value in row)])
        written = dict(cursor.fetchall())
    if written != levels:
        raise RuntimeError(f"stock levels written {written} differ from the levels decided {levels}")


def release(*, order_id: int) -> list[StockChange]:
    """Give back exactly what the order's allocation took (a cancelled order).

    Runs inside the caller's transaction (asserted, not durable). One ledger row per product
    keyed by ("order:<id>", release, product): a second release gives nothing back twice, and
    an order that was never allocated releases nothing. Returns the changes made now.
    """
    assert transaction.get_connection().in_atomic_block, "release() runs inside the caller's transaction"
    cause = order_cause(order_id=order_id)
    changes = []
    with _bounded_atomic(durable=False):
        for taken in _movements(cause, MovementKind.ALLOCATION):  # product-id order
            movement, claimed = _claim_cause(
                product_id=taken.product_id, kind=MovementKind.RELEASE, cause=cause, reason="", actor=None
            )
            if claimed:
                level = _add_units(product_id=taken.product_id, delta=-taken.quantity)
                assert level is not None, "giving units back is never refused"
                changes.append(_complete(movement, delta=-taken.quantity, level_after=level))
    return changes


# --- Helpers: they run inside the service's transaction and open none of their own -----------


@contextmanager
def _stock_transaction(*, product_id: int) -> Iterator[None]:
    """The service's durable transaction, with a bounded lock wait and its failures as domain errors."""
    try:
        with _bounded_atomic(durable=True):
            yield
    except IntegrityError as exc:  # raised at commit: the foreign keys are deferred
        if _is_foreign_key_violation(exc):
            raise UnknownProduct(product_id=product_id) from exc
        raise


@contextmanager
def _bounded_atomic(*, durable: bool) -> Iterator[None]:
    """A transaction (or, not durable, a savepoint) whose lock waits end after LOCK_TIMEOUT as StockBusy."""
    with _busy_as_stock_busy(), transaction.atomic(durable=durable):
        _bound_lock_wait()
        yield


@contextmanager
def _busy_as_stock_busy() -> Iterator[None]:
    """A lock wait past LOCK_TIMEOUT (or a deadlock) becomes StockBusy."""
    try:
        yield
    except OperationalError as exc:
        if _sqlstate(exc) in (LOCK_NOT_AVAILABLE, DEADLOCK_DETECTED):
            raise StockBusy() from exc
        raise


def _merge_lines(lines: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Lines summed per product, in product-id order; every quantity at least one unit."""
    merged: dict[int, int] = {}
    for product_id, quantity in lines:
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise InvalidStockChange(field="lines", message="Every line takes at least one unit.")
        merged[product_id] = merged.get(product_id, 0) + quantity
    if not merged:
        raise InvalidStockChange(field="lines", message="An allocation has at least one line.")
    return sorted(merged.items())


def _movements(cause: str, kind: str) -> list[StockMovement]:
    return list(StockMovement.objects.filter(cause=cause, kind=kind).order_by("product_id"))


def _bound_lock_wait() -> None:
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")  # ends with the transaction


def _sqlstate(exc: Exception) -> str | None:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)


def _is_foreign_key_violation(exc: IntegrityError) -> bool:
    return _sqlstate(exc) == FOREIGN_KEY_VIOLATION or "FOREIGN KEY constraint failed" in str(exc)


def _check_cause_and_reason(*, cause: str, reason: str) -> None:
    if not cause or len(cause) > MAX_CAUSE_LENGTH:
        raise InvalidStockChange(field="cause", message=f"A cause has 1 to {MAX_CAUSE_LENGTH} characters.")
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidStockChange(field="reason", message=f"A reason has at most {MAX_REASON_LENGTH} characters.")


def _claim_cause(
    *, product_id: int, kind: str, cause: str, reason: str, actor: AbstractBaseUser | None
) -> tuple[StockMovement, bool]:
    """Insert this cause's ledger row (figures completed later), or find the one already there.

    The savepoint keeps a duplicate from breaking the service's transaction. On PostgreSQL a
    concurrent duplicate blocks on the unique index until the first commits (then it finds the
    row) or rolls back (then its own insert goes through).
    """
    try:
        with transaction.atomic():
            movement = StockMovement.objects.create(
                product_id=product_id, kind=kind, cause=cause, reason=reason, actor=actor, quantity=0, level_after=0
            )
        return movement, True
    except IntegrityError:
        earlier = StockMovement.objects.filter(product_id=product_id, kind=kind, cause=cause).first()
        if earlier is None:
            raise  # not the unique key after all
        return earlier, False


def _lock_or_create(*, product_id: int) -> StockItem:
    """The product's stock row, locked; created at 0 first if the product was never stocked."""
    items = selectors.lock_stock_items(product_ids=[product_id])
    if not items:
        _create_stock_item(product_id=product_id)
        items = selectors.lock_stock_items(product_ids=[product_id])
    return items[0]


def _create_stock_item(*, product_id: int) -> None:
    # Insert-or-ignore: a concurrent creator of the same row makes this wait, then do nothing.
    StockItem.objects.bulk_create([StockItem(product_id=product_id, available=0)], ignore_conflicts=True)


def _add_units(*, product_id: int, delta: int) -> int | None:
    """available += delta in one conditional UPDATE that never goes below zero, RETURNING the new level.

    Returns the new level, or None when the product has fewer than -delta units (nothing changed).
    """
    table, (product, available, updated_at) = quoted(StockItem, "product", "available", "updated_at")
    sql = (
        f"UPDATE {table} SET {available} = {available} + %s, {updated_at} = %s "  # noqa: S608
        f"WHERE {product} = %s AND {available} >= %s RETURNING {available}"
    )
    now = now_for(StockItem, "updated_at")

    def update() -> int | None:
        with transaction.get_connection().cursor() as cursor:
            cursor.execute(sql, [delta, now, product_id, max(0, -delta)])
            row = cursor.fetchone()
        return None if row is None else row[0]

    level = update()
    if level is None and delta > 0:  # never stocked: create the row at 0, then add
        _create_stock_item(product_id=product_id)
        level = update()
    return level


def _complete(movement: StockMovement, *, delta: int, level_after: int) -> StockChange:
    """Write the claimed ledger row's figures; a change that took the product from 0 units to more
    is announced (BACK_IN_STOCK) in the same transaction."""
    StockMovement.objects.filter(pk=movement.pk).update(quantity=delta, level_after=level_after)
    movement.quantity, movement.level_after = delta, level_after
    if level_after > 0 and level_after - delta == 0:
        _announce_back_in_stock({movement.product_id: level_after})
    return _change_from(movement, applied=True)


def _announce_back_in_stock(levels: dict[int, int]) -> None:
    """One outbox message per product whose units went from 0 to `levels[product_id]` (> 0)."""
    messages = [
        outbox.Message(BACK_IN_STOCK, str(product_id), {"product_id": product_id, "available": available})
        for product_id, available in sorted(levels.items())
        if available > 0
    ]
    if messages:
        outbox.publish_all(messages)


def _change_from(movement: StockMovement, *, applied: bool) -> StockChange:
    return StockChange(
        product_id=movement.product_id,
        kind=movement.kind,
        cause=movement.cause,
        quantity=movement.quantity,
        level_after=movement.level_after,
        applied=applied,
    )


# Bulk initialisation. Raw SQL because Django's bulk_create cannot tell which rows an
# insert-or-ignore really inserted, and on SQLite it splits every batch by the old 999-variable
# limit (a dozen statements per thousand products). Identifiers come from the models' meta and
# every value is a parameter.


def _insert_missing_stock_items(rows: list[tuple[int, int]]) -> list[int]:
    """Insert (product_id, level) rows that do not exist yet; return the product ids inserted."""
    connection = transaction.get_connection()
    quote = connection.ops.quote_name
    product, available, updated_at = (
        StockItem._meta.get_field(name) for name in ("product", "available", "updated_at")
    )
    now = updated_at.get_db_prep_value(timezone.now(), connection)
    sql = (
        f"INSERT INTO {quote(StockItem._meta.db_table)} "  # noqa: S608
        f"({quote(product.column)}, {quote(available.column)}, {quote(updated_at.column)}) "
        f"VALUES {', '.join(['(%s, %s, %s)'] * len(rows))} "
        f"ON CONFLICT ({quote(product.column)}) DO NOTHING RETURNING {quote(product.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for product_id, level in rows for value in (product_id, level, now)])
        return [product_id for (product_id,) in cursor.fetchall()]


def _insert_initial_movements(*, product_ids: list[int], cause: str) -> None:
    """One set_level ledger row per product, copying the level its stock row was just given."""
    connection = transaction.get_connection()
    quote = connection.ops.quote_name
    movement = {
        name: StockMovement._meta.get_field(name)
        for name in ("product", "kind", "quantity", "level_after", "cause", "reason", "actor", "created_at")
    }
    item_product, item_available = (StockItem._meta.get_field(name).column for name in ("product", "available"))
    created_at = movement["created_at"].get_db_prep_value(timezone.now(), connection)
    sql = (
        f"INSERT INTO {quote(StockMovement._meta.db_table)} "  # noqa: S608
        f"({', '.join(quote(field.column) for field in movement.values())}) "
        f"SELECT {quote(item_product)}, %s, {quote(item_available)}, {quote(item_available)}, %s, %s, NULL, %s "
        f"FROM {quote(StockItem._meta.db_table)} "
        f"WHERE {quote(item_product)} IN ({', '.join(['%s'] * len(product_ids))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [MovementKind.SET_LEVEL.value, cause, "", created_at, *product_ids])
