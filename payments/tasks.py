"""Payment tasks: outbox consumers on the default queue. Transient gateway trouble (and an open
circuit breaker) is retried with exponential backoff: 5 s, 10 s, 20 s ... capped at 10 minutes,
12 times (about an hour and a half); a card's answer is a result, never a retry."""

from __future__ import annotations

from celery import shared_task

from payments.exceptions import PaymentUnavailable

GATEWAY_RETRY = {"autoretry_for": (PaymentUnavailable,), "retry_backoff": 5, "retry_backoff_max": 600,
                 "retry_jitter": True, "max_retries": 12, "acks_late": True}  # fmt: skip


@shared_task(name="payments.authorize_payment", **GATEWAY_RETRY)
def authorize_payment_task(*, order_id: int, order_number: str, amount: int, currency: str, payment_method: str,
                           attempt: int, message_id: int | None = None) -> str:  # fmt: skip
    from payments.services import authorize_payment  # local import breaks services <-> tasks cycles

    return authorize_payment(order_id=order_id, order_number=order_number, amount=amount, currency=currency,
                             payment_method=payment_method, attempt=attempt).state  # fmt: skip


@shared_task(name="payments.capture_payment", **GATEWAY_RETRY)
def capture_payment_task(*, order_id: int, message_id: int | None = None) -> str | None:
    from payments.services import capture_payment

    payment = capture_payment(order_id=order_id)
    return payment.state if payment else None


@shared_task(name="payments.void_payment", **GATEWAY_RETRY)
def void_payment_task(*, order_id: int, payment_id: int | None = None, message_id: int | None = None) -> int:
    from payments.services import void_payment

    return len(void_payment(order_id=order_id, payment_id=payment_id))
