"""Inventory tasks: thin doors onto inventory.services, on the inventory queue (routed by the "inventory." name)."""

from __future__ import annotations

import logging
from collections import Counter

from celery import shared_task

from shop.celery import DATABASE_ERRORS

logger = logging.getLogger(__name__)

BUSY_MAX_RETRIES = 5  # lines whose stock row stayed busy are retried this often (2, 4, 8 ... s apart)
DATABASE_MAX_RETRIES = 10


# A database blip (or a failover) retries the whole batch with backoff, up to 10 times like the
# order pipeline (shop.celery.retrying): every line is keyed, so the lines applied before it are
# not applied twice. Busy lines are retried at most BUSY_MAX_RETRIES times (one count for both).
@shared_task(name="inventory.apply_stock_updates", bind=True, max_retries=DATABASE_MAX_RETRIES,
             autoretry_for=DATABASE_ERRORS, retry_backoff=True, retry_backoff_max=60, retry_jitter=True)  # fmt: skip
def apply_stock_updates_task(self, *, source: str, updates: list[dict]) -> dict[str, int]:
    """Apply a seller feed batch: `updates` is [{"update_id", "product_id", "quantity"}, ...] (JSON only).

    Idempotent: every line's ledger row is keyed by "feed:<source>:<update_id>", so a redelivery
    (acks_late on the inventory queue) changes nothing. Lines refused because their stock row was
    busy are retried, alone, with backoff; any other refusal is a result, logged by the service.
    Returns the count of lines per status.
    """
    from inventory.exceptions import StockBusy
    from inventory.services import ERROR, StockUpdate, apply_stock_updates  # breaks services <-> tasks cycles

    results = apply_stock_updates(source=source, updates=[StockUpdate(**update) for update in updates])
    busy = [
        update
        for update, result in zip(updates, results, strict=True)
        if result.status == ERROR and result.error_code == StockBusy.code
    ]
    if busy:
        # Counted here, not with retry(max_retries=...): Celery keeps that limit on the task
        # object, so one busy retry would cap every later database-error retry of this process.
        if self.request.retries >= BUSY_MAX_RETRIES:
            raise self.MaxRetriesExceededError(f"{len(busy)} stock updates from {source} stayed busy")
        logger.info("retrying %d busy stock updates from %s", len(busy), source)
        raise self.retry(kwargs={"source": source, "updates": busy}, countdown=2 ** (self.request.retries + 1))
    return dict(Counter(result.status for result in results))
