"""An order's history as sentences people read (the back office, not raw JSON).

`describe_event` turns one OrderEvent into a sentence from its kind, states, message, actor and
data; `plan_for` says, before a staff action runs, what it will do to one order (the
confirmation pages of the orders admin). Both only read.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from orders.models import EmailKind, Order, OrderEvent, OrderEventKind
from orders.states import HOLDS_STOCK, SHIPPED_STATES, OrderState, can_transition
from shop.money import format_minor_units, format_money, to_minor_units

TIMES = "\N{MULTIPLICATION SIGN}"
DECLINE_WORDS = {
    "insufficient_funds": "insufficient funds",
    "card_declined": "card declined",
    "expired_card": "card expired",
    "requires_action": "the bank asks the customer to confirm",
}


def _state_label(state: str) -> str:
    try:
        return OrderState(state).label
    except ValueError:
        return state


def _email_label(kind: str) -> str:
    try:
        return EmailKind(kind).label
    except ValueError:
        return kind.replace("_", " ")


def _money(value, currency: str) -> str:
    try:
        return format_money(Decimal(str(value)), currency)
    except (InvalidOperation, ValueError):
        return f"{value} {currency}"


def units_sentence(units: Mapping, titles: Mapping[int, str]) -> str:
    """"2 x Trail shoe, 1 x Wool sock" (with the multiplication sign) from {product_id: units}."""
    parts = []
    for product_id, quantity in units.items():
        title = titles.get(int(product_id), f"product {product_id}")
        parts.append(f"{quantity} {TIMES} {title}")
    return ", ".join(parts)


def describe_event(event: OrderEvent, *, currency: str, titles: Mapping[int, str] | None = None) -> str:
    """One sentence (or two) for an event of the order's history."""
    titles = titles or {}
    data = event.data or {}
    by = f" by {event.actor.email}" if event.actor_id and event.actor else ""
    message = (event.message or "").rstrip(".")
    if event.kind == OrderEventKind.PLACED:
        total = f" for {_money(data['total'], currency)}" if data.get("total") else ""
        sentence = f"Order placed{by}{total}."
    elif event.kind == OrderEventKind.STATE_CHANGED:
        sentence = f"{_state_label(event.from_state)} → {_state_label(event.to_state)}{by}"
        said = message and message.lower() != _state_label(event.to_state).lower()  # never "Authorized: Authorized"
        sentence += f": {message}." if said else "."
    elif event.kind == OrderEventKind.EMAIL_SENT:
        sentence = f"E-mail “{_email_label(data.get('kind', ''))}” sent to the customer."
    elif event.kind == OrderEventKind.EMAIL_RESENT:
        sentence = f"E-mail “{_email_label(data.get('kind', ''))}” to be sent again{by}."
    elif event.kind == OrderEventKind.STAFF_NOTE:
        sentence = f"Note{by} (staff only): {event.message}"
        return sentence  # the staff's own words, as typed
    else:
        sentence = f"{message or 'Note'}{by}."
    return " ".join([sentence, *_details(data, currency=currency, titles=titles)])


def _details(data: Mapping, *, currency: str, titles: Mapping[int, str]) -> list[str]:
    details = []
    if data.get("client"):
        details.append(f"Reported by the warehouse system {data['client']}.")
    if data.get("refund"):
        amount = f" of {_money(data['amount'], currency)}" if data.get("amount") else ""
        details.append(f"Refund{amount} (reference {data['refund']}).")
    if data.get("units"):
        details.append(f"Items: {units_sentence(data['units'], titles)}.")
    restocked = data.get("restocked") or {}
    if restocked:
        details.append(f"Back to stock: {units_sentence(restocked, titles)}.")
    elif "restocked" in data:
        details.append("Nothing went back to stock.")
    if data.get("decline_code"):
        details.append(f"Card answer: {DECLINE_WORDS.get(data['decline_code'], data['decline_code'].replace('_', ' '))}.")
    return details


# --- What a staff action will do (the confirmation pages) ----------------------------------------------


def plan_for(
    order: Order, operation: str, *, titles: Mapping[int, str], held: Mapping[int, int], refundable: int,
    returnable: Mapping[int, int], amount: Decimal | None = None, email_kind: str = "",
) -> tuple[bool, list[str]]:
    """(possible, sentences): what `operation` would do to `order`, said before it runs.

    held: units the order holds in stock now; refundable: minor units captured and not refunded;
    returnable: units ordered and not yet put back by a refund.
    """  # fmt: skip
    total = format_money(order.total, order.currency)
    if operation == "cancel":
        if not can_transition(order.state, OrderState.CANCELLED):
            return False, [f"Cannot be cancelled: it is {order.state_label.lower()}. Nothing will change."]
        steps = [f"The order ({total}) is cancelled and the customer is e-mailed."]
        if order.state in HOLDS_STOCK and held:
            steps.append(f"Back to stock: {units_sentence(held, titles)}.")
        if order.state in (OrderState.AUTHORIZED, OrderState.PAYMENT_FAILED):
            steps.append(f"The card authorization of {total} is voided: nothing is charged.")
        return True, steps
    if operation == "ship":
        if not can_transition(order.state, OrderState.SHIPPED):
            return False, [f"Cannot be shipped: it is {order.state_label.lower()} (only a paid-for order ships)."]
        return True, [f"The order is marked shipped and {total} is captured from the customer's card."]
    if operation == "deliver":
        if order.state not in SHIPPED_STATES or order.delivered_at is not None:
            return False, [f"Cannot be marked delivered: it is {order.state_label.lower()}"
                           + (" and was delivered already." if order.delivered_at else " (only a shipped order).")]
        return True, ["The order is marked delivered and the customer is e-mailed."]
    if operation in ("refund", "refund_partly"):
        if order.state not in SHIPPED_STATES or refundable < 1:
            return False, [f"Nothing to refund: it is {order.state_label.lower()} and "
                           f"{format_minor_units(refundable, order.currency)} is left to refund."]  # fmt: skip
        if operation == "refund":
            steps = [f"{format_minor_units(refundable, order.currency)} is refunded to the customer's card."]
            units = {p: n for p, n in returnable.items() if n > 0}
            steps.append(f"Back to stock: {units_sentence(units, titles)}." if units else "Nothing goes back to stock.")
            return True, steps
        if amount is None:
            return False, ["Give the amount to refund."]
        if to_minor_units(amount, order.currency) > refundable:
            left = format_minor_units(refundable, order.currency)
            return False, [f"{format_money(amount, order.currency)} is more than is left to refund ({left})."]
        return True, [f"{format_money(amount, order.currency)} is refunded to the customer's card.",
                      "Nothing goes back to stock."]  # fmt: skip
    if operation == "resend_email":
        if not email_kind:
            return False, ["This order has not been sent any e-mail yet."]
        return True, [f"The e-mail “{_email_label(email_kind)}” is sent to {order.email} again."]
    raise ValueError(f"Unknown operation {operation!r}")
