"""Every write of orders: placing an order, allocating it, cancelling, shipping, and its e-mails.

ARCHITECTURE.md flows 4 and 5, STYLE.md sections 5 to 9:

- `place_order` is one short durable transaction on the primary. It locks only the cart row:
  stock is pre-checked without a lock (a plainly short line is refused with a 409 naming the
  product), and allocation, later, is the authority. The order, its lines, its first event,
  the idempotency key, the cart's closing and the outbox rows (allocation, the "received"
  e-mail) commit together, so an accepted order is never lost and never placed twice.
- Allocation runs in the inventory-queue worker, in batches (`allocate_waiting_orders`: the
  oldest placed orders claimed with SKIP LOCKED, decided first come first served, written
  set-based in one transaction; docs/pipeline.md). `allocate_order` (staff, tests) is a batch of
  one. A second delivery finds the order no longer placed and changes nothing.
- Every state change goes through `_transition`, which checks orders/states.py and writes the
  order's history; nothing else assigns `Order.state`.
- E-mails are claimed in an EmailLog row per order and kind before they are sent.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import MaxLengthValidator, validate_email
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import Exists, F, OuterRef
from django.template.loader import render_to_string
from django.utils import timezone

from accounts import services as accounts_services
from accounts.emails import same_email
from accounts.services import AddressData
from cart import selectors as cart_selectors
from cart import services as cart_services
from catalog import selectors as catalog_selectors
from catalog import services as catalog_services
from inventory import selectors as inventory_selectors
from inventory import services as inventory_services
from inventory.exceptions import StockBusy
from orders import metrics as order_metrics
from orders import pricing, selectors
from orders.access import signed_order_url
from orders.exceptions import (
    CaptureFailed,
    CaptureInProgress,
    EmailNeverQueued,
    EmailNotReady,
    EmptyCart,
    InvalidDeliveryOption,
    InvalidEmail,
    InvalidOrderNote,
    InvalidRefund,
    NotEnoughStock,
    PaymentWindowClosed,
    PriceChanged,
    ProductNoLongerSold,
    ReturnNotFound,
    ReturnRefused,
)
from orders.metrics import ORDERS_REDRIVEN
from orders.models import (
    NOTE_MAX_LENGTH,
    EmailKind,
    EmailLog,
    Order,
    OrderEvent,
    OrderEventKind,
    OrderLine,
    RefundRestock,
    ReturnLine,
    ReturnReason,
    ReturnRequest,
    ReturnState,
    new_order_number,
)
from orders.states import HOLDS_STOCK, RETURNABLE, SHIPPED_STATES, InvalidTransition, OrderState, check_transition
from payments import methods as payment_methods
from payments import selectors as payments_selectors
from payments import services as payments_services
from payments.exceptions import RefundRefused
from payments.models import RefundState
from shop import deadletters, email_claims, money, outbox
from shop.email_addresses import EMAIL_MAX_LENGTH, normalize_email
from shop.idempotency import Created, IdempotencyKeyReused, IdempotencyRequest, referenced_pk
from shop.idempotency import claim as idempotency_claim
from shop.idempotency import complete as idempotency_complete
from shop.idempotency import lookup as idempotency_lookup
from shop.observability import context as observability
from shop.templating import render_text

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)

ORDER_PLACED = "order.placed"  # outbox topic: allocate this order (orders.allocate_order)
ORDER_EMAIL = "order.email"  # outbox topic: send this order e-mail (orders.send_order_email)
NEVER_CLAIMED = email_claims.NEVER_CLAIMED  # a new log row's claimed_at: the first claim succeeds
PAYMENT_AUTHORIZE = "payment.authorize"  # outbox topic: authorize an allocated order (payments worker)
PAYMENT_VOID = "payment.void"
PAYMENT_REDRIVE = "payment.redrive"  # outbox topic: the sweep asks payments to finish or report an attempt
REDRIVE_BATCH = 200  # stuck orders (and unsent e-mails) driven again per sweep
EXPIRE_BATCH = 100  # unpaid orders cancelled per beat run
# What a customer is told when the payment did not go through (by decline code or status).
PAYMENT_PROBLEMS = {
    "requires_action": "Your bank asks you to confirm this payment: complete it on the order page.",
    "insufficient_funds": "Your card was declined for insufficient funds: use another payment method.",
    "card_declined": "Your card was declined: use another payment method.",
    "voided": "The hold on your card was released (voided or expired) before your order shipped: pay again.",
}
# "Your order is confirmed" is true from the payment's authorization on.
CONFIRMED_STATES = (OrderState.AUTHORIZED, *SHIPPED_STATES)
RETURN_EMAILS = (EmailKind.RETURN_REQUESTED, EmailKind.RETURN_APPROVED, EmailKind.RETURN_REFUSED)
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
        # Closes the cart and locks it: a concurrent submit waits here, then finds no open cart.
        cart = cart_services.check_out_open_cart(user=customer if signed_in else None, guest_token=guest_token)
        if cart is None:
            raise EmptyCart()
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
        order_lines = OrderLine.objects.bulk_create(
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
        event = OrderEvent.objects.create(
            order=order, kind=OrderEventKind.PLACED, to_state=OrderState.PLACED, actor=customer if signed_in else None,
            data={"cart_id": cart.pk, "total": str(order.total)},
        )  # fmt: skip
        _remember_related(order, lines=order_lines, events=[event])  # the API answers without reading it again
        idempotency_complete(idempotency, order)
        order_metrics.order_placed(number=order.number, channel=order.channel)
        # "received" first: on the embedded default each consumer runs inline as it is handed on
        outbox.publish_all(
            [_email_due(order, EmailKind.RECEIVED), _allocation_request(order)]
        )
    return Created(order, created=True)


# --- Allocation (the inventory-queue worker) ------------------------------------------------------


def allocate_order(*, order_id: int) -> Order:
    """Take the stock of one placed order (staff actions, tests): a batch of one.

    Durable transaction: locks the order (waiting for a run that holds it), then decides it exactly
    as a batch would. Safe to run twice: an order no longer placed is returned unchanged. This is
    also how staff retry an order whose allocation failed (its mark is cleared when it is decided;
    a failure again raises and keeps it). Raises StockBusy when a stock row stays locked past the
    lock timeout (the task retries it).
    """
    with transaction.atomic(durable=True):
        order = selectors.lock_order(order_id=order_id)
        if order.state == OrderState.PLACED:
            _decide_orders([order])
            if order.allocation_failed_at is not None:
                Order.objects.filter(pk=order.pk).update(allocation_failed_at=None)
                order.allocation_failed_at = None
    return order


def allocate_waiting_orders(*, limit: int | None = None) -> list[Order]:
    """One allocation run: claim the oldest placed orders (up to `limit`, ORDERS_ALLOCATION_BATCH by
    default; SKIP LOCKED, so concurrent runs take different orders) and decide them first come,
    first served, in one durable transaction. Returns the orders claimed.

    A batch that fails is never half applied: it is split in two and each half retried in its own
    savepoint, so one bad order never blocks the others; an order that fails on its own is left
    placed and recorded as a dead letter (staff retry it). StockBusy and database errors are not
    split: they roll the run back and the task retries it.
    """
    with transaction.atomic(durable=True):
        orders = selectors.claim_placed_orders(limit=limit or settings.ORDERS_ALLOCATION_BATCH)
        if orders:
            _decide_in_parts(orders, selectors.get_allocation_lines(order_ids=[order.pk for order in orders]))
    return orders


class _DecidedOrders:
    """The orders this process's allocation runs decided, by (id, number), newest kept (bounded).

    A batch decides hundreds of orders at once, and each of them still has its "order.placed"
    message on the way: those messages have nothing left to do. A decided order never goes back to
    placed (orders.states), so a message whose order is here is answered without a query. The
    number is part of the key because ids are not unique across test databases (sequences reset)."""

    def __init__(self, size: int) -> None:
        self.size, self.states, self.lock = size, OrderedDict(), threading.Lock()

    def remember(self, orders: list[Order]) -> None:
        with self.lock:
            for order in orders:
                if order.state != OrderState.PLACED:
                    self.states[order.pk, order.number] = order.state
            while len(self.states) > self.size:
                self.states.popitem(last=False)

    def get(self, order_id: int, number: str) -> str | None:
        return self.states.get((order_id, number)) if number else None


DECIDED = _DecidedOrders(size=50_000)


def allocate_until_decided(*, order_id: int, order_number: str = "", max_runs: int = 20) -> str:
    """The "order.placed" consumer: run allocation batches until this order is decided, and return
    the state allocation gave it. Nothing happens when another run decided it already (without a
    query when it was a run of this process, see _DecidedOrders); when another run holds it right
    now (SKIP LOCKED), that run decides it. An order whose allocation failed on its own is not
    claimed by runs: this message (a staff retry of its dead letter) decides it alone."""
    if decided := DECIDED.get(order_id, order_number):
        return decided
    state, failed_at = Order.objects.filter(pk=order_id).values_list("state", "allocation_failed_at").first() or ("", None)
    if state == OrderState.PLACED and failed_at is not None:
        return allocate_order(order_id=order_id).state
    for _ in range(max_runs):
        if state != OrderState.PLACED:
            break
        claimed = allocate_waiting_orders()
        if not claimed:
            break
        DECIDED.remember(claimed)
        ours = next((order for order in claimed if order.pk == order_id), None)
        if ours is not None and ours.state == OrderState.PLACED:
            break  # claimed and not decided: it failed on its own (a dead letter for staff)
        # the state this run decided (after commit, eager consumers may have moved it on already)
        state = ours.state if ours is not None else Order.objects.filter(pk=order_id).values_list("state", flat=True).first()
    return state or ""


# Errors that end the run for a retry instead of splitting the batch (they say nothing about an order).
TRANSIENT_ERRORS = (StockBusy, OperationalError, InterfaceError)


def _decide_in_parts(orders: list[Order], lines: dict[int, list[tuple[int, int, str]]]) -> None:
    try:
        with transaction.atomic():
            _decide_orders(orders, lines)
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:  # a bulkhead, not a handler: whatever broke the batch is isolated below
        for order in orders:
            order.state, order.rejection_reason = OrderState.PLACED, ""  # the savepoint undid what was written
        if len(orders) > 1:
            middle = len(orders) // 2
            _decide_in_parts(orders[:middle], lines)
            _decide_in_parts(orders[middle:], lines)
            return
        logger.exception("allocation of order %s failed on its own; it stays placed for staff", orders[0].pk)
        Order.objects.filter(pk=orders[0].pk).update(allocation_failed_at=timezone.now())
        deadletters.record(task_name="orders.allocate_order", task_id="", args=[],
                           kwargs={"order_id": orders[0].pk}, exc=exc, traceback=traceback.format_exc())  # fmt: skip


def _decide_orders(orders: list[Order], lines: dict[int, list[tuple[int, int, str]]] | None = None) -> None:
    """Decide placed orders (placement order) inside the caller's transaction.

    The orders' side (states, events, e-mail logs, outbox rows) is written first, on a plan made
    from levels read without a lock; then inventory locks the stock rows, checks the plan still
    holds, and writes stock and ledger. So the hot rows are locked for two statements and the
    commit. When the locked levels decide differently, everything is written again under the lock.
    """
    lines = lines if lines is not None else selectors.get_allocation_lines(order_ids=[order.pk for order in orders])
    requests = [
        inventory_services.AllocationRequest(order_id=order.pk, lines=tuple((p, q) for p, q, _ in lines[order.pk]))
        for order in orders
    ]
    plan = inventory_services.plan_allocation(requests=requests)
    try:
        with transaction.atomic():
            _record_decisions(orders, plan, lines)
            inventory_services.apply_allocation(plan=plan)
    except inventory_services.AllocationPlanChanged:
        for order in orders:
            order.state, order.rejection_reason = OrderState.PLACED, ""
        plan = inventory_services.allocate_batch(requests=requests)  # the stock rows stay locked from here
        _record_decisions(orders, plan, lines)


def _record_decisions(
    orders: list[Order], plan: inventory_services.AllocationPlan, lines: dict[int, list[tuple[int, int, str]]]
) -> None:
    """Write the orders' outcomes set-based: one UPDATE per outcome, one INSERT each for the events,
    the e-mail logs and the outbox rows."""
    decisions = {decision.order_id: decision for decision in plan.decisions}
    now = timezone.now()
    events, emails, messages = [], [], []
    for order in orders:
        decision = decisions[order.pk]
        target = OrderState.ALLOCATED if decision.allocated else OrderState.REJECTED
        check_transition(order.state, target)
        # counted (and logged with the order's number) once the batch commits, as _transition does
        order_metrics.order_transitioned(number=order.number, channel=order.channel, previous=order.state,
                                         target=target, since=order.in_state_since)  # fmt: skip
        order.state, order.updated_at, order.state_changed_at = target, now, now
        if decision.allocated:
            data, message = {"units": -sum(change.quantity for change in decision.changes)}, ""
            kinds = []  # "your order is confirmed" waits for the payment's authorization
            messages.append(_authorization_request(order))
        else:
            order.rejection_reason = message = _rejection_reason(decision.shortage, lines[order.pk])
            data = {"product_id": decision.shortage.product_id, "requested": decision.shortage.requested,
                    "available": decision.shortage.available}  # fmt: skip
            kinds = [EmailKind.REJECTED]
        events.append(OrderEvent(order=order, kind=OrderEventKind.STATE_CHANGED, from_state=OrderState.PLACED,
                                 to_state=target, message=message, data=data))  # fmt: skip
        for kind in kinds:
            emails.append(EmailLog(order=order, kind=kind, claimed_at=NEVER_CLAIMED))
            messages.append(outbox.Message(ORDER_EMAIL, order.number, {"order_id": order.pk, "kind": kind}))
    allocated = [order.pk for order in orders if order.state == OrderState.ALLOCATED]
    if bought := _units_of(allocated, lines):  # popularity counts units bought, once the batch commits
        transaction.on_commit(partial(catalog_services.count_purchases, units=bought))
    if allocated:
        Order.objects.filter(pk__in=allocated).update(state=OrderState.ALLOCATED, updated_at=now, state_changed_at=now)
    rejected = [order for order in orders if order.state == OrderState.REJECTED]
    if rejected:
        Order.objects.bulk_update(rejected, ["state", "rejection_reason", "updated_at", "state_changed_at"])
    OrderEvent.objects.bulk_create(events)
    EmailLog.objects.bulk_create(emails, ignore_conflicts=True)
    outbox.publish_all(messages)


def _units_of(order_ids: list[int], lines: dict[int, list[tuple[int, int, str]]]) -> dict[int, int]:
    units: dict[int, int] = {}
    for order_id in order_ids:
        for product_id, quantity, _title in lines[order_id]:
            units[product_id] = units.get(product_id, 0) + quantity
    return units


def _rejection_reason(shortage: inventory_services.Shortage, lines: list[tuple[int, int, str]]) -> str:
    title = next(title for product_id, _, title in lines if product_id == shortage.product_id)
    if shortage.available:
        return f"{title}: {shortage.requested} ordered, only {shortage.available} left."[:300]
    return f"{title} sold out before your order could be confirmed."[:300]


# --- Guest orders following the customer into their account ----------------------------------------


def offer_guest_orders(*, customer: User) -> int:
    """How many orders were placed as a guest with the customer's e-mail address; when there are
    any, the address is sent a verification link (accounts), whose use attaches them
    (attach_guest_orders). Never attaches anything on the address's word alone."""
    found = len(selectors.list_guest_order_ids_for_email(email=customer.email))
    if found:
        accounts_services.request_email_verification(user=customer)
    return found


