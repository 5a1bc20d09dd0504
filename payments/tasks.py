"""Payment tasks: outbox consumers on the payments queue (late ack, requeued when the worker dies;
shop.celery). Transient gateway trouble (and an open circuit breaker) is retried with exponential
backoff: 5 s, 10 s, 20 s ... capped at 10 minutes, 12 times (about an hour and a half); database
errors likewise; a card's answer is a result, never a retry."""

from __future__ import annotations

from celery import shared_task

from payments.exceptions import PaymentUnavailable
from shop.celery import retrying

GATEWAY_RETRY = retrying(PaymentUnavailable, max_retries=12, retry_backoff=5, retry_backoff_max=600)


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


@shared_task(name="payments.redrive_payment", **GATEWAY_RETRY)
def redrive_payment_task(*, order_id: int, order_number: str, amount: int, currency: str, payment_method: str,
                         attempt: int, message_id: int | None = None) -> str:  # fmt: skip
    """The sweep's consumer ("payment.redrive"): look the order's payment up (at the gateway when it
    was sent there) before creating any, and report its state to orders again."""
    from payments.services import redrive_payment

    return redrive_payment(order_id=order_id, order_number=order_number, amount=amount, currency=currency,
                           payment_method=payment_method, attempt=attempt).state  # fmt: skip
