"""Every write of orders: placing an order, allocating it, cancelling, shipping, and its e-mails.

ARCHITECTURE.md flows 4 and 5, STYLE.md sections 5 to 9:

- `place_order` is one short durable transaction on the primary. It locks only the cart row:
  stock is pre-checked without a lock (a plainly short line is refused with a 409 naming the
  product), and allocation, later, is the authority. The order, its lines, its first event,
  the idempotency key, the cart's closing and the outbox rows (allocation, the "received"
  e-mail) commit together, so an accepted order is never lost and never placed twice.
- `allocate_order` runs in the inventory-queue worker: it locks the order, asks
  inventory.services.allocate for every line at once, and moves the order to allocated or
  rejected. A second delivery finds the order no longer placed and changes nothing.
- Every state change goes through `_transition`, which checks orders/states.py and writes the
  order's history; nothing else assigns `Order.state`.
- E-mails are claimed in an EmailLog row per order and kind before they are sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts import services as accounts_services
from accounts.services import AddressData
from cart import selectors as cart_selectors
from cart import services as cart_services
from cart.exceptions import CartClosed
from catalog import selectors as catalog_selectors
from inventory import selectors as inventory_selectors
from inventory import services as inventory_services
from inventory.exceptions import OutOfStock
from orders import metrics as order_metrics
from orders import pricing, selectors
from orders.access import signed_order_url
from orders.exceptions import (
    EmailNeverQueued,
    EmptyCart,
    InvalidDeliveryOption,
    InvalidEmail,
    InvalidRefund,
    NotEnoughStock,
    PaymentWindowClosed,
    PriceChanged,
    ProductNoLongerSold,
)
from orders.models import EmailKind, EmailLog, Order, OrderEvent, OrderEventKind, OrderLine, new_order_number
from orders.states import HOLDS_STOCK, InvalidTransition, OrderState, check_transition
from payments import methods as payment_methods
from payments import selectors as payments_selectors
from payments import services as payments_services
from shop import money, outbox
from shop.idempotency import Created, IdempotencyRequest, referenced_pk
from shop.idempotency import claim as idempotency_claim
from shop.idempotency import complete as idempotency_complete
from shop.observability import context as observability

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)

ORDER_PLACED = "order.placed"  # outbox topic: allocate this order (orders.allocate_order)
ORDER_EMAIL = "order.email"  # outbox topic: send this order e-mail (orders.send_order_email)
EMAIL_CLAIM_TIMEOUT = timedelta(minutes=5)  # a claim older than this was abandoned by a dead worker
NEVER_CLAIMED = datetime(2000, 1, 1, tzinfo=UTC)  # a new log row's claimed_at: the first claim succeeds
PAYMENT_AUTHORIZE = "payment.authorize"  # outbox topic: authorize an allocated order (payments worker)
PAYMENT_CAPTURE = "payment.capture"
PAYMENT_VOID = "payment.void"
EXPIRE_BATCH = 100  # unpaid orders cancelled per beat run
# What a customer is told when the payment did not go through (by decline code or status).
PAYMENT_PROBLEMS = {
    "requires_action": "Your bank asks you to confirm this payment: complete it on the order page.",
    "insufficient_funds": "Your card was declined for insufficient funds: use another payment method.",
    "card_declined": "Your card was declined: use another payment method.",
}
NUMBER_ATTEMPTS = 5  # random order numbers tried before giving up (a collision is a 1 in 10**15 event)


@dataclass(frozen=True)
class CheckoutInput:
    """What the customer chose at checkout; the cart is found from who they are."""

    address: AddressData
    delivery_option: str
    payment_method: str
    email: str = ""  # guests give one; a signed-in customer's account e-mail is used when blank
    expected_total: Decimal | None = None  # the total the customer reviewed; a different one is refused


# --- Checkout -------------------------------------------------------------------------------------


def place_order(
    *,
    checkout: CheckoutInput,
    customer: User | None = None,
    guest_token: str | None = None,
    idempotency: IdempotencyRequest | None = None,
) -> Created[Order]:
    """Turn the customer's open cart into an order (state placed); allocation follows after commit.

    Durable transaction on the primary. A replay of the same idempotency key returns the first
    order with created=False. Refusals change nothing: InvalidAddress, InvalidEmail,
    InvalidDeliveryOption, InvalidPaymentMethod (400); EmptyCart, ProductNoLongerSold,
    NotEnoughStock, PriceChanged (409); IdempotencyKeyReused (422).
    """
    signed_in = customer is not None and customer.is_authenticated
    assert signed_in or guest_token, "an order is placed by a customer or a guest token"
    address = accounts_services.clean_address(checkout.address)
    email = _clean_email(checkout.email or (customer.email if signed_in else ""))
    payment_method = payment_methods.check_payment_method(checkout.payment_method)
    delivery = _delivery_option(checkout.delivery_option)
    with transaction.atomic(durable=True):
        if (ref := idempotency_claim(idempotency)) is not None:
            return Created(Order.objects.get(pk=referenced_pk(ref)), created=False)
        cart = cart_selectors.find_open_cart(user=customer if signed_in else None, guest_token=guest_token)
        if cart is None:
            raise EmptyCart()
        try:
            cart_services.close_cart(cart_id=cart.pk)  # locks the cart: a concurrent submit waits here
        except CartClosed as exc:  # the other submit checked it out first
            raise EmptyCart() from exc
        lines = cart_selectors.get_checkout_lines(cart_id=cart.pk)
        if not lines:
            raise EmptyCart()
        products = _sellable(lines)
        _precheck_stock(lines, products)
        totals = pricing.compute_totals(
            lines=[(line.product_id, line.quantity, products[line.product_id].price) for line in lines],
            delivery=delivery.code,
        )
        expected = None if checkout.expected_total is None else money.quantize(checkout.expected_total)
        if expected is not None and expected != totals.total:
            raise PriceChanged(expected=expected, total=totals.total)
        order = _create_order(
            customer=customer if signed_in else None,
            guest_key=cart.guest_key or "",
            email=email,
            address=address,
            delivery=delivery,
            payment_method=payment_method,
            totals=totals,
        )
        OrderLine.objects.bulk_create(
            [
                OrderLine(
                    order=order,
                    product_id=line.product_id,
                    title=products[line.product_id].title,
                    sku=products[line.product_id].sku,
                    unit_price=line.unit_price,
                    quantity=line.quantity,
                    subtotal=line.subtotal,
                )
                for line in totals.lines
            ]
        )
        OrderEvent.objects.create(
            order=order, kind=OrderEventKind.PLACED, to_state=OrderState.PLACED, actor=customer if signed_in else None,
            data={"cart_id": cart.pk, "total": str(order.total)},
        )  # fmt: skip
        idempotency_complete(idempotency, order)
        order_metrics.order_placed(number=order.number, channel=order.channel)
        outbox.publish_all(
            [outbox.Message(ORDER_PLACED, order.number, {"order_id": order.pk}), _email_due(order, EmailKind.RECEIVED)]
        )
    return Created(order, created=True)


# --- Allocation (the inventory-queue worker) ------------------------------------------------------


def allocate_order(*, order_id: int) -> Order:
    """Take the stock of a placed order: allocated, or rejected as out of stock with nothing taken.

    Durable transaction: locks the order, then (inside inventory.services.allocate) each stock
    row in product-id order. Safe to run twice: an order no longer placed (allocated, rejected,
    cancelled meanwhile) is returned unchanged. Raises StockBusy when a stock row stays locked
    past the lock timeout (the task retries it).
    """
    with transaction.atomic(durable=True):
        order = selectors.lock_order(order_id=order_id)
        if order.state != OrderState.PLACED:
            return order
        lines = list(order.lines.values_list("product_id", "quantity", "title"))
        try:
            changes = inventory_services.allocate(order_id=order.pk, lines=[(p, q) for p, q, _ in lines])
        except OutOfStock as exc:
            title = next(title for product_id, _, title in lines if product_id == exc.product_id)
            order.rejection_reason = (
                f"{title}: {exc.requested} ordered, only {exc.available} left." if exc.available
                else f"{title} sold out before your order could be confirmed."
            )  # fmt: skip
            _transition(order, OrderState.REJECTED, message=order.rejection_reason,
                        data={"product_id": exc.product_id, "requested": exc.requested, "available": exc.available})  # fmt: skip
            outbox.publish_all([_email_due(order, EmailKind.REJECTED)])
            return order
        _transition(order, OrderState.ALLOCATED, data={"units": -sum(change.quantity for change in changes)})
        outbox.publish_all([_email_due(order, EmailKind.ALLOCATED), _authorization_request(order)])
    return order


# --- Changes by customers and staff ----------------------------------------------------------------


def cancel_order(*, order_id: int, actor: User | None = None, reason: str = "") -> Order:
    """Cancel an order that has not shipped; stock it holds goes back through inventory.release.

    Durable transaction, order row locked. Raises InvalidTransition (409) for an order already
    cancelled, rejected, shipped or beyond. A payment authorized (or waiting for the customer) is
    voided by the payments worker (outbox "payment.void").
    """
    with transaction.atomic(durable=True):
        order = selectors.lock_order(order_id=order_id)
        check_transition(order.state, OrderState.CANCELLED)
        held_payment = order.state in HOLDS_STOCK  # allocated orders were handed to payment
        released = inventory_services.release(order_id=order.pk)  # nothing when it was never allocated
        _transition(
            order, OrderState.CANCELLED, actor=actor, message=reason[:300],
            data={"released_units": sum(change.quantity for change in released)},
        )  # fmt: skip
        messages = [_email_due(order, EmailKind.CANCELLED)]
        if held_payment:
            messages.append(outbox.Message(PAYMENT_VOID, order.number, {"order_id": order.pk}))
        outbox.publish_all(messages)
    return order


def mark_shipped(*, order_id: int, actor: User | None = None) -> Order:
    """Staff: the parcel left the warehouse. Only an authorized order; its payment is captured by
    the payments worker (outbox "payment.capture", retried until the gateway answers)."""
    with transaction.atomic(durable=True):
        order = selectors.lock_order(order_id=order_id)
        _transition(order, OrderState.SHIPPED, actor=actor)
        outbox.publish_all([outbox.Message(PAYMENT_CAPTURE, order.number, {"order_id": order.pk})])
    return order


# --- Payment (results from the payments worker, and the customer fixing a failed payment) ----------


def apply_payment_result(*, order_id: int, status: str, message: str = "", decline_code: str = "") -> Order:
    """Consumer of "payment.result": the order follows its payment. Idempotent and order-tolerant:
    a result that no longer fits the order's state is written to the history and changes nothing
    (an authorization that arrives for an order cancelled meanwhile is voided)."""
    with transaction.atomic(durable=True):
        order = selectors.lock_order(order_id=order_id)
        data = {"payment_status": status, "decline_code": decline_code}
        if status == "authorized" and order.state in (OrderState.ALLOCATED, OrderState.PAYMENT_FAILED):
            _transition(order, OrderState.AUTHORIZED, message="Payment authorized", data=data)
        elif status == "authorized" and order.state == OrderState.CANCELLED:
            outbox.publish_all([outbox.Message(PAYMENT_VOID, order.number, {"order_id": order.pk})])
        elif status in ("declined", "requires_action") and order.state == OrderState.ALLOCATED:
            reason = PAYMENT_PROBLEMS.get(decline_code or status, "Your payment could not be completed.")
            _transition(order, OrderState.PAYMENT_FAILED, message=reason, data=data)
            outbox.publish_all([_email_due(order, EmailKind.PAYMENT_FAILED)])
        elif status in ("declined", "requires_action") and order.state == OrderState.PAYMENT_FAILED:
            # the replacement failed too: the customer hears about it again
            OrderEvent.objects.create(order=order, kind=OrderEventKind.NOTE, message=f"Payment {status} again", data=data)
            outbox.publish_all([_email_again(order, EmailKind.PAYMENT_FAILED)])
        else:
            OrderEvent.objects.create(order=order, kind=OrderEventKind.NOTE, message=f"Payment {status}"[:300], data=data)
    return order


def replace_payment_method(*, order_id: int, payment_method: str, actor: User | None = None) -> Order:
    """The customer gives another payment method for an order whose payment failed, within the
    payment window: a new authorization attempt is sent to the payments worker.
    Raises InvalidTransition (409) for any other state, PaymentWindowClosed, InvalidPaymentMethod."""
    payment_method = payment_methods.check_payment_method(payment_method)
    with transaction.atomic(durable=True):
        order = selectors.lock_order(order_id=order_id)
        if order.state != OrderState.PAYMENT_FAILED:
            raise InvalidTransition(current=order.state, target=OrderState.AUTHORIZED)
        if order.updated_at < timezone.now() - payment_window():
            raise PaymentWindowClosed()
        order.payment_method = payment_method
        order.payment_attempts += 1
        order.save(update_fields=["payment_method", "payment_attempts", "updated_at"])
        OrderEvent.objects.create(order=order, kind=OrderEventKind.NOTE, actor=actor,
                                  message=f"New payment method given (attempt {order.payment_attempts})")  # fmt: skip
        outbox.publish_all([_authorization_request(order)])
    return order


def complete_payment_action(*, order_id: int) -> None:
    """The customer finished authenticating the payment (3-D Secure) on the order page."""
    order = Order.objects.only("state").get(pk=order_id)
    if order.state != OrderState.PAYMENT_FAILED:
        raise InvalidTransition(current=order.state, target=OrderState.AUTHORIZED)
    payments_services.complete_customer_action(order_id=order_id)  # the result reaches us through the outbox


def expire_unpaid_orders(*, limit: int = EXPIRE_BATCH) -> int:
    """Beat: cancel orders whose payment failed and was not fixed within the payment window
    (their stock goes back, holds are voided). Returns how many it cancelled."""
    overdue = list(
        Order.objects.filter(state=OrderState.PAYMENT_FAILED, updated_at__lt=timezone.now() - payment_window())
        .order_by("updated_at")
        .values_list("pk", flat=True)[:limit]
    )
    cancelled = 0
    for order_id in overdue:
        try:
            cancel_order(order_id=order_id, reason="The payment was not completed in time.")
            cancelled += 1
        except InvalidTransition:
            continue  # fixed or cancelled meanwhile
    return cancelled


def payment_window() -> timedelta:
    return timedelta(hours=settings.PAYMENTS_WINDOW_HOURS)


# --- Refunds (orders decide what, payments execute) ----------------------------------------------------


def refund_order(
    *, order_id: int, amount: Decimal | None, reference: str, restock: dict[int, int] | None = None,
    reason: str = "", actor: User | None = None,
) -> Order:  # fmt: skip
    """Refund a shipped or delivered order, fully (amount None: what is left) or partly, and put
    returned units back in stock (restock: {product_id: quantity}, at most what was ordered and
    not yet put back by an earlier refund).

    Payments checks, under its row lock, that the refunds never exceed what was captured.
    Idempotent per `reference`. Raises InvalidTransition, RefundRefused (409), InvalidRefund (400),
    PaymentUnavailable (503).
    """
    order = Order.objects.get(pk=order_id)
    if order.state not in (OrderState.SHIPPED, OrderState.DELIVERED, OrderState.REFUNDED):
        raise InvalidTransition(current=order.state, target=OrderState.REFUNDED)
    returnable = selectors.returnable_units(order_id=order_id, exclude_reference=reference)
    restock = restock or {}
    for product_id, quantity in restock.items():
        if not 1 <= quantity <= returnable.get(product_id, 0):
            raise InvalidRefund("restock", f"Product {product_id}: restock 1 to the units ordered and not yet returned.")
    earlier = payments_selectors.find_refund(reference=reference)  # a retry of this very refund
    if amount is not None:
        minor = money.to_minor_units(amount, order.currency)
    elif earlier is not None:
        minor = earlier.amount
    else:
        minor = payments_selectors.refundable(order_id=order_id)
    refund = payments_services.refund_payment(order_id=order_id, amount=minor, reference=reference, reason=reason,
                                              actor=actor)  # fmt: skip
    for product_id, quantity in sorted(restock.items()):
        inventory_services.restock(product_id=product_id, quantity=quantity,
                                   cause=selectors.refund_cause(order.number, reference),
                                   reason=f"Returned with order {order.number}", actor=actor)  # fmt: skip
    with transaction.atomic(durable=True):
        order = selectors.lock_order(order_id=order_id)
        data = {"refund": refund.reference, "amount": str(money.from_minor_units(refund.amount, order.currency)),
                "restocked": {str(k): v for k, v in restock.items()}}  # fmt: skip
        if order.state != OrderState.REFUNDED:
            _transition(order, OrderState.REFUNDED, actor=actor, message=reason[:300], data=data)
        else:
            OrderEvent.objects.create(order=order, kind=OrderEventKind.NOTE, actor=actor, message="Refunded again",
                                      data=data)  # fmt: skip
    return order


def resend_email(*, order_id: int, kind: str, actor: User | None = None) -> None:
    """Staff: send an order e-mail again (the customer lost it). Only a kind this order was due.

    An e-mail already sent is made due again; one still pending or being sent right now is left
    as it is (it is going out anyway, and its claim keeps it from going out twice).
    Raises EmailNeverQueued (409).
    """
    with transaction.atomic(durable=True):
        order = selectors.lock_order(order_id=order_id)
        if not EmailLog.objects.filter(order=order, kind=kind).exists():
            raise EmailNeverQueued(kind=kind)
        OrderEvent.objects.create(order=order, kind=OrderEventKind.EMAIL_RESENT, actor=actor, data={"kind": kind})
        outbox.publish_all([_email_again(order, kind)])


# --- E-mails -----------------------------------------------------------------------------------------


def send_order_email(*, order_id: int, kind: str) -> bool:
    """Send one order e-mail if nobody has: claim the log row, send, mark it sent. True when sent now.

    No transaction around the SMTP call (it must hold no lock). A worker that dies between the
    claim and `sent_at` leaves a claim that times out (EMAIL_CLAIM_TIMEOUT), and a later retry
    sends: at least once, never two concurrent sends. A failed send gives its claim back at once,
    so the task's retry can send.
    """
    now = timezone.now()
    claimed = EmailLog.objects.filter(
        order_id=order_id, kind=kind, sent_at=None, claimed_at__lt=now - EMAIL_CLAIM_TIMEOUT
    ).update(claimed_at=now)
    if not claimed:
        return False  # sent already, or another worker is sending it right now
    order = selectors.get_order_for_email(order_id=order_id)
    try:
        _message(order, kind).send()
    except Exception:
        EmailLog.objects.filter(order_id=order_id, kind=kind, sent_at=None).update(claimed_at=NEVER_CLAIMED)
        raise
    EmailLog.objects.filter(order_id=order_id, kind=kind).update(sent_at=timezone.now())
    OrderEvent.objects.create(order_id=order_id, kind=OrderEventKind.EMAIL_SENT, data={"kind": kind})
    return True


# --- Helpers: they run inside the caller's transaction -----------------------------------------------


def _transition(
    order: Order, target: str, *, actor: User | None = None, message: str = "", data: dict | None = None
) -> None:
    """The one place a state changes: checked against the machine, saved, written to the history."""
    check_transition(order.state, target)
    previous, order.state, since = order.state, target, order.updated_at
    order.save(update_fields=["state", "rejection_reason", "updated_at"])
    order_metrics.order_transitioned(number=order.number, channel=order.channel, previous=previous, target=target,
                                     since=since)  # fmt: skip
    OrderEvent.objects.create(
        order=order, kind=OrderEventKind.STATE_CHANGED, from_state=previous, to_state=target,
        message=message, actor=actor, data=data or {},
    )  # fmt: skip


def _authorization_request(order: Order) -> outbox.Message:
    """Ask the payments worker to authorize the order's payment method for its total."""
    return outbox.Message(PAYMENT_AUTHORIZE, order.number, {
        "order_id": order.pk, "order_number": order.number, "amount": money.to_minor_units(order.total, order.currency),
        "currency": order.currency, "payment_method": order.payment_method, "attempt": order.payment_attempts,
    })  # fmt: skip


