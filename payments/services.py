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
    if payment.state != PaymentState.PENDING:
        return payment
    request = AuthorizationRequest(reference=payment.reference, order_number=order_number, amount=amount,
                                   currency=currency, payment_method=payment_method)  # fmt: skip
    result = _call(gateway, lambda: _authorize(gateway, payment, request))
    return record_result(payment_id=payment.pk, result=result)


def complete_customer_action(*, order_id: int) -> Payment | None:
    """The customer came back from authenticating (3-D Secure): ask the gateway where the latest
    attempt stands (the test gateway plays the customer's step) and record it."""
    payment = Payment.objects.filter(order_id=order_id).order_by("-attempt").first()
    if payment is None or payment.state != PaymentState.REQUIRES_ACTION:
        return payment
    gateway = get_gateway(payment.gateway)
    complete = getattr(gateway, "complete_action", gateway.retrieve)
    result = _call(gateway, lambda: complete(payment.gateway_reference))
    return record_result(payment_id=payment.pk, result=result)


def capture_payment(*, order_id: int) -> Payment | None:
    """Take the authorized amount of the order's payment (the order shipped). Idempotent."""
    payment = Payment.objects.filter(order_id=order_id, state=PaymentState.AUTHORIZED).order_by("-attempt").first()
    if payment is None:
        return Payment.objects.filter(order_id=order_id, state=PaymentState.CAPTURED).first()
    gateway = get_gateway(payment.gateway)
    result = _call(gateway, lambda: gateway.capture(payment.gateway_reference, payment.amount))
    return record_result(payment_id=payment.pk, result=result)


def void_payment(*, order_id: int) -> list[Payment]:
    """Release every hold of the order (it was cancelled). Idempotent."""
    voided = []
    open_states = [PaymentState.PENDING, PaymentState.REQUIRES_ACTION, PaymentState.AUTHORIZED]
    for payment in Payment.objects.filter(order_id=order_id, state__in=open_states).exclude(gateway_reference=""):
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
        payment = (
            Payment.objects.select_for_update()
            .filter(gateway=gateway_name, gateway_reference=event.gateway_reference)
            .first()
        )
        if payment is not None and event.status in PaymentState.values:
            _apply(payment, GatewayResult(status=event.status, gateway_reference=event.gateway_reference))
    return True


def record_result(*, payment_id: int, result: GatewayResult) -> Payment:
    """Record what the gateway said, if it moves the payment forward, and tell orders (outbox)."""
    with transaction.atomic(durable=True):
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        _apply(payment, result)
    return payment


# --- Helpers -------------------------------------------------------------------------------------------


def _apply(payment: Payment, result: GatewayResult) -> None:
    """Inside the caller's transaction, payment locked: move it forward and publish the new state."""
    if not _moves_forward(payment.state, result.status):
        if result.status != payment.state:
            logger.info("payment %s stays %s (gateway says %s)", payment.reference, payment.state, result.status)
        return
    payment.state = result.status
    payment.card_brand = result.card_brand or payment.card_brand
    payment.card_last4 = result.card_last4 or payment.card_last4
    payment.decline_code = result.decline_code
    payment.message = result.message[:300]
    payment.client_secret = result.client_secret
    if result.status == PaymentState.CAPTURED:
        payment.captured_amount = min(result.amount or payment.amount, payment.amount)
    payment.save()
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