def attach_guest_orders(*, customer: User, email: str) -> int:
    """Give the account the orders placed as a guest with `email`, an address the account has just
    proved is theirs (accounts' `email_verified`). Returns how many were attached now.

    Durable transaction; idempotent: only orders still without an account change (a conditional
    UPDATE each, so two deliveries attach each order once), each with a line in its history.
    An address that is no longer the account's attaches nothing."""
    if not same_email(customer.email, email):
        return 0
    with transaction.atomic(durable=True):
        attached = [
            order_id
            for order_id in selectors.list_guest_order_ids_for_email(email=email)
            if Order.objects.filter(pk=order_id, customer=None).update(customer=customer, updated_at=timezone.now())
        ]
        OrderEvent.objects.bulk_create(
            OrderEvent(order_id=order_id, kind=OrderEventKind.NOTE, actor=customer,
                       message="Added to the customer's account: they verified the order's e-mail address")
            for order_id in attached
        )  # fmt: skip
    return len(attached)


# --- Changes by customers and staff ----------------------------------------------------------------


def cancel_order(*, order_id: int, actor: User | None = None, reason: str = "") -> Order:
    """Cancel an order that has not shipped; stock it holds goes back through inventory.release.

    Durable transaction, order row locked. Raises InvalidTransition (409) for an order already
    cancelled, rejected, shipped or beyond, CaptureInProgress (409) for an order whose payment
    shipping has begun to capture. A payment authorized (or waiting for the customer) is
    voided by the payments worker (outbox "payment.void").
    """
    with transaction.atomic(durable=True):
        order = selectors.lock_order(order_id=order_id)
        check_transition(order.state, OrderState.CANCELLED)
        if order.capture_started_at is not None:
            raise CaptureInProgress()
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


