"""Every read of orders: a customer's own orders, one order for whoever may see it, the row lock.

Orders are read from the primary (a customer just placed or changed them; ARCHITECTURE.md
"Reads at scale"). Whoever is not allowed to see an order gets OrderNotFound, exactly as for a
number that does not exist, so order numbers cannot be probed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import connections, transaction
from django.db.models import Count, F, Min, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.emails import same_email
from orders.exceptions import OrderNotFound, ReturnNotFound
from orders.models import OPEN_RETURN_STATES, Order, OrderEvent, OrderLine, RefundRestock, ReturnLine, ReturnRequest
from orders.states import SHIPPED_STATES, OrderState
from shop.db_router import PRIMARY, replica_ok
from shop.email_addresses import normalize_email


def lock_order(*, order_id: int) -> Order:
    """The order row, locked until the caller's transaction ends (every state change takes it)."""
    assert transaction.get_connection().in_atomic_block, "lock_order() needs an open transaction"
    try:
        return Order.objects.select_for_update(of=("self",)).get(pk=order_id)
    except Order.DoesNotExist as exc:
        raise OrderNotFound() from exc


def claim_placed_orders(*, limit: int, order_ids: list[int] | None = None) -> list[Order]:
    """The oldest placed orders (placement order), locked FOR UPDATE SKIP LOCKED, so two allocators
    never take the same order; `order_ids` narrows the claim to those. An order whose allocation
    failed on its own is left to staff (else, the oldest, it would fail every run's batch first).
    Needs an open transaction."""
    assert transaction.get_connection().in_atomic_block, "claim_placed_orders() needs an open transaction"
    orders = Order.objects.filter(state=OrderState.PLACED, allocation_failed_at=None)
    if order_ids is not None:
        orders = orders.filter(pk__in=order_ids)
    return list(orders.order_by("created_at", "id").select_for_update(skip_locked=True, of=("self",))[:limit])


def get_allocation_lines(*, order_ids: list[int]) -> dict[int, list[tuple[int, int, str]]]:
    """(product_id, quantity, title) of each order's lines, by order id, in one query."""
    lines: dict[int, list[tuple[int, int, str]]] = {order_id: [] for order_id in order_ids}
    rows = OrderLine.objects.filter(order_id__in=order_ids).order_by("order_id", "product_id")
    for order_id, product_id, quantity, title in rows.values_list("order_id", "product_id", "quantity", "title"):
        lines[order_id].append((product_id, quantity, title))
    return lines


def lock_stuck_orders(*, states: tuple[str, ...], older_than: datetime, limit: int) -> list[Order]:
    """Orders unchanged in one of `states` since before `older_than`, oldest first, locked SKIP LOCKED
    (an order being changed right now is not stuck; one whose allocation failed on its own waits
    for staff). Needs an open transaction."""
    assert transaction.get_connection().in_atomic_block, "lock_stuck_orders() needs an open transaction"
    orders = Order.objects.filter(state__in=states, updated_at__lt=older_than, allocation_failed_at=None)
    orders = orders.order_by("updated_at", "id")
    return list(orders.select_for_update(skip_locked=True, of=("self",))[:limit])


def _with_lines(orders: QuerySet[Order]) -> QuerySet[Order]:
    return orders.prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("id")))


def list_orders(*, customer=None, guest_key: str = "") -> QuerySet[Order]:
    """A customer's orders (or a guest token's), newest first, lines prefetched: two queries a page."""
    if customer is not None and customer.is_authenticated:
        return _with_lines(Order.objects.filter(customer=customer)).order_by("-created_at", "-id")
    if guest_key:
        return _with_lines(Order.objects.filter(customer=None, guest_key=guest_key)).order_by("-created_at", "-id")
    return Order.objects.none()


def get_order(
    *, number: str, customer=None, guest_key: str = "", granted_numbers: frozenset[str] = frozenset()
) -> Order:
    """The order with this number if the viewer may see it: its customer, the guest token that
    placed it, or a visitor who opened its signed link or found it by number and e-mail
    (`granted_numbers`, remembered in their session). Lines and history prefetched.
    Raises OrderNotFound otherwise."""
    order = (
        _with_lines(Order.objects.filter(number=number))
        .prefetch_related(Prefetch("events", queryset=OrderEvent.objects.order_by("created_at", "id")))
        .first()
    )
    if order is None or not _may_view(order, customer=customer, guest_key=guest_key, granted=granted_numbers):
        raise OrderNotFound()
    return order


