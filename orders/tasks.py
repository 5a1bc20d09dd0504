"""Order tasks: thin doors onto orders.services. Arguments are ids; each task is safe to run twice.

Every task here moves an order (or its e-mail): it is acknowledged late and requeued when its
worker dies (shop.celery), and it retries database errors with backoff (shop.celery.retrying).
"""

from __future__ import annotations

import smtplib

from celery import shared_task

from inventory.exceptions import StockBusy
from orders.exceptions import EmailNotReady
from shop.celery import retrying

# Allocation waits out busy stock rows and database blips: 1, 2, 4 ... 60 s, 10 times.
ALLOCATION_RETRY = retrying(StockBusy)
# E-mail waits out an SMTP server that is down (or "received" being sent first): 10 s, 20 s ... 10 min, 8 times.
EMAIL_RETRY = retrying(smtplib.SMTPException, OSError, EmailNotReady, max_retries=8, retry_backoff=10,
                       retry_backoff_max=600)  # fmt: skip


@shared_task(name="orders.allocate_order", **ALLOCATION_RETRY)
def allocate_order_task(*, order_id: int, order_number: str = "", message_id: int | None = None) -> str:
    """Outbox consumer of "order.placed", on the inventory queue: runs allocation batches (of the
    oldest waiting orders) until this order is decided; nothing when another run decided it."""
    from orders.services import allocate_until_decided  # local import breaks services <-> tasks cycles

    return allocate_until_decided(order_id=order_id, order_number=order_number)


@shared_task(name="orders.send_order_email", **EMAIL_RETRY)
def send_order_email_task(*, order_id: int, kind: str, reference: str = "", message_id: int | None = None) -> bool:
    """Outbox consumer of "order.email", on the email queue; the log row (order, kind, reference)
    makes a redelivery send nothing."""
    from orders.services import send_order_email

    return send_order_email(order_id=order_id, kind=kind, reference=reference)


@shared_task(name="orders.apply_payment_result", **retrying())
def apply_payment_result_task(*, order_id: int, status: str, payment_id: int | None = None, decline_code: str = "",
                              message: str = "", message_id: int | None = None) -> str:  # fmt: skip
    """Outbox consumer of "payment.result", on the payment_results queue (the payments workers
    consume it beside authorizations): the order follows its payment (idempotent)."""
    from orders.services import apply_payment_result

    return apply_payment_result(order_id=order_id, status=status, message=message, decline_code=decline_code).state


@shared_task(name="orders.expire_unpaid_orders", **retrying())
def expire_unpaid_orders_task() -> int:
    """Beat, every 5 minutes: cancel orders whose failed payment was not fixed in time; re-enqueues
    itself while a full batch was cancelled."""
    from orders.services import EXPIRE_BATCH, expire_unpaid_orders

    cancelled = expire_unpaid_orders(limit=EXPIRE_BATCH)
    if cancelled == EXPIRE_BATCH:
        expire_unpaid_orders_task.delay()
    return cancelled


@shared_task(name="orders.redrive_stuck_orders", **retrying())
def redrive_stuck_orders_task() -> dict[str, int]:
    """Beat, every minute: drive orders that waited too long in placed or allocated (payment
    pending), and e-mails claimed but never sent, again through the same idempotent services."""
    from orders.services import redrive_stuck_orders

    return redrive_stuck_orders()


@shared_task(name="orders.compute_recommendations", **retrying())
def compute_recommendations_task() -> dict[str, int]:
    """Beat, daily (and the catalog's ranking job after each ranking): "customers also bought"
    from the recent orders; a rerun over the same orders writes nothing."""
    from orders.services import compute_recommendations

    result = compute_recommendations()
    return {"products": result.products, "rows": result.rows, "changed": result.changed}