def _email_due(order: Order, kind: str) -> outbox.Message:
    """Log the e-mail as due (once per order and kind); the outbox message hands it to the e-mail worker."""
    EmailLog.objects.bulk_create([EmailLog(order=order, kind=kind, claimed_at=NEVER_CLAIMED)], ignore_conflicts=True)
    return outbox.Message(ORDER_EMAIL, order.number, {"order_id": order.pk, "kind": kind})


def _email_again(order: Order, kind: str) -> outbox.Message:
    """Make an e-mail due once more. One already sent is reset; one pending or being sent right now
    is left as it is (it is going out anyway, and its claim keeps it from going out twice)."""
    EmailLog.objects.filter(order=order, kind=kind, sent_at__isnull=False).update(sent_at=None, claimed_at=NEVER_CLAIMED)
    return _email_due(order, kind)


def _create_order(*, customer, guest_key, email, address, delivery, payment_method, totals) -> Order:
    fields = dict(
        customer=customer, guest_key=guest_key, email=email, **address.__dict__,
        currency=totals.currency, delivery_option=delivery.code, delivery_label=delivery.label,
        subtotal=totals.subtotal, shipping=totals.shipping, tax=totals.tax, total=totals.total,
        tax_rate=Decimal(str(settings.ORDERS_TAX_RATE)), prices_include_tax=settings.ORDERS_PRICES_INCLUDE_TAX,
        payment_method=payment_method, channel=observability.current_channel(),
        request_id=observability.current_request_id() or "",
    )  # fmt: skip
    for attempt in range(NUMBER_ATTEMPTS):
        try:
            with transaction.atomic():
                return Order.objects.create(number=new_order_number(), **fields)
        except IntegrityError:
            if attempt == NUMBER_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _sellable(lines: list[cart_selectors.CheckoutLine]) -> dict[int, catalog_selectors.SellableProduct]:
    products = catalog_selectors.get_sellable_products(product_ids=[line.product_id for line in lines])
    for line in lines:
        if line.product_id not in products:
            raise ProductNoLongerSold(product_id=line.product_id)
    return products