def get_order_state(*, number: str, customer=None, guest_key: str = "", granted_numbers: frozenset[str] = frozenset()) -> Order:
    """Only what the order page's poll needs (number, state, owner), one query; same access rule
    as get_order. Raises OrderNotFound."""
    order = Order.objects.filter(number=number).only("number", "state", "customer_id", "guest_key").first()
    if order is None or not _may_view(order, customer=customer, guest_key=guest_key, granted=granted_numbers):
        raise OrderNotFound()
    return order


def list_orders_to_fulfil(*, state: str = OrderState.AUTHORIZED) -> QuerySet[Order]:
    """Orders a warehouse works on, for the fulfilment API: authorized (paid for, ready to ship) or
    shipped (on their way, not delivered yet). Oldest first on order_state_oldest_idx; the caller's
    cursor pagination orders and slices; lines prefetched (two queries a page)."""
    orders = Order.objects.filter(state=state)
    if state == OrderState.SHIPPED:
        orders = orders.filter(delivered_at=None)
    return _with_lines(orders).order_by("created_at", "id")


def get_order_by_number(*, number: str) -> Order:
    """Any order by its number, lines prefetched: for staff and machine clients, whose permission
    or API-key scope the door checked. Raises OrderNotFound."""
    order = _with_lines(Order.objects.filter(number=number)).first()
    if order is None:
        raise OrderNotFound()
    return order


def get_order_by_tracking(*, carrier: str, tracking_number: str) -> Order:
    """The order shipped with this carrier (any case) and tracking number (order_tracking_idx), for
    a carrier's delivery webhook. Raises OrderNotFound."""
    order = (
        _with_lines(Order.objects.filter(tracking_number=tracking_number, carrier__iexact=carrier))
        .order_by("-created_at")
        .first()
    )
    if order is None:
        raise OrderNotFound("No order was shipped with this carrier and tracking number.")
    return order


def find_order_by_email(*, number: str, email: str) -> Order:
    """Guest look-up: the *guest* order with this number placed with this e-mail (any case).
    OrderNotFound otherwise; an order placed from an account is opened with the account only."""
    order = Order.objects.filter(
        number=number.strip().upper(), email__iexact=normalize_email(email), customer__isnull=True
    ).first()
    if order is None:
        raise OrderNotFound("No order matches this number and e-mail address.")
    return order


def list_guest_order_ids_for_email(*, email: str) -> list[int]:
    """Orders placed as a guest (no account) with this e-mail address, as accounts.emails compares
    addresses; oldest first. One indexed query (order_guest_email_idx); the database's
    case-insensitive match only narrows, the shop's own comparison decides."""
    candidates = Order.objects.filter(customer=None, email__iexact=normalize_email(email)).order_by("pk")
    return [pk for pk, address in candidates.values_list("pk", "email") if same_email(address, email)]


def returnable_units(*, order_id: int) -> dict[int, int]:
    """Units of each ordered product not yet reserved for return by this order's refunds."""
    reserved = dict(
        RefundRestock.objects.filter(order_id=order_id).values_list("product_id").annotate(units=Sum("quantity"))
    )
    ordered = OrderLine.objects.filter(order_id=order_id).values_list("product_id", "quantity")
    return {product_id: quantity - reserved.get(product_id, 0) for product_id, quantity in ordered}


def units_open_to_return(*, order_id: int) -> dict[int, int]:
    """Units of each ordered product a new return may ask for: ordered, less those put back by
    refunds, less those in returns still open (requested, approved, received and not refunded yet)."""
    asked = dict(
        ReturnLine.objects.filter(request__order_id=order_id, request__state__in=OPEN_RETURN_STATES)
        .values_list("product_id").annotate(units=Sum("quantity"))
    )  # fmt: skip
    return {product_id: units - asked.get(product_id, 0) for product_id, units in returnable_units(order_id=order_id).items()}


def returns_of(*, order_id: int) -> list[ReturnRequest]:
    """The order's returns, newest first, with their lines (two queries)."""
    return list(ReturnRequest.objects.filter(order_id=order_id).prefetch_related("lines").order_by("-created_at", "-id"))


def lock_return(*, return_id: int) -> ReturnRequest:
    """The return's row, locked (its order's row must be locked first, as every order change does).
    Raises ReturnNotFound."""
    assert transaction.get_connection().in_atomic_block, "lock_return() needs an open transaction"
    found = ReturnRequest.objects.select_for_update(of=("self",)).filter(pk=return_id).first()
    if found is None:
        raise ReturnNotFound()
    return found


