"""Order tasks: thin doors onto orders.services. Arguments are ids; each task is safe to run twice."""

from __future__ import annotations

import smtplib

from celery import shared_task
from django.db import InterfaceError, OperationalError

from inventory.exceptions import StockBusy
from orders.exceptions import EmailNotReady

# Allocation waits out busy stock rows and database blips: 1, 2, 4 ... 60 s, 10 times.
ALLOCATION_RETRY = {"autoretry_for": (StockBusy, OperationalError, InterfaceError), "retry_backoff": True,
                    "retry_backoff_max": 60, "retry_jitter": True, "max_retries": 10}  # fmt: skip
# E-mail waits out an SMTP server that is down (or "received" being sent first): 10 s, 20 s ... 10 min, 8 times.
EMAIL_RETRY = {"autoretry_for": (smtplib.SMTPException, OSError, EmailNotReady), "retry_backoff": 10, "retry_backoff_max": 600,
               "retry_jitter": True, "max_retries": 8}  # fmt: skip


@shared_task(name="orders.allocate_order", **ALLOCATION_RETRY)
def allocate_order_task(*, order_id: int, message_id: int | None = None) -> str:
    """Outbox consumer of "order.placed", on the inventory queue (late ack, requeued if the worker dies)."""
    from orders.services import allocate_order  # local import breaks services <-> tasks cycles

    return allocate_order(order_id=order_id).state


@shared_task(name="orders.send_order_email", **EMAIL_RETRY)
def send_order_email_task(*, order_id: int, kind: str, message_id: int | None = None) -> bool:
    """Outbox consumer of "order.email", on the email queue; the log row makes a redelivery send nothing."""
    from orders.services import send_order_email

    return send_order_email(order_id=order_id, kind=kind)


@shared_task(name="orders.apply_payment_result", autoretry_for=(OperationalError, InterfaceError), retry_backoff=True,
             max_retries=10)  # fmt: skip
def apply_payment_result_task(*, order_id: int, status: str, payment_id: int | None = None, decline_code: str = "",
                              message: str = "", message_id: int | None = None) -> str:  # fmt: skip
    """Outbox consumer of "payment.result": the order follows its payment (idempotent)."""
    from orders.services import apply_payment_result

    return apply_payment_result(order_id=order_id, status=status, message=message, decline_code=decline_code).state


@shared_task(name="orders.expire_unpaid_orders")
def expire_unpaid_orders_task() -> int:
    """Beat, every 5 minutes: cancel orders whose failed payment was not fixed in time; re-enqueues
    itself while a full batch was cancelled."""
    from orders.services import EXPIRE_BATCH, expire_unpaid_orders

    cancelled = expire_unpaid_orders(limit=EXPIRE_BATCH)
    if cancelled == EXPIRE_BATCH:
        expire_unpaid_orders_task.delay()
    return cancelled
