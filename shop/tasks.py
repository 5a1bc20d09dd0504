from __future__ import annotations

from celery import shared_task

from shop import idempotency


@shared_task(name="shop.purge_idempotency_keys")
def purge_idempotency_keys_task() -> int:
    """Hourly (beat): forget idempotency keys older than a day. Idempotent."""
    return idempotency.purge_expired()


@shared_task(name="shop.relay_outbox")
def relay_outbox_task() -> int:
    """Every few seconds (beat): re-send outbox messages the broker never took."""
    from shop import outbox  # local import: outbox imports the Celery app

    return outbox.relay()


@shared_task(name="shop.purge_outbox")
def purge_outbox_task() -> int:
    """Hourly (beat): delete outbox messages sent longer ago than OUTBOX_RETENTION_DAYS. Idempotent."""
    from shop import outbox  # local import: outbox imports the Celery app

    return outbox.purge_dispatched()
