"""The order state machine of ARCHITECTURE.md (flows 6 and 7), as data: the only transitions allowed.

orders.services is the only code that changes a state, and only through `check_transition`.
docs/orders.md draws the same table; tests/orders/test_states.py walks every transition and
every refusal of it.

    placed             -> allocated | rejected | cancelled
    allocated          -> authorized | payment_failed | cancelled
    payment_failed     -> authorized | cancelled
    authorized         -> shipped (payment captured) | payment_failed (hold voided) | cancelled
    shipped            -> delivered | partially_refunded | refunded
    delivered          -> partially_refunded | refunded
    partially_refunded -> refunded (what is left is refunded too)
    rejected, cancelled, refunded: final

`refunded` means everything captured was given back; a refund of less is `partially_refunded`
(the amount beside it), and later partial refunds keep it there until nothing is left. The
parcel's own facts are not states once money has been given back: a partially refunded order
that is delivered afterwards keeps its state and stores `delivered_at` (services.mark_delivered).

Returns (models.ReturnRequest) are not order states: a customer asks to return units of an order
that was delivered (`delivered_at` set) and is `delivered` or `partially_refunded`, within
ORDERS_RETURN_WINDOW_DAYS of its delivery; receiving the goods refunds them, which moves the order
to `partially_refunded` or `refunded` as any refund does.
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
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
    CANCELLED = "cancelled", "Cancelled"
    REFUNDED = "refunded", "Refunded"


S = OrderState
TRANSITIONS: dict[str, frozenset[str]] = {
    S.PLACED: frozenset({S.ALLOCATED, S.REJECTED, S.CANCELLED}),
    S.ALLOCATED: frozenset({S.AUTHORIZED, S.PAYMENT_FAILED, S.CANCELLED}),
    S.PAYMENT_FAILED: frozenset({S.AUTHORIZED, S.CANCELLED}),
    S.AUTHORIZED: frozenset({S.SHIPPED, S.PAYMENT_FAILED, S.CANCELLED}),  # payment_failed: the hold was voided
    S.SHIPPED: frozenset({S.DELIVERED, S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.DELIVERED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.PARTIALLY_REFUNDED: frozenset({S.REFUNDED}),
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
# States of an order that left the warehouse (its payment was captured): refunds and delivery apply.
SHIPPED_STATES = frozenset({S.SHIPPED, S.DELIVERED, S.PARTIALLY_REFUNDED, S.REFUNDED})
# States from which money can still be given back (the amount left decides too).
REFUNDABLE = frozenset({S.SHIPPED, S.DELIVERED, S.PARTIALLY_REFUNDED})
# States whose delivered units a customer may ask to return (within the return window).
RETURNABLE = frozenset({S.DELIVERED, S.PARTIALLY_REFUNDED})
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
