"""The order state machine of ARCHITECTURE.md (flow 6), as data: the only transitions allowed.

orders.services is the only code that changes a state, and only through `check_transition`.
"""

from __future__ import annotations

from django.db import models

from shop.exceptions import DomainError


class OrderState(models.TextChoices):
    PLACED = "placed", "Placed"
    ALLOCATED = "allocated", "Allocated"
    REJECTED = "rejected", "Rejected (out of stock)"
    AUTHORIZED = "authorized", "Payment authorized"
    PAYMENT_FAILED = "payment_failed", "Payment failed"
    SHIPPED = "shipped", "Shipped"
    DELIVERED = "delivered", "Delivered"
    CANCELLED = "cancelled", "Cancelled"
    REFUNDED = "refunded", "Refunded"


S = OrderState
TRANSITIONS: dict[str, frozenset[str]] = {
    S.PLACED: frozenset({S.ALLOCATED, S.REJECTED, S.CANCELLED}),
    S.ALLOCATED: frozenset({S.AUTHORIZED, S.PAYMENT_FAILED, S.CANCELLED}),
    S.PAYMENT_FAILED: frozenset({S.AUTHORIZED, S.CANCELLED}),
    S.AUTHORIZED: frozenset({S.SHIPPED, S.PAYMENT_FAILED, S.CANCELLED}),  # payment_failed: the hold was voided
    S.SHIPPED: frozenset({S.DELIVERED, S.REFUNDED}),
    S.DELIVERED: frozenset({S.REFUNDED}),
    S.REJECTED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REFUNDED: frozenset(),
}
# States whose order holds allocated stock (cancelling gives it back).
HOLDS_STOCK = frozenset({S.ALLOCATED, S.AUTHORIZED, S.PAYMENT_FAILED})
# States a customer (not only staff) may cancel from: nothing has left the warehouse.
CUSTOMER_CANCELLABLE = frozenset({S.PLACED, S.ALLOCATED, S.PAYMENT_FAILED, S.AUTHORIZED})
# States the order page keeps refreshing in (something is about to happen without the customer).
SETTLING = frozenset({S.PLACED, S.ALLOCATED})  # stock, then payment, being decided
FINAL = frozenset(state for state, targets in TRANSITIONS.items() if not targets)


class InvalidTransition(DomainError):
    code = "order_state_conflict"
    status_code = 409
    default_message = "The order cannot change to that state now."

    def __init__(self, *, current: str, target: str):
        message = (
            f"This order is {OrderState(current).label.lower()}; it cannot become {OrderState(target).label.lower()}."
        )
        super().__init__(message, fields={"state": [message]})
        self.current = current
        self.target = target


def can_transition(current: str, target: str) -> bool:
    return target in TRANSITIONS[current]


def check_transition(current: str, target: str) -> None:
    if not can_transition(current, target):
        raise InvalidTransition(current=current, target=target)