def mark_shipped(
    *, order_id: int, actor: User | None = None, carrier: str = "", tracking_number: str = "",
    client: str = "", idempotency: IdempotencyRequest | None = None,
) -> Created[Order]:  # fmt: skip
    """The parcel leaves the warehouse (staff in admin, or a warehouse system through the fulfilment
    API: `client` names its key). Only an authorized order, and only once its payment is captured:
    the capture is made first (a gateway call, outside any transaction and lock). The customer is
    e-mailed ("shipped", with the carrier and tracking number when given).

    Before the gateway is called, the order is marked under its lock as being captured
    (capture_started_at), and cancel_order refuses such an order: a customer cancelling while
    the capture is in flight would otherwise be charged for an order cancelled and restocked.
    The mark is cleared when the capture is refused; it stays when the gateway did not answer
    (the money may be taken), and shipping again finishes the order (the capture is idempotent).

    Once only: a second call for a shipped order is an InvalidTransition (409), except a replay of
    the same Idempotency-Key, which returns the order with created=False (a key used for another
    request is IdempotencyKeyReused, 422). Raises CaptureFailed (409, saying why, written to the
    order's history) when the payment could not be captured (a hold voided or expired at the bank
    moves the order back to payment needed), PaymentUnavailable (503).
    """
    if (ref := idempotency_lookup(idempotency)) is not None:
        return Created(Order.objects.get(pk=referenced_pk(ref)), created=False)
    with transaction.atomic(durable=True):
        order = selectors.lock_order(order_id=order_id)
        check_transition(order.state, OrderState.SHIPPED)
        if order.capture_started_at is None:
            order.capture_started_at = timezone.now()
            order.save(update_fields=["capture_started_at", "updated_at"])
    payment = payments_services.capture_payment(order_id=order_id)
    if payment is None or payment.state != "captured":
        reason = _capture_problem(payment)
        with transaction.atomic(durable=True):
            order = selectors.lock_order(order_id=order_id)
            order.capture_started_at = None
            order.save(update_fields=["capture_started_at", "updated_at"])
            OrderEvent.objects.create(order=order, kind=OrderEventKind.NOTE, actor=actor, message=reason[:300],
                                      data={"payment_status": payment.state if payment else ""})  # fmt: skip
        raise CaptureFailed(reason)
    with transaction.atomic(durable=True):
        if (ref := idempotency_claim(idempotency)) is not None:  # the same request, committed meanwhile
            return Created(Order.objects.get(pk=referenced_pk(ref)), created=False)
        order = selectors.lock_order(order_id=order_id)
        order.carrier, order.tracking_number = carrier, tracking_number
        parcel = ", ".join(part for part in (carrier, f"tracking number {tracking_number}" if tracking_number else "")
                           if part)  # fmt: skip
        data = {"carrier": carrier, "tracking_number": tracking_number} | ({"client": client} if client else {})
        _transition(order, OrderState.SHIPPED, actor=actor, message=parcel[:300], data=data)
        idempotency_complete(idempotency, order)
        outbox.publish_all([_email_due(order, EmailKind.SHIPPED)])
    return Created(order, created=True)