def get_return_by_number(*, number: str) -> ReturnRequest:
    """Any return by its number, lines prefetched (for e-mails and staff). Raises ReturnNotFound."""
    found = ReturnRequest.objects.filter(number=number).prefetch_related("lines").first()
    if found is None:
        raise ReturnNotFound()
    return found


def restock_of_refund(*, order_id: int, reference: str) -> dict[int, int]:
    """The units this refund (by reference) reserved for return: {product_id: quantity}."""
    rows = RefundRestock.objects.filter(order_id=order_id, reference=reference)
    return dict(rows.values_list("product_id", "quantity"))


def refund_cause(number: str, reference: str) -> str:
    """The stock ledger's cause for units a refund of this order put back."""
    return f"refund:{number}:{reference}"


def get_order_for_email(*, order_id: int) -> Order:
    return _with_lines(Order.objects.filter(pk=order_id)).get()


def _may_view(order: Order, *, customer, guest_key: str, granted: frozenset[str]) -> bool:
    if order.number in granted:
        return True
    if customer is not None and customer.is_authenticated:
        return order.customer_id == customer.pk
    return bool(guest_key) and order.customer_id is None and order.guest_key == guest_key


# --- The staff dashboard (orders/dashboard.py): aggregates over a bounded time range ---------------------

# Orders whose payment was taken or is held: they count as sales (revenue is their total less refunds).
SALE_STATES = (OrderState.AUTHORIZED, *SHIPPED_STATES)
STUCK_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class DaySales:
    day: date
    orders: int  # placed that day, whatever became of them
    revenue: Decimal  # of those paid for (SALE_STATES): totals less what was refunded


@replica_ok
def sales_by_day(*, first_day: date, last_day: date) -> list[DaySales]:
    """Orders and revenue per day (the shop's time zone) from first_day to last_day, every day
    present (zero when nothing sold). One aggregate query on the created_at index."""
    since = timezone.make_aware(datetime.combine(first_day, datetime.min.time()))
    until = timezone.make_aware(datetime.combine(last_day + timedelta(days=1), datetime.min.time()))
    rows = (
        Order.objects.filter(created_at__gte=since, created_at__lt=until)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(orders=Count("id"), revenue=Sum(F("total") - F("refunded_amount"), filter=Q(state__in=SALE_STATES)))
    )
    found = {row["day"]: row for row in rows}
    days = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]
    return [
        DaySales(day=day, orders=found[day]["orders"] if day in found else 0,
                 revenue=(found[day]["revenue"] or Decimal("0.00")) if day in found else Decimal("0.00"))
        for day in days
    ]  # fmt: skip


@replica_ok
def count_by_state(*, since: datetime) -> dict[str, int]:
    """Orders placed since `since`, per state (every state present). One aggregate query."""
    counts = dict(Order.objects.filter(created_at__gte=since).values_list("state").annotate(n=Count("id")))
    return {state: counts.get(state, 0) for state in OrderState.values}


@replica_ok
def count_stuck(*, now: datetime) -> dict[str, int]:
    """Orders that need a look: placed or allocated unchanged for over STUCK_AFTER, and payment
    failed (waiting for the customer). One query on the state index (few rows are in those states)."""
    stuck = Q(state__in=(OrderState.PLACED, OrderState.ALLOCATED), updated_at__lt=now - STUCK_AFTER)
    waiting = Order.objects.filter(state__in=(OrderState.PLACED, OrderState.ALLOCATED, OrderState.PAYMENT_FAILED))
    return waiting.aggregate(
        waiting=Count("id", filter=stuck), payment_failed=Count("id", filter=Q(state=OrderState.PAYMENT_FAILED))
    )


@replica_ok
def top_products(*, since: datetime, limit: int = 5) -> list[dict]:
    """The products sold most (units) in orders paid for since `since`: product_id, title, units.

    The lines are narrowed to order ids from the smallest of the range's orders on, given as a
    value: ids grow with time, so the planner sees how few lines that is and range-scans the lines'
    (order, product) index instead of reading every line ever sold (1,000,000 orders: 80 ms, not
    370 ms; bench/dashboard.py). The created_at condition still decides which orders count."""
    # MIN(id + 0): read the range on the created_at index, not the primary key from its first order on
    first_id = Order.objects.filter(created_at__gte=since).aggregate(first=Min(F("id") + 0))["first"]
    if first_id is None:
        return []
    return list(
        OrderLine.objects.filter(order_id__gte=first_id, order__created_at__gte=since, order__state__in=SALE_STATES)
        .values("product_id", "title")
        .annotate(units=Sum("quantity"))
        .order_by("-units", "product_id")[:limit]
    )


