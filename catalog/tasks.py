"""Celery tasks of the catalog: thin doors that call one service each."""

from __future__ import annotations

import logging
import smtplib

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval

from catalog.search.base import SearchUnavailable
from shop.celery import DATABASE_ERRORS, retrying

logger = logging.getLogger(__name__)

# Storage hiccups worth another try: local disk and socket errors (OSError), and S3 endpoints
# that cannot be reached or drop the connection. A picture Pillow cannot read is not one of
# them: the service records it as FAILED and returns.
TRANSIENT_STORAGE_ERRORS = (OSError, BotocoreConnectionError, HTTPClientError)
RETRY_BACKOFF_MAX_SECONDS = 600


@shared_task(
    bind=True,
    name="catalog.make_thumbnails",  # "*thumbnail*" routes it to the images queue
    acks_late=True,
    autoretry_for=(*TRANSIENT_STORAGE_ERRORS, *DATABASE_ERRORS),
    retry_backoff=True,
    retry_backoff_max=RETRY_BACKOFF_MAX_SECONDS,
    retry_jitter=True,
    max_retries=5,
)
def make_thumbnails_task(self, *, image_id: int) -> None:
    """Make an image's WebP thumbnails. Idempotent (a READY image is left alone); an image
    deleted meanwhile is a no-op; retries storage errors with backoff, at most 5 times."""
    from catalog.services.images import ProductImageNotFound, make_thumbnails  # breaks services <-> tasks

    try:
        make_thumbnails(image_id=image_id)
    except ProductImageNotFound:
        logger.info("image %s no longer exists; no thumbnails to make", image_id)
    except ClientError as exc:
        # S3 answered: throttling and its own 5xx are transient, anything else (denied, no such
        # bucket) needs a person and fails now.
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) < 500:
            raise
        countdown = get_exponential_backoff_interval(
            factor=1, retries=self.request.retries, maximum=RETRY_BACKOFF_MAX_SECONDS, full_jitter=True
        )
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(name="catalog.requeue_pending_thumbnails")
def requeue_pending_thumbnails_task() -> int:
    """Periodic: send the thumbnail task again for images left pending too long (see the service)."""
    from catalog.services.images import requeue_pending_thumbnails  # breaks services <-> tasks

    return requeue_pending_thumbnails()


@shared_task(name="catalog.sweep_abandoned_uploads")
def sweep_abandoned_uploads_task() -> int:
    """Periodic: delete direct uploads never completed within a day, files and rows (see the service)."""
    from catalog.services.uploads import sweep_abandoned_uploads  # breaks services <-> tasks

    return sweep_abandoned_uploads()


@shared_task(name="catalog.sweep_stale_import_jobs")
def sweep_stale_import_jobs_task() -> int:
    """Periodic: mark failed the admin CSV imports whose worker stopped showing progress (see the service)."""
    from catalog.services.import_jobs import sweep_stale_import_jobs  # breaks services <-> tasks

    return sweep_stale_import_jobs()


@shared_task(
    name="catalog.index_products",
    acks_late=True,
    autoretry_for=(SearchUnavailable, *DATABASE_ERRORS),
    retry_backoff=True,
    retry_backoff_max=RETRY_BACKOFF_MAX_SECONDS,
    retry_jitter=True,
    max_retries=8,
)
def index_products_task(*, product_ids: list[int], fresh_vector_ids: list[int] | None = None) -> None:
    """Bring these products' search entries up to date (sent on commit of every product change).
    Idempotent: it writes what the rows say now; retries an unreachable search engine with backoff.
    `fresh_vector_ids`: rows whose vector their writer computed (catalog.search.index)."""
    from catalog import search  # breaks search <-> tasks

    search.index(product_ids=product_ids, fresh_vector_ids=fresh_vector_ids or ())


@shared_task(name="catalog.import_products", acks_late=True)
def import_products_task(*, job_id: int) -> None:
    """Run an admin CSV import job. Idempotent: a job already claimed by a worker is left alone.

    Not retried on a database error: the job is claimed (RUNNING) before its rows are read, so a
    retry would find it claimed and do nothing. The error is a dead letter with its traceback, the
    stale-job sweep marks the job failed, and staff import the file again (rows already imported
    come back unchanged)."""
    from catalog.services.import_jobs import run_product_import  # breaks services <-> tasks

    run_product_import(job_id=job_id)


@shared_task(name="catalog.flush_activity")
def flush_activity_task() -> int:
    """Periodic (ACTIVITY_FLUSH_SECONDS): move the activity counted in Redis to the activity tables, once."""
    from catalog import activity  # breaks activity <-> tasks

    return activity.flush_activity()


@shared_task(name="catalog.recompute_popularity")
def recompute_popularity_task() -> dict:
    """Periodic (POPULARITY_RECOMPUTE_SECONDS, hourly): the ranking job, then the cache warm-up."""
    from catalog import cache as catalog_cache
    from catalog.services.popularity import recompute_popularity  # breaks services <-> tasks

    result = recompute_popularity()
    return {"changed": result.changed, "scored": result.scored, "warmed": result.warmed,
            "hit_rate": catalog_cache.stats()["hit_rate"]}  # fmt: skip


# --- Stock alerts (catalog.services.stock_alerts) ------------------------------------------------

# E-mail waits out an SMTP server that is down: 10 s, 20 s ... 10 min, 8 times (as order e-mails).
STOCK_ALERT_EMAIL_RETRY = retrying(smtplib.SMTPException, OSError, max_retries=8, retry_backoff=10,
                                   retry_backoff_max=600)  # fmt: skip


@shared_task(name="catalog.notify_back_in_stock", **retrying())
def notify_back_in_stock_task(*, product_id: int, available: int = 0, message_id: int | None = None) -> int:
    """Outbox consumer of "stock.back_in_stock" (inventory): end the product's confirmed subscriptions
    and queue their one e-mail each. A redelivered message finds them ended and does nothing."""
    from catalog.services.stock_alerts import notify_back_in_stock  # breaks services <-> tasks

    return notify_back_in_stock(product_id=product_id)


@shared_task(name="catalog.send_stock_alert_email", **STOCK_ALERT_EMAIL_RETRY)
def send_stock_alert_email_task(*, alert_id: int, kind: str, message_id: int | None = None) -> bool:
    """Outbox consumer of "stock_alert.email", on the email queue: the log row (subscription, kind)
    makes a redelivery send nothing."""
    from catalog.services.stock_alerts import send_stock_alert_email  # breaks services <-> tasks

    return send_stock_alert_email(alert_id=alert_id, kind=kind)


@shared_task(name="catalog.send_low_stock_digest_email", **STOCK_ALERT_EMAIL_RETRY)
def send_low_stock_digest_task() -> bool:
    """Beat, every morning: the day's low-stock e-mail to the Fulfilment group; a second run that
    day (or a retry after it was sent) sends nothing."""
    from catalog.services.stock_alerts import send_low_stock_digest  # breaks services <-> tasks

    return send_low_stock_digest()