def mark_delivered(*, order_id: int, actor: User | None = None, client: str = "") -> Order:
    """The carrier handed the parcel over (a warehouse system through the fulfilment API, or staff).

    Durable transaction, order row locked. A shipped order becomes delivered; an order refunded
    (partly or fully) while on its way keeps its state, and only `delivered_at` and its history say
    it arrived. Idempotent: an order delivered already is returned unchanged (no event, no e-mail).
    The customer is e-mailed ("delivered"). Raises InvalidTransition (409) for an order that never
    shipped.
    """
    with transaction.atomic(durable=True):
        order = selectors.lock_order(order_id=order_id)
        if order.delivered_at is not None:
            return order
        if order.state not in SHIPPED_STATES:
            raise InvalidTransition(current=order.state, target=OrderState.DELIVERED)
        data = {"client": client} if client else {}
        if order.state == OrderState.SHIPPED:
            _transition(order, OrderState.DELIVERED, actor=actor, data=data)
        else:
            order.delivered_at = timezone.now()
            order.save(update_fields=["delivered_at", "updated_at"])
            OrderEvent.objects.create(order=order, kind=OrderEventKind.NOTE, actor=actor, data=data,
                                      message="Delivered to the customer")  # fmt: skip
        outbox.publish_all([_email_due(order, EmailKind.DELIVERED)])
    return order


def _capture_problem(payment) -> str:
    if payment is None:
        return "Not shipped: this order has no authorized payment to capture."
    if payment.state == "voided":
        return "Not shipped: the payment could not be captured, its authorization was voided or expired at the bank."
    return f"Not shipped: the payment could not be captured (it is {payment.get_state_display().lower()})."


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
            outbox.publish_all([_email_due(order, EmailKind.ALLOCATED)])  # "your order is confirmed"
        elif status == "voided" and order.state == OrderState.AUTHORIZED:
            # the bank released the hold (voided or expired) before shipping: the customer pays again
            _transition(order, OrderState.PAYMENT_FAILED, message=PAYMENT_PROBLEMS["voided"], data=data)
            outbox.publish_all([_email_again(order, EmailKind.PAYMENT_FAILED)])
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
        if payment_deadline(order) < timezone.now():
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
        Order.objects.filter(state=OrderState.PAYMENT_FAILED, payment_failed_at__lt=timezone.now() - payment_window())
        .order_by("payment_failed_at")
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


def redrive_stuck_orders(*, limit: int = REDRIVE_BATCH) -> dict[str, int]:
    """Beat: every step of the pipeline is recoverable from the database alone. Orders that waited
    longer than ORDERS_REDRIVE_AFTER_SECONDS in placed are handed to allocation again; in allocated
    (payment pending), to payments, which looks the payment up (at the gateway when it was sent
    there) before creating any; e-mails due whose claim expired unsent are sent again. Each goes
    through the outbox to the same idempotent consumers, so a re-drive of an order that was merely
    slow changes nothing. Counted in shop_orders_redriven_total{state}. Returns the counts.
    """
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.ORDERS_REDRIVE_AFTER_SECONDS)
    counts = {OrderState.PLACED.value: 0, OrderState.ALLOCATED.value: 0, "email": 0}
    with transaction.atomic(durable=True):
        stuck = selectors.lock_stuck_orders(states=(OrderState.PLACED, OrderState.ALLOCATED), older_than=cutoff,
                                            limit=limit)  # fmt: skip
        messages = []
        for order in stuck:
            if order.state == OrderState.PLACED:
                messages.append(_allocation_request(order))
            else:
                messages.append(_authorization_request(order, topic=PAYMENT_REDRIVE))
            counts[order.state] += 1
        # E-mails whose claim expired unsent, oldest claim first, each re-driven a bounded number of
        # times (an address the mail server refuses for good must not come back every minute and
        # crowd out the e-mails a dead worker really left); a "confirmed" e-mail of an order that is
        # no longer confirmed (cancelled before it went out) can never be sent and is not re-driven;
        # nor one that waits for its order's "received" while that is claimed (it would only wait
        # again and spend its re-drives: both go once the claim expires).
        claim_expired = now - email_claims.claim_timeout()
        received_claimed = EmailLog.objects.filter(order_id=OuterRef("order_id"), kind=EmailKind.RECEIVED, sent_at=None,
                                                   claimed_at__gte=claim_expired)  # fmt: skip
        unsent = (
            EmailLog.objects.filter(sent_at=None, claimed_at__lt=claim_expired, order__updated_at__lt=cutoff,
                                    redrives__lt=settings.ORDERS_EMAIL_MAX_REDRIVES)
            .exclude(kind=EmailKind.ALLOCATED, order__state__in=[s for s in OrderState if s not in CONFIRMED_STATES])
            .exclude(Exists(received_claimed))
            .order_by("claimed_at", "pk")
        )  # fmt: skip
        redriven_ids = []
        for pk, order_id, number, kind, reference in unsent.values_list(
            "pk", "order_id", "order__number", "kind", "reference"
        )[:limit]:
            messages.append(outbox.Message(ORDER_EMAIL, number, _email_payload(order_id, kind, reference)))
            redriven_ids.append(pk)
            counts["email"] += 1
        if redriven_ids:
            EmailLog.objects.filter(pk__in=redriven_ids).update(redrives=F("redrives") + 1)
        if stuck:  # the next sweep gives them their time again
            Order.objects.filter(pk__in=[order.pk for order in stuck]).update(updated_at=now)
            OrderEvent.objects.bulk_create([
                OrderEvent(order=order, kind=OrderEventKind.NOTE, message=f"Driven again after waiting {order.state}")
                for order in stuck
            ])  # fmt: skip
        if messages:
            outbox.publish_all(messages)
    for state in (OrderState.PLACED, OrderState.ALLOCATED):
        if counts[state]:
            ORDERS_REDRIVEN.labels(state=state.value).inc(counts[state])
    if any(counts.values()):
        logger.warning("re-drove stuck orders and e-mails: %s", counts)
    return counts