# --- "Customers also bought" (orders.services.compute_recommendations) ------------------------------


@dataclass(frozen=True)
class BoughtTogetherBatch:
    """The lists of the products sold in the window with after_product_id < id <= up_to_product_id
    (None: every id above): rows (product_id, recommended_id, score, rank), rank 1 first."""

    after_product_id: int
    up_to_product_id: int | None
    rows: list[tuple[int, int, float, int]]


# One batch of products: the pairs their window lines make with the other lines of the same orders
# (a self-join of order lines), kept when bought together in at least `min_support` orders, scored
# by Jaccard (orders with both / orders with either), and the best `per_product` of each product,
# ties broken by the recommended product's id. Plain SQL that PostgreSQL and SQLite (3.25+, window
# functions) both run; `pairs` is referenced three times, so PostgreSQL computes it once.
BOUGHT_TOGETHER_SQL = """
WITH pairs AS (
    SELECT a.product_id AS product_id, b.product_id AS recommended_id, COUNT(*) AS together
    FROM {line} a
    INNER JOIN {order} o ON o.id = a.order_id
    INNER JOIN {line} b ON b.order_id = a.order_id AND b.product_id <> a.product_id
    WHERE o.created_at >= %s AND o.state IN ({states}) AND a.product_id > %s AND a.product_id <= %s
    GROUP BY a.product_id, b.product_id
    HAVING COUNT(*) >= %s
),
bought AS (
    SELECT l.product_id AS product_id, COUNT(*) AS orders
    FROM {line} l
    INNER JOIN {order} o ON o.id = l.order_id
    WHERE o.created_at >= %s AND o.state IN ({states})
      AND l.product_id IN (SELECT product_id FROM pairs UNION SELECT recommended_id FROM pairs)
    GROUP BY l.product_id
),
scored AS (
    SELECT p.product_id, p.recommended_id,
           CAST(p.together AS DOUBLE PRECISION) / (mine.orders + theirs.orders - p.together) AS score
    FROM pairs p
    INNER JOIN bought mine ON mine.product_id = p.product_id
    INNER JOIN bought theirs ON theirs.product_id = p.recommended_id
),
ranked AS (
    SELECT product_id, recommended_id, score,
           ROW_NUMBER() OVER (PARTITION BY product_id ORDER BY score DESC, recommended_id) AS place
    FROM scored
)
SELECT product_id, recommended_id, score, place FROM ranked WHERE place <= %s ORDER BY product_id, place
"""


def iter_bought_together(
    *, since: datetime, min_support: int, per_product: int, batch_size: int
) -> Iterator[BoughtTogetherBatch]:
    """The "customers also bought" lists computed from orders paid for (SALE_STATES) placed since
    `since`, a batch of `batch_size` sold products at a time in product id order (two queries a
    batch: the batch's last id, its lists), so memory holds one batch whatever the window. The
    batches cover every product id: the last one is open-ended. Reads the primary; deterministic."""
    window = Q(order__created_at__gte=since, order__state__in=SALE_STATES)
    connection = connections[PRIMARY]
    states = sorted(SALE_STATES)
    sql = BOUGHT_TOGETHER_SQL.format(
        line=connection.ops.quote_name(OrderLine._meta.db_table),
        order=connection.ops.quote_name(Order._meta.db_table),
        states=", ".join(["%s"] * len(states)),
    )
    since_value = connection.ops.adapt_datetimefield_value(since)
    after = 0
    while True:
        sold = OrderLine.objects.using(PRIMARY).filter(window, product_id__gt=after).order_by("product_id")
        ids = list(sold.values_list("product_id", flat=True).distinct()[:batch_size])
        rows: list[tuple[int, int, float, int]] = []
        if ids:
            with connection.cursor() as cursor:
                cursor.execute(
                    sql, [since_value, *states, after, ids[-1], min_support, since_value, *states, per_product]
                )
                rows = [(a, b, float(score), place) for a, b, score, place in cursor.fetchall()]
        last = len(ids) < batch_size
        yield BoughtTogetherBatch(after_product_id=after, up_to_product_id=None if last else ids[-1], rows=rows)
        if last:
            return
        after = ids[-1]
