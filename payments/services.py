"""Every write of payments: authorize, complete, capture, void, refund, and webhooks.

Payments is a leaf (STYLE.md section 3): it is told the order's id and number, the amount in
minor units, the currency and the payment-method token, and it answers through the outbox
(topic "payment.result"), which orders consumes. No gateway call is ever made inside a
transaction or under a lock (STYLE.md section 7): each service reserves or records in a short
transaction, calls the gateway, then records the outcome in another.

Never charged twice: a Payment row (unique per order and attempt, with our reference, the
gateway's idempotency key) is written before the gateway is called; the gateway's reference is
stored right after the authorization is created and before it is confirmed; any retry finds it
and asks the gateway for the authorization's state instead of creating another one.

At most one live authorization per order: the order's attempts are decided under the lock of all
its Payment rows (in attempt order), no attempt is sent while another holds the authorization,
and an attempt that still becomes authorized at the same time (the customer confirmed with the
bank in one tab while giving another card in another) lost the race: it is marked superseded
and voided (outbox "payment.void" for that payment), and orders never hears of it.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.db.models import F

from payments import breaker
from payments.exceptions import PaymentRefused, PaymentUnavailable, RefundRefused
from payments.gateways import get_gateway
from payments.gateways.base import AuthorizationRequest, GatewayRefused, GatewayResult, GatewayUnavailable
from payments.models import STATE_RANK, Payment, PaymentState, Refund, RefundState, WebhookEvent
from shop import money, outbox
from shop.idempotency import IdempotencyKeyReused

logger = logging.getLogger(__name__)

PAYMENT_RESULT = "payment.result"  # outbox topic: what a payment became (orders.apply_payment_result)
PAYMENT_VOID = "payment.void"  # outbox topic: release a hold (here: one that lost a race, by payment_id)


def authorize_payment(
    *, order_id: int, order_number: str, amount: int, currency: str, payment_method: str, attempt: int
) -> Payment:
    """Authorize the order's payment method off-session for `amount` (attempt n of this order).

    Idempotent: a payment already past pending is returned as it is (a redelivered task).
    Raises GatewayUnavailable (or BreakerOpen) for transient trouble: the task retries with backoff.
    """
    gateway = get_gateway()
    payment = _payment_for_attempt(order_id=order_id, order_number=order_number, amount=amount, currency=currency,
                                   payment_method=payment_method, attempt=attempt, gateway=gateway.name)  # fmt: skip
    if payment.state != PaymentState.PENDING or _supersede_if_held(payment):
        return payment
    request = AuthorizationRequest(reference=payment.reference, order_number=order_number, amount=amount,
                                   currency=currency, payment_method=payment_method)  # fmt: skip
    result = _call(gateway, lambda: _authorize(gateway, payment, request))
    return record_result(payment_id=payment.pk, result=result)


def complete_customer_action(*, order_id: int) -> Payment | None:
    """The customer came back from authenticating (3-D Secure): ask the gateway where the latest
    attempt stands (the test gateway plays the customer's step) and record it."""
    with transaction.atomic(durable=True):
        attempts = _lock_attempts(order_id=order_id)  # serialized with a new attempt of this order
        payment = attempts[-1] if attempts else None
        if payment is None or payment.state != PaymentState.REQUIRES_ACTION or _holder(attempts) is not None:
            return payment
    gateway = get_gateway(payment.gateway)
    complete = getattr(gateway, "complete_action", gateway.retrieve)
    result = _call(gateway, lambda: complete(payment.gateway_reference))
    return record_result(payment_id=payment.pk, result=result)


def capture_payment(*, order_id: int) -> Payment | None:
    """Take the authorized amount of the order's payment (the order ships). Idempotent.

    Returns the payment as it now stands (captured, or voided when the gateway refused because
    the hold was voided or expired there: that is recorded and told to orders), or None when the
    order has no authorized payment. Raises PaymentUnavailable (503).
    """
    held = Payment.objects.filter(order_id=order_id, superseded=False)
    payment = held.filter(state=PaymentState.AUTHORIZED).order_by("-attempt").first()
    if payment is None:
        return held.filter(state=PaymentState.CAPTURED).first()
    gateway = get_gateway(payment.gateway)
    try:
        result = _call(gateway, lambda: gateway.capture(payment.gateway_reference, payment.amount))
    except PaymentRefused:  # find out why: a hold voided or expired at the gateway is recorded as such
        result = _call(gateway, lambda: gateway.retrieve(payment.gateway_reference))
    return record_result(payment_id=payment.pk, result=result)


def void_payment(*, order_id: int, payment_id: int | None = None) -> list[Payment]:
    """Release every hold of the order (it was cancelled), or only `payment_id`'s (it lost a race
    to another attempt). Idempotent."""
    voided = []
    open_states = [PaymentState.PENDING, PaymentState.REQUIRES_ACTION, PaymentState.AUTHORIZED]
    payments = Payment.objects.filter(order_id=order_id, state__in=open_states).exclude(gateway_reference="")
    if payment_id is not None:
        payments = payments.filter(pk=payment_id)
    for payment in payments:
        gateway = get_gateway(payment.gateway)
        result = _call(gateway, lambda p=payment, g=gateway: g.void(p.gateway_reference))
        voided.append(record_result(payment_id=payment.pk, result=result))
    return voided


def refund_payment(*, order_id: int, amount: int, reference: str, reason: str = "", actor=None) -> Refund:
    """Give back `amount` minor units of what the order's payment captured.

    The amount is reserved under the payment's row lock first, so two concurrent refunds can
    never together exceed what was captured (the second is refused); then the gateway is called
    outside any transaction. Idempotent per `reference`: the gateway gets it as its idempotency
    key, and a call again with the same reference finishes a refund left pending.
    - The gateway refuses: the refund fails and the reservation is given back (RefundRefused).
    - The gateway does not answer (PaymentUnavailable, 503): the refund stays pending with its
      reservation, because it may have happened; retrying with the same reference settles it.
    Raises RefundRefused (409: nothing captured, or more than is left), PaymentUnavailable (503),
    IdempotencyKeyReused (422: this reference was used for another order or amount).
    """
    existing = Refund.objects.filter(reference=reference).select_related("payment").first()
    if existing is not None and (existing.payment.order_id != order_id or existing.amount != amount):
        raise IdempotencyKeyReused()  # the same reference for another order or another amount
    if existing is not None and existing.state != RefundState.PENDING:
        return existing
    if existing is not None:
        return _send_refund(existing.payment, existing)
    if amount < 1:
        raise RefundRefused("A refund gives back at least one cent.")
    with transaction.atomic(durable=True):
        payment = Payment.objects.select_for_update().filter(order_id=order_id, state=PaymentState.CAPTURED).first()
        if payment is None:
            raise RefundRefused("Nothing was captured for this order, so nothing can be refunded.")
        left = payment.captured_amount - payment.refunded_amount
        if amount > left:
            raise RefundRefused(f"At most {money.format_minor_units(left, payment.currency)} can still be refunded.")
        refund = Refund.objects.create(payment=payment, reference=reference, amount=amount, reason=reason[:300],
                                       actor=actor)  # fmt: skip
        Payment.objects.filter(pk=payment.pk).update(refunded_amount=F("refunded_amount") + amount)
    return _send_refund(payment, refund)


def _send_refund(payment: Payment, refund: Refund) -> Refund:
    gateway = get_gateway(payment.gateway)
    try:
        result = _call(gateway, lambda: gateway.refund(payment.gateway_reference, refund.amount, refund.reference))
    except PaymentRefused as exc:
        with transaction.atomic(durable=True):
            if Refund.objects.filter(pk=refund.pk, state=RefundState.PENDING).update(state=RefundState.FAILED):
                Payment.objects.filter(pk=payment.pk).update(refunded_amount=F("refunded_amount") - refund.amount)
        raise RefundRefused(exc.message) from exc
    Refund.objects.filter(pk=refund.pk).update(state=RefundState.SUCCEEDED, gateway_reference=result.gateway_reference)
    refund.refresh_from_db()
    return refund


def handle_webhook(*, gateway_name: str, body: bytes, headers: dict[str, str]) -> bool:
    """Verify and apply a gateway event once. True when applied now, False for a replay.

    Raises InvalidWebhook (forged or stale: nothing changes). An event never moves a payment
    backwards (an "authorized" arriving after "captured" is recorded and ignored).
    """
    event = get_gateway(gateway_name).parse_webhook(body, headers)
    with transaction.atomic(durable=True):
        try:
            with transaction.atomic():
                WebhookEvent.objects.create(gateway=gateway_name, event_id=event.event_id, type=event.type,
                                            gateway_reference=event.gateway_reference)  # fmt: skip
        except IntegrityError:
            return False
        found = Payment.objects.filter(gateway=gateway_name, gateway_reference=event.gateway_reference).first()
        if found is not None and event.status in PaymentState.values:
            attempts = _lock_attempts(order_id=found.order_id)
            payment = next(p for p in attempts if p.pk == found.pk)
            _apply(payment, attempts, GatewayResult(status=event.status, gateway_reference=event.gateway_reference))
    return True


def record_result(*, payment_id: int, result: GatewayResult) -> Payment:
    """Record what the gateway said, if it moves the payment forward, and tell orders (outbox)."""
    order_id = Payment.objects.values_list("order_id", flat=True).get(pk=payment_id)
    with transaction.atomic(durable=True):
        attempts = _lock_attempts(order_id=order_id)
        payment = next(p for p in attempts if p.pk == payment_id)
        _apply(payment, attempts, result)
    return payment


# --- Recovery (the orders sweep) ----------------------------------------------------------------------


def redrive_payment(
    *, order_id: int, order_number: str, amount: int, currency: str, payment_method: str, attempt: int
) -> Payment:
    """An order waited too long for this payment attempt: finish it, or tell orders its result again.

    No payment row yet (the authorization message was lost): authorize now. A pending payment:
    authorize_payment looks an authorization the gateway already has up (retrieve) before it
    confirms, and never creates a second one. A payment past pending: its result is published
    again (the first "payment.result" was lost); orders applies a result once. Idempotent.
    Raises PaymentUnavailable (the task retries).
    """
    payment = Payment.objects.filter(order_id=order_id, attempt=attempt).first()
    if payment is None or payment.state == PaymentState.PENDING:
        return authorize_payment(order_id=order_id, order_number=order_number, amount=amount, currency=currency,
                                 payment_method=payment_method, attempt=attempt)  # fmt: skip
    with transaction.atomic(durable=True):
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        _publish_result(payment)
    return payment


# --- Helpers -------------------------------------------------------------------------------------------


def _lock_attempts(*, order_id: int) -> list[Payment]:
    """All the order's payment rows, locked in attempt order (every decision about the order's
    attempts takes them, so two of them never decide at once, and never deadlock)."""
    assert transaction.get_connection().in_atomic_block, "_lock_attempts() needs an open transaction"
    return list(Payment.objects.select_for_update().filter(order_id=order_id).order_by("attempt"))


def _holder(attempts: list[Payment], *, other_than: Payment | None = None) -> Payment | None:
    """The attempt that holds the order's live authorization (authorized or captured), if any."""
    live = (PaymentState.AUTHORIZED, PaymentState.CAPTURED)
    return next((p for p in attempts if p.state in live and not p.superseded and p != other_than), None)


def _current(attempts: list[Payment]) -> Payment | None:
    """The payment orders follows: the live authorization, else the latest attempt not superseded."""
    return _holder(attempts) or next((p for p in reversed(attempts) if not p.superseded), None)


def _supersede_if_held(payment: Payment) -> bool:
    """Before a new attempt is sent: if another attempt of the order holds the authorization (or a
    newer attempt exists), this one is never sent. True when it was superseded."""
    with transaction.atomic(durable=True):
        attempts = _lock_attempts(order_id=payment.order_id)
        locked = next(p for p in attempts if p.pk == payment.pk)
        if locked.state != PaymentState.PENDING or locked.gateway_reference:
            return False  # already sent: a retry goes on looking it up, never creating another
        if _holder(attempts) is None and attempts[-1].pk == locked.pk:
            return False
        Payment.objects.filter(pk=locked.pk).update(
            state=PaymentState.VOIDED, superseded=True, message="Not sent: another attempt holds the payment."
        )
    payment.refresh_from_db()
    logger.info("payment %s not sent: another attempt of the order holds the authorization", payment.reference)
    return True


def _apply(payment: Payment, attempts: list[Payment], result: GatewayResult) -> None:
    """Inside the caller's transaction, the order's attempts locked: move the payment forward and
    tell orders when it is the payment orders follows. An authorization that arrives while another
    attempt holds the order's lost a race: it is superseded and voided (outbox), never followed."""
    if not _moves_forward(payment.state, result.status):
        if result.status != payment.state:
            logger.info("payment %s stays %s (gateway says %s)", payment.reference, payment.state, result.status)
        return
    followed_before = _current(attempts) == payment
    if result.status == PaymentState.AUTHORIZED and _holder(attempts, other_than=payment) is not None:
        payment.superseded = True
        outbox.publish(topic=PAYMENT_VOID, key=payment.reference,
                       payload={"order_id": payment.order_id, "payment_id": payment.pk})  # fmt: skip
        logger.warning("payment %s lost the race to another attempt of its order: voiding it", payment.reference)
    payment.state = result.status
    payment.card_brand = result.card_brand or payment.card_brand
    payment.card_last4 = result.card_last4 or payment.card_last4
    payment.decline_code = result.decline_code
    payment.message = result.message[:300]
    payment.client_secret = result.client_secret
    if result.status == PaymentState.CAPTURED:
        payment.captured_amount = min(result.amount or payment.amount, payment.amount)
    payment.save()
    if payment.superseded or not (followed_before or _current(attempts) == payment):
        return  # a lost race or an attempt replaced since: orders follows another one
    _publish_result(payment)


def _publish_result(payment: Payment) -> None:
    outbox.publish(
        topic=PAYMENT_RESULT, key=payment.reference,
        payload={"order_id": payment.order_id, "payment_id": payment.pk, "status": payment.state,
                 "decline_code": payment.decline_code, "message": payment.message},
    )  # fmt: skip


def _moves_forward(current: str, new: str) -> bool:
    """Payments only move forward: pending -> requires_action | declined | authorized ->
    captured | voided; a customer who fails 3-D Secure moves requires_action -> declined."""
    if new not in STATE_RANK or new == current:
        return False
    if STATE_RANK[new] > STATE_RANK[current]:
        return True
    return current == PaymentState.REQUIRES_ACTION and new == PaymentState.DECLINED


def _payment_for_attempt(*, order_id, order_number, amount, currency, payment_method, attempt, gateway) -> Payment:
    try:
        with transaction.atomic(durable=True):
            return Payment.objects.create(
                order_id=order_id, attempt=attempt, reference=f"{order_number}/{attempt}", gateway=gateway,
                payment_method=payment_method, amount=amount, currency=currency,
            )  # fmt: skip
    except IntegrityError:  # a redelivery: the row the first delivery wrote
        return Payment.objects.get(order_id=order_id, attempt=attempt)


def _authorize(gateway, payment: Payment, request: AuthorizationRequest) -> GatewayResult:
    if payment.gateway_reference:  # a retry: never create a second authorization
        current = gateway.retrieve(payment.gateway_reference)
        if current.status != PaymentState.PENDING:
            return current
        return gateway.confirm_authorization(payment.gateway_reference, request)
    reference = gateway.create_authorization(request)
    Payment.objects.filter(pk=payment.pk).update(gateway_reference=reference)  # stored before confirming
    payment.gateway_reference = reference
    return gateway.confirm_authorization(reference, request)


def _call(gateway, call):
    """One gateway call behind the circuit breaker; transient trouble becomes PaymentUnavailable."""
    try:
        breaker.allow(gateway.name)
    except breaker.BreakerOpen as exc:
        raise PaymentUnavailable() from exc
    try:
        result = call()
    except GatewayUnavailable as exc:
        breaker.record_failure(gateway.name)
        raise PaymentUnavailable() from exc
    except GatewayRefused as exc:
        breaker.record_success(gateway.name)  # it answered
        raise PaymentRefused(f"The payment provider refused this request: {exc}") from exc
    breaker.record_success(gateway.name)
    return result