def payment_window() -> timedelta:
    return timedelta(hours=settings.PAYMENTS_WINDOW_HOURS)


def payment_deadline(order: Order) -> datetime:
    """Until when the customer may fix a failed payment: the window runs from the failure, and
    giving another card (declined again or not) never moves it."""
    return (order.payment_failed_at or order.updated_at) + payment_window()


# --- Refunds (orders decide what, payments execute) ----------------------------------------------------


def refund_order(
    *, order_id: int, amount: Decimal | None, reference: str, restock: dict[int, int] | None = None,
    reason: str = "", actor: User | None = None,
) -> Order:  # fmt: skip
    """Refund a shipped or delivered order, fully (amount None: what is left) or partly, and put
    returned units back in stock (restock: {product_id: quantity}, at most what was ordered and
    not yet put back by an earlier refund). The order becomes `refunded` once everything captured
    was given back, `partially_refunded` before; `Order.refunded_amount` follows; the customer is
    e-mailed once per refund (its reference keys the e-mail).

    The units are reserved under the order's row lock before any money moves, and payments
    reserves the amount under the payment's row lock, so concurrent refunds never return more
    units than were ordered nor more money than was captured; a refusal gives both back.
    Idempotent per `reference`. Raises InvalidTransition, RefundRefused (409), InvalidRefund (400),
    IdempotencyKeyReused (422), PaymentUnavailable (503: the reservations stay for the retry).
    """
    order = Order.objects.get(pk=order_id)
    if order.state not in SHIPPED_STATES:  # refunded too: a retry of a refund that completed it
        raise InvalidTransition(current=order.state, target=OrderState.REFUNDED)
    restock, reserved_now = _reserve_restock(order_id=order_id, reference=reference, restock=restock or {})
    earlier = payments_selectors.find_refund(reference=reference)  # a retry of this very refund
    if amount is not None:
        minor = money.to_minor_units(amount, order.currency)
    elif earlier is not None:
        minor = earlier.amount
    else:
        minor = payments_selectors.refundable(order_id=order_id)
    try:
        refund = payments_services.refund_payment(order_id=order_id, amount=minor, reference=reference,
                                                  reason=reason, actor=actor)  # fmt: skip
        if refund.state == RefundState.FAILED:  # asked again after the gateway refused it
            raise RefundRefused("The payment provider refused this refund; try again as a new refund.")
    except (RefundRefused, IdempotencyKeyReused):
        if reserved_now:
            RefundRestock.objects.filter(order_id=order_id, reference=reference).delete()  # give the units back
        raise
    for product_id, quantity in sorted(restock.items()):
        inventory_services.restock(product_id=product_id, quantity=quantity,
                                   cause=selectors.refund_cause(order.number, reference),
                                   reason=f"Returned with order {order.number}", actor=actor)  # fmt: skip
    with transaction.atomic(durable=True):
        order = selectors.lock_order(order_id=order_id)
        if OrderEvent.objects.filter(order=order, data__refund=refund.reference).exists():
            return order  # a retry of a refund already recorded: its history line and e-mail exist
        captured, refunded = payments_selectors.refunded_so_far(order_id=order_id)
        order.refunded_amount = money.from_minor_units(refunded, order.currency)
        target = OrderState.REFUNDED if refunded >= captured else OrderState.PARTIALLY_REFUNDED
        data = {"refund": refund.reference, "amount": str(money.from_minor_units(refund.amount, order.currency)),
                "restocked": {str(k): v for k, v in restock.items()}}  # fmt: skip
        if order.state != target:
            _transition(order, target, actor=actor, message=reason[:300], data=data)
        else:  # partly refunded again, and something is still left
            order.save(update_fields=["refunded_amount", "updated_at"])
            OrderEvent.objects.create(order=order, kind=OrderEventKind.NOTE, actor=actor,
                                      message=reason[:300] or "Refunded again", data=data)  # fmt: skip
        outbox.publish_all([_email_due(order, EmailKind.REFUNDED, reference=refund.reference)])
    return order


def _reserve_restock(*, order_id: int, reference: str, restock: dict[int, int]) -> tuple[dict[int, int], bool]:
    """Reserve the units this refund returns, under the order's row lock: (the units, reserved now).

    A retry of the same reference finds its first reservation (another restock with it is a 422).
    Raises InvalidRefund (400) for more units than are ordered and not yet returned.
    """
    with transaction.atomic(durable=True):
        selectors.lock_order(order_id=order_id)  # concurrent refunds of this order count units one at a time
        reserved = selectors.restock_of_refund(order_id=order_id, reference=reference)
        if reserved:
            if restock and restock != reserved:
                raise IdempotencyKeyReused()
            return reserved, False
        returnable = selectors.returnable_units(order_id=order_id)
        for product_id, quantity in restock.items():
            if not 1 <= quantity <= returnable.get(product_id, 0):
                message = f"Product {product_id}: restock 1 to the units ordered and not yet returned."
                raise InvalidRefund("restock", message)
        RefundRestock.objects.bulk_create(
            [RefundRestock(order_id=order_id, reference=reference, product_id=product_id, quantity=quantity)
             for product_id, quantity in sorted(restock.items())]
        )  # fmt: skip
    return restock, True


# --- Returns (the customer asks, staff decide, the warehouse receives; refund_order gives the money) ----


def return_deadline(order: Order) -> datetime | None:
    """Until when units of this order may be asked back (None: it was never delivered)."""
    if order.delivered_at is None:
        return None
    return order.delivered_at + timedelta(days=settings.ORDERS_RETURN_WINDOW_DAYS)