def _precheck_stock(lines: list[cart_selectors.CheckoutLine], products: dict) -> None:
    """Refuse a line plainly above stock, reading without a lock (allocation is the authority)."""
    levels = inventory_selectors.get_levels(product_ids=[line.product_id for line in lines])
    for line in lines:
        if line.quantity > levels[line.product_id]:
            raise NotEnoughStock(
                product_id=line.product_id, title=products[line.product_id].title,
                requested=line.quantity, available=levels[line.product_id],
            )  # fmt: skip


def _delivery_option(code: str) -> pricing.DeliveryOption:
    try:
        return pricing.delivery_option(code)
    except pricing.UnknownDeliveryOption as exc:
        raise InvalidDeliveryOption(choices=[option.code for option in pricing.delivery_options()]) from exc


def _clean_email(email: str) -> str:
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise InvalidEmail() from exc
    return email


def _message(order: Order, kind: str) -> EmailMultiAlternatives:
    context = {"order": order, "lines": list(order.lines.all()), "order_url": signed_order_url(order),
               "shop_name": settings.SHOP_NAME, "payment_window_hours": settings.PAYMENTS_WINDOW_HOURS}  # fmt: skip
    subject = render_to_string(f"orders/email/{kind}_subject.txt", context).strip()
    text = render_to_string(f"orders/email/{kind}.txt", context)
    html = render_to_string(f"orders/email/{kind}.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, to=[order.email])
    message.attach_alternative(html, "text/html")
    return message
