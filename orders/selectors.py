"""Every read of orders: a customer's own orders, one order for whoever may see it, the row lock.

Orders are read from the primary (a customer just placed or changed them; ARCHITECTURE.md
"Reads at scale"). Whoever is not allowed to see an order gets OrderNotFound, exactly as for a
number that does not exist, so order numbers cannot be probed.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Prefetch, QuerySet

from inventory import selectors as inventory_selectors
from orders.exceptions import OrderNotFound
from orders.models import Order, OrderEvent, OrderLine
from shop.email_addresses import normalize_email


def lock_order(*, order_id: int) -> Order:
    """The order row, locked until the caller's transaction ends (every state change takes it)."""
    assert transaction.get_connection().in_atomic_block, "lock_order() needs an open transaction"
    try:
        return Order.objects.select_for_update(of=("self",)).get(pk=order_id)
    except Order.DoesNotExist as exc:
        raise OrderNotFound() from exc


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


def find_order_by_email(*, number: str, email: str) -> Order:
    """Guest look-up: the *guest* order with this number placed with this e-mail (any case).
    OrderNotFound otherwise; an order placed from an account is opened with the account only."""
    order = Order.objects.filter(
        number=number.strip().upper(), email__iexact=normalize_email(email), customer__isnull=True
    ).first()
    if order is None:
        raise OrderNotFound("No order matches this number and e-mail address.")
    return order


def returnable_units(*, order_id: int, exclude_reference: str = "") -> dict[int, int]:
    """Units of each ordered product not yet put back in stock by this order's refunds."""
    order = Order.objects.only("number").get(pk=order_id)
    returned = inventory_selectors.restocked_units(
        cause_prefix=refund_cause(order.number, ""),
        exclude_cause=refund_cause(order.number, exclude_reference) if exclude_reference else "",
    )
    ordered = OrderLine.objects.filter(order_id=order_id).values_list("product_id", "quantity")
    return {product_id: quantity - returned.get(product_id, 0) for product_id, quantity in ordered}


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