def request_return(
    *, order_id: int, units: dict[int, int], reason: str, comment: str = "", actor: User | None = None
) -> ReturnRequest:
    """The customer asks to return `units` ({product_id: quantity}) of a delivered order, within
    the return window, with a reason. The return is numbered after the order (SO-...-R1), written
    to the order's history, and the customer is e-mailed that it was received.

    Durable transaction, order row locked: two requests at once can never together ask for more
    units than were delivered and not returned yet. Raises ReturnRefused (400 naming the field;
    409 for an order not delivered or past its window).
    """
    if reason not in ReturnReason.values:
        raise ReturnRefused("reason", f"Choose a reason: {', '.join(ReturnReason.values)}.")
    comment = comment.strip()
    if len(comment) > ReturnRequest._meta.get_field("comment").max_length:
        raise ReturnRefused("comment", "Write at most 1000 characters.")
    with transaction.atomic(durable=True):
        order = selectors.lock_order(order_id=order_id)
        deadline = return_deadline(order)
        if order.state not in RETURNABLE or deadline is None:
            raise ReturnRefused("order", f"Only a delivered order can be returned; this one is "
                                         f"{order.state_label.lower()}.", status_code=409)  # fmt: skip
        if timezone.now() > deadline:
            raise ReturnRefused("order", f"The return window of {settings.ORDERS_RETURN_WINDOW_DAYS} days closed on "
                                         f"{deadline:%d %B %Y}.", status_code=409)  # fmt: skip
        units = {product_id: quantity for product_id, quantity in units.items() if quantity}
        if not units:
            raise ReturnRefused("lines", "Choose at least one item to return.")
        open_units = selectors.units_open_to_return(order_id=order.pk)
        for product_id, quantity in units.items():
            if not 1 <= quantity <= open_units.get(product_id, 0):
                raise ReturnRefused("lines", f"Product {product_id}: return 1 to "
                                             f"{open_units.get(product_id, 0)} units (delivered and not returned yet).")  # fmt: skip
        lines = {line.product_id: line for line in order.lines.all()}
        number = f"{order.number}-R{ReturnRequest.objects.filter(order=order).count() + 1}"
        request = ReturnRequest.objects.create(order=order, number=number, reason=reason, comment=comment)
        ReturnLine.objects.bulk_create([
            ReturnLine(request=request, product_id=product_id, quantity=quantity, title=lines[product_id].title,
                       unit_price=lines[product_id].unit_price)
            for product_id, quantity in sorted(units.items())
        ])  # fmt: skip
        _return_event(order, request, f"Return {number} requested: {ReturnReason(reason).label.lower()}",
                      actor=actor, units=units)  # fmt: skip
        outbox.publish_all([_email_due(order, EmailKind.RETURN_REQUESTED, reference=number)])
    return request


def approve_return(*, return_id: int, actor: User | None = None) -> ReturnRequest:
    """Staff accept a requested return: the customer is e-mailed to send the items back.
    Raises ReturnRefused (409) for a return no longer requested."""
    return _decide_return(return_id=return_id, approve=True, actor=actor)


def refuse_return(*, return_id: int, reason: str, actor: User | None = None) -> ReturnRequest:
    """Staff refuse a requested return, or close an approved one whose goods never came (or that
    nothing is left to refund for), saying why (e-mailed to the customer); its units may be asked
    for again. Raises ReturnRefused (400 without a reason, 409 for a return received or decided)."""
    reason = reason.strip()
    if not reason or len(reason) > ReturnRequest._meta.get_field("refusal_reason").max_length:
        raise ReturnRefused("refusal_reason", "Say why, in 1 to 300 characters: the customer reads it.")
    return _decide_return(return_id=return_id, approve=False, actor=actor, reason=reason)


def _decide_return(*, return_id: int, approve: bool, actor: User | None, reason: str = "") -> ReturnRequest:
    with transaction.atomic(durable=True):
        order, request = _lock_return(return_id)
        _expect_return_state(request, ReturnState.REQUESTED, *(() if approve else (ReturnState.APPROVED,)))
        request.state = ReturnState.APPROVED if approve else ReturnState.REFUSED
        request.refusal_reason, request.decided_at, request.decided_by = reason, timezone.now(), actor
        request.save(update_fields=["state", "refusal_reason", "decided_at", "decided_by"])
        said = "approved: the customer sends the items back" if approve else f"refused: {reason}"
        _return_event(order, request, f"Return {request.number} {said}", actor=actor)
        kind = EmailKind.RETURN_APPROVED if approve else EmailKind.RETURN_REFUSED
        outbox.publish_all([_email_due(order, kind, reference=request.number)])
    return request


def receive_return(*, return_id: int, actor: User | None = None) -> ReturnRequest:
    """The warehouse received an approved return's items: they are refunded (their price, at most
    what is left to refund) and put back in stock through refund_order, under the reference
    `return-<number>`, so each unit comes back once and the money moves once however often this
    runs. The order becomes partially refunded or refunded; the customer gets the refund's e-mail.

    Received is recorded first (its own commit); a refund the gateway did not answer leaves the
    return `received`, and receiving it again finishes it. Raises ReturnRefused (409) for a return
    not approved, or an order with nothing left to refund; the refund's own errors (RefundRefused
    409, PaymentUnavailable 503).
    """
    with transaction.atomic(durable=True):
        order, request = _lock_return(return_id)
        order_id = order.pk
        if request.state == ReturnState.REFUNDED:
            return request
        _expect_return_state(request, ReturnState.APPROVED, ReturnState.RECEIVED)
        lines = list(request.lines.all())
        if request.refund_amount is None:  # received now, or again after the provider refused a refund
            due = return_refund_due(request, order=order)
            if due <= 0:
                raise ReturnRefused("state", "Nothing is left to refund on this order: refuse the return "
                                             "to close it.", status_code=409)  # fmt: skip
            if request.state == ReturnState.APPROVED:
                request.state, request.received_at = ReturnState.RECEIVED, timezone.now()
                request.refund_reference = f"return-{request.number}"
                _return_event(order, request, f"Return {request.number} received by the warehouse", actor=actor)
            request.refund_amount = due
            request.save(update_fields=["state", "received_at", "refund_reference", "refund_amount"])
    try:
        refund_order(
            order_id=order_id, amount=request.refund_amount, reference=request.refund_reference,
            restock={line.product_id: line.quantity for line in lines},
            reason=f"Return {request.number}: {request.reason_label.lower()}", actor=actor,
        )  # fmt: skip
    except RefundRefused:  # the gateway said no to this reference for good: the next try is a new refund,
        # of what is left then, and the units this one reserved are free for it
        RefundRestock.objects.filter(order_id=order_id, reference=request.refund_reference).delete()
        ReturnRequest.objects.filter(pk=request.pk, state=ReturnState.RECEIVED).update(
            refund_reference=f"return-{request.number}-{request.refund_attempts + 2}", refund_amount=None,
            refund_attempts=F("refund_attempts") + 1,
        )  # fmt: skip
        raise
    ReturnRequest.objects.filter(pk=request.pk, state=ReturnState.RECEIVED).update(state=ReturnState.REFUNDED)
    request.state = ReturnState.REFUNDED
    return request


def return_refund_due(request: ReturnRequest, *, order: Order) -> Decimal:
    """What receiving this return refunds: its units at the price paid, at most what is left to refund
    (its recorded amount once received)."""
    if request.refund_amount is not None:
        return request.refund_amount
    value = sum((line.unit_price * line.quantity for line in request.lines.all()), Decimal(0))
    if not order.prices_include_tax:  # the tax was added on top of these prices: it goes back too
        value = (value * (1 + order.tax_rate)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return min(value, money.from_minor_units(payments_selectors.refundable(order_id=order.pk), order.currency))


def _lock_return(return_id: int) -> tuple[Order, ReturnRequest]:
    """The return's order and the return, locked in that order (as every order change locks). Raises ReturnNotFound."""
    order_id = ReturnRequest.objects.filter(pk=return_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise ReturnNotFound()
    return selectors.lock_order(order_id=order_id), selectors.lock_return(return_id=return_id)


def _expect_return_state(request: ReturnRequest, *states: str) -> None:
    if request.state not in states:
        allowed = " or ".join(ReturnState(state).label.split(":")[0].lower() for state in states)
        raise ReturnRefused("state", f"Return {request.number} is {request.state_label.lower()}; only a return "
                                     f"{allowed} can be acted on so.", status_code=409)  # fmt: skip


def _return_event(order: Order, request: ReturnRequest, message: str, *, actor: User | None,
                  units: dict[int, int] | None = None) -> None:  # fmt: skip
    data = {"return": request.number} | ({"units": {str(k): v for k, v in units.items()}} if units else {})
    OrderEvent.objects.create(order=order, kind=OrderEventKind.RETURN, actor=actor, message=message[:300], data=data)


def add_order_note(*, order_id: int, author: User, text: str) -> OrderEvent:
    """Support staff write a note in the order's history (staff only: the customer's order page and
    API show state changes, never notes). Raises InvalidOrderNote (400) for an empty note or one
    longer than NOTE_MAX_LENGTH, OrderNotFound."""
    text = text.strip()
    if not text or len(text) > NOTE_MAX_LENGTH:
        raise InvalidOrderNote(f"Write a note of 1 to {NOTE_MAX_LENGTH} characters.")
    with transaction.atomic(durable=True):
        order = selectors.lock_order(order_id=order_id)  # the order exists, and its history stays in order
        return OrderEvent.objects.create(order=order, kind=OrderEventKind.STAFF_NOTE, actor=author, message=text)


def resend_email(*, order_id: int, kind: str, actor: User | None = None) -> None:
    """Staff: send an order e-mail again (the customer lost it). Only a kind this order was due.

    An e-mail already sent is made due again; one still pending or being sent right now is left
    as it is (it is going out anyway, and its claim keeps it from going out twice).
    Raises EmailNeverQueued (409).
    """
    with transaction.atomic(durable=True):
        order = selectors.lock_order(order_id=order_id)
        log = EmailLog.objects.filter(order=order, kind=kind).order_by("-id").first()  # a refund's: the latest
        if log is None:
            raise EmailNeverQueued(kind=kind)
        OrderEvent.objects.create(order=order, kind=OrderEventKind.EMAIL_RESENT, actor=actor,
                                  data={"kind": kind} | ({"reference": log.reference} if log.reference else {}))  # fmt: skip
        outbox.publish_all([_email_again(order, kind, reference=log.reference)])


# --- E-mails -----------------------------------------------------------------------------------------


def send_order_email(*, order_id: int, kind: str, reference: str = "") -> bool:
    """Send one order e-mail if nobody has: claim the log row (order, kind and, for kinds that
    happen several times per order, the occurrence's reference), send, mark it sent. True when sent now.

    No transaction around the SMTP call (it must hold no lock). A worker that dies between the
    claim and `sent_at` leaves a claim that times out (EMAIL_CLAIM_TIMEOUT_SECONDS), and a later retry
    sends: at least once, never two concurrent sends. A failed send gives its claim back at once,
    so the task's retry can send.

    The customer reads them in order, whatever order the workers take them in: "confirmed" is
    sent only once the order's payment is authorized (False before, and the authorization makes
    it due again), and every e-mail but "received" sends a pending "received" first. Raises
    EmailNotReady while another worker is sending "received" (the task retries).
    """
    if kind == EmailKind.ALLOCATED and not Order.objects.filter(pk=order_id, state__in=CONFIRMED_STATES).exists():
        return False
    if kind != EmailKind.RECEIVED:
        _send_received_first(order_id=order_id, kind=kind)
    log = EmailLog.objects.filter(order_id=order_id, kind=kind, reference=reference)
    if not email_claims.send_claimed(
        log, lambda: _message(selectors.get_order_for_email(order_id=order_id), kind, reference=reference)
    ):
        return False  # sent already, or another worker is sending it right now
    data = {"kind": kind} | ({"reference": reference} if reference else {})
    OrderEvent.objects.create(order_id=order_id, kind=OrderEventKind.EMAIL_SENT, data=data)
    return True


def _send_received_first(*, order_id: int, kind: str) -> None:
    """Send the order's "received" e-mail now if it is due and unsent (orders without one, as
    staff-made ones, have no log row and wait for nothing). Raises EmailNotReady while another
    worker holds its claim; an SMTP error propagates (the caller's task retries both)."""
    pending = EmailLog.objects.filter(order_id=order_id, kind=EmailKind.RECEIVED, sent_at=None)
    if pending.exists() and not send_order_email(order_id=order_id, kind=EmailKind.RECEIVED) and pending.exists():
        raise EmailNotReady(kind=kind, waits_for=EmailKind.RECEIVED)


# --- Helpers: they run inside the caller's transaction -----------------------------------------------


def _transition(
    order: Order, target: str, *, actor: User | None = None, message: str = "", data: dict | None = None
) -> None:
    """The one place a state changes: checked against the machine, saved, written to the history."""
    check_transition(order.state, target)
    previous, order.state, since = order.state, target, order.in_state_since
    order.state_changed_at = timezone.now()
    if target == OrderState.PAYMENT_FAILED:  # the payment window starts now; another card never moves it
        order.payment_failed_at = timezone.now()
    elif target == OrderState.SHIPPED:
        order.shipped_at = timezone.now()
    elif target == OrderState.DELIVERED:
        order.delivered_at = timezone.now()
    order.save(update_fields=["state", "rejection_reason", "payment_failed_at", "carrier", "tracking_number",
                              "shipped_at", "delivered_at", "refunded_amount", "updated_at",
                              "state_changed_at"])  # fmt: skip
    order_metrics.order_transitioned(number=order.number, channel=order.channel, previous=previous, target=target,
                                     since=since)  # fmt: skip
    OrderEvent.objects.create(
        order=order, kind=OrderEventKind.STATE_CHANGED, from_state=previous, to_state=target,
        message=message, actor=actor, data=data or {},
    )  # fmt: skip


def _allocation_request(order: Order) -> outbox.Message:
    """Ask the inventory worker to decide the order (its number lets a message whose order this
    process already decided be answered without a query, _DecidedOrders)."""
    return outbox.Message(ORDER_PLACED, order.number, {"order_id": order.pk, "order_number": order.number})


def _authorization_request(order: Order, *, topic: str = PAYMENT_AUTHORIZE) -> outbox.Message:
    """Ask the payments worker to authorize the order's payment method for its total (or, with
    PAYMENT_REDRIVE, to look up and finish the attempt under way)."""
    return outbox.Message(topic, order.number, {
        "order_id": order.pk, "order_number": order.number, "amount": money.to_minor_units(order.total, order.currency),
        "currency": order.currency, "payment_method": order.payment_method, "attempt": order.payment_attempts,
    })  # fmt: skip


def _email_due(order: Order, kind: str, *, reference: str = "") -> outbox.Message:
    """Log the e-mail as due (once per order, kind and reference); the outbox message hands it to the
    e-mail worker. `reference` names the occurrence of a kind that happens several times (a refund)."""
    EmailLog.objects.bulk_create([EmailLog(order=order, kind=kind, reference=reference, claimed_at=NEVER_CLAIMED)],
                                 ignore_conflicts=True)  # fmt: skip
    return outbox.Message(ORDER_EMAIL, order.number, _email_payload(order.pk, kind, reference))


def _email_payload(order_id: int, kind: str, reference: str) -> dict:
    return {"order_id": order_id, "kind": kind} | ({"reference": reference} if reference else {})


def _email_again(order: Order, kind: str, *, reference: str = "") -> outbox.Message:
    """Make an e-mail due once more. One already sent is reset; one pending or being sent right now
    is left as it is (it is going out anyway, and its claim keeps it from going out twice)."""
    EmailLog.objects.filter(order=order, kind=kind, reference=reference, sent_at__isnull=False).update(
        sent_at=None, claimed_at=NEVER_CLAIMED, redrives=0
    )
    return _email_due(order, kind, reference=reference)


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


def _remember_related(order: Order, **related: list) -> None:
    """Give the order's related managers these rows as if prefetched (no query when they are read)."""
    cache = order.__dict__.setdefault("_prefetched_objects_cache", {})
    for name, rows in related.items():
        queryset = getattr(order, name).all()
        queryset._result_cache, queryset._prefetch_done = list(rows), True
        cache[name] = queryset


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
    email = normalize_email(email)
    try:
        validate_email(email)
        MaxLengthValidator(EMAIL_MAX_LENGTH)(email)  # the column's length: past it PostgreSQL refuses the row
    except ValidationError as exc:
        raise InvalidEmail() from exc
    return email


def _message(order: Order, kind: str, *, reference: str = "") -> EmailMultiAlternatives:
    context = {"order": order, "lines": list(order.lines.all()), "order_url": signed_order_url(order),
               "shop_name": settings.SHOP_NAME, "payment_window_hours": settings.PAYMENTS_WINDOW_HOURS}  # fmt: skip
    if kind == EmailKind.REFUNDED:  # this refund's amount, and what has been refunded in all
        refund = payments_selectors.find_refund(reference=reference)
        context["refund_amount"] = money.format_minor_units(refund.amount, order.currency) if refund else ""
        context["refund_reason"] = refund.reason if refund else ""
        context["refunded_total"] = money.format_money(order.refunded_amount, order.currency)
    elif kind in RETURN_EMAILS:
        context["return_request"] = selectors.get_return_by_number(number=reference)
        context["return_deadline"] = return_deadline(order)
    subject = render_text(f"orders/email/{kind}_subject.txt", context).strip()
    text = render_text(f"orders/email/{kind}.txt", context)
    html = render_to_string(f"orders/email/{kind}.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, to=[order.email])
    message.attach_alternative(html, "text/html")
    return message


# --- "Customers also bought" ----------------------------------------------------------------------

RECOMMENDATIONS_BATCH = 500  # products whose lists are computed and replaced per transaction


@dataclass(frozen=True)
class RecommendationsResult:
    products: int  # products that have a list now
    rows: int  # recommendations stored
    changed: int  # products whose list was rewritten (0 when a rerun found the same orders)


def compute_recommendations(*, now: datetime | None = None) -> RecommendationsResult:
    """Recompute every product's "customers also bought" list from the orders paid for in the last
    RECOMMENDATIONS_WINDOW_DAYS before `now` (docs/catalog.md#customers-also-bought) and store it
    through catalog.services.replace_recommendations, RECOMMENDATIONS_BATCH products per durable
    transaction (so not inside a caller's transaction). Bounded in memory, deterministic and
    idempotent: a rerun over the same orders rewrites nothing. The catalog's ranking job runs it
    after each ranking ("orders.recommendations" in catalog.ranking_steps, registered by OrdersConfig)."""
    since = (now or timezone.now()) - timedelta(days=settings.RECOMMENDATIONS_WINDOW_DAYS)
    products = rows = changed = 0
    for batch in selectors.iter_bought_together(
        since=since,
        min_support=settings.RECOMMENDATIONS_MIN_SUPPORT,
        per_product=settings.RECOMMENDATIONS_PER_PRODUCT,
        batch_size=RECOMMENDATIONS_BATCH,
    ):
        changed += catalog_services.replace_recommendations(
            after_product_id=batch.after_product_id, up_to_product_id=batch.up_to_product_id, rows=batch.rows
        )
        products += len({row[0] for row in batch.rows})
        rows += len(batch.rows)
    logger.info("recommendations computed since %s: %d products, %d rows, %d changed", since, products, rows, changed)
    return RecommendationsResult(products=products, rows=rows, changed=changed)
