"""Product images: upload, WebP thumbnails made by a worker, and the URLs pages show.

Files go through `default_storage` (local disk embedded, S3 behind a CDN in production). No
storage call runs inside a transaction: originals are written before the row's transaction and
thumbnails before the status update, so a slow bucket never holds a database connection busy.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Iterable
from datetime import timedelta
from functools import partial
from typing import IO

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from catalog.images import THUMBNAIL_SIZES, UnreadableImage, make_webp_thumbnail, validate_image_upload
from catalog.models import ImageStatus, Product, ProductImage
from catalog.selectors import ProductNotFound
from catalog.services.products import schedule_product_invalidation
from catalog.tasks import make_thumbnails_task
from shop.exceptions import NotFound

logger = logging.getLogger(__name__)

_FAILURE_REASON_LENGTH = ProductImage._meta.get_field("failure_reason").max_length
_MISSING_ORIGINAL = "the original file is missing from storage"
STALE_PENDING_AFTER = timedelta(minutes=15)  # far longer than a thumbnail run with all its retries
REQUEUE_BATCH = 500


class ProductImageNotFound(NotFound):
    code = "product_image_not_found"
    default_message = "This product image does not exist."


def thumbnail_name(*, product_id: int, image_id: int, max_side: int) -> str:
    """The storage name of one thumbnail: fixed per image and size, so a rerun overwrites it."""
    return f"products/{product_id}/thumbs/{image_id}-{max_side}.webp"


def add_product_image(
    *, product_id: int, file: IO[bytes], alt_text: str = "", position: int | None = None
) -> ProductImage:
    """Store an uploaded picture of a product; its thumbnails are made by a worker after commit.

    Validates first (a corrupt or oversized file raises ValidationError and writes nothing),
    writes the original to storage, then inserts the row in one durable transaction (the file
    is deleted again if that fails). On commit: the thumbnail task and the product's cache
    invalidation. Raises ValidationError, ProductNotFound.
    """
    validate_image_upload(file)
    if not Product.objects.filter(pk=product_id).exists():
        raise ProductNotFound()
    image = ProductImage(product_id=product_id, alt_text=alt_text)
    filename = posixpath.basename(getattr(file, "name", None) or "") or "image"
    image.original.save(filename, file, save=False)  # storage I/O before the transaction
    try:
        _insert_image(image=image, position=position)
    except BaseException:
        default_storage.delete(image.original.name)  # no row refers to it: do not leave it behind
        raise
    return image


@transaction.atomic(durable=True)
def _insert_image(*, image: ProductImage, position: int | None) -> None:
    insert_image_row(image=image, position=position)


def insert_image_row(*, image: ProductImage, position: int | None) -> None:
    """Insert an image whose original is already in storage, last unless `position` is given; on
    commit its thumbnail task and the product's cache invalidation. Not durable: inside the
    caller's transaction. Raises ProductNotFound."""
    slug = Product.objects.filter(pk=image.product_id).values_list("slug", flat=True).first()
    if slug is None:  # deleted while the file was uploading
        raise ProductNotFound()
    if position is None:
        last = ProductImage.objects.filter(product_id=image.product_id).aggregate(last=Max("position"))["last"]
        position = 0 if last is None else last + 1
    image.position = position
    image.full_clean()
    image.save()
    _schedule_thumbnails(image_id=image.pk)
    schedule_product_invalidation(product_id=image.product_id, slugs=[slug])


def schedule_thumbnails_for_new_originals(*, image_ids: Iterable[int]) -> None:
    """For images whose original the caller's transaction has just written (admin inline):
    mark them pending without thumbnails, and on commit enqueue their thumbnail task.

    Not durable: runs inside the caller's transaction (the admin change form's).
    """
    ids = sorted(set(image_ids))
    if not ids:
        return
    ProductImage.objects.filter(pk__in=ids).update(
        status=ImageStatus.PENDING, thumbnail_small="", thumbnail_large="", failure_reason=""
    )
    for image_id in ids:
        _schedule_thumbnails(image_id=image_id)


def _schedule_thumbnails(*, image_id: int) -> None:
    # robust: a broker outage must not turn a committed upload into an error page; the image
    # stays pending (pages show its original) until requeue_pending_thumbnails sends it again.
    transaction.on_commit(partial(make_thumbnails_task.delay, image_id=image_id), robust=True)


def make_thumbnails(*, image_id: int) -> ProductImage:
    """Write the small and large WebP thumbnails of an image and mark it READY.

    Idempotent: a READY image returns at once, names are fixed per image and size, and the
    final conditional UPDATE only applies to an image that is not READY and still has the
    original that was read. A file Pillow cannot read (or a missing original) marks the image
    FAILED with the reason and returns normally. Storage errors (OSError and botocore errors)
    propagate so the task can retry them. Raises ProductImageNotFound. Invalidates the
    product's cache on commit.
    """
    image = ProductImage.objects.filter(pk=image_id).first()
    if image is None:
        raise ProductImageNotFound()
    if image.status == ImageStatus.READY:
        return image
    source_name = image.original.name
    try:
        with default_storage.open(source_name, "rb") as original:
            source = original.read()
    except FileNotFoundError:
        return _finish(image=image, source_name=source_name, status=ImageStatus.FAILED, reason=_MISSING_ORIGINAL)
    try:
        thumbnails = {size: make_webp_thumbnail(source, max_side) for size, max_side in THUMBNAIL_SIZES.items()}
    except UnreadableImage as exc:
        return _finish(image=image, source_name=source_name, status=ImageStatus.FAILED, reason=exc.reason)
    names = {
        size: _write_thumbnail(
            name=thumbnail_name(product_id=image.product_id, image_id=image.pk, max_side=THUMBNAIL_SIZES[size]),
            content=content,
        )
        for size, content in thumbnails.items()
    }
    return _finish(image=image, source_name=source_name, status=ImageStatus.READY, names=names)


def _finish(
    *, image: ProductImage, source_name: str, status: ImageStatus, reason: str = "", names: dict[str, str] | None = None
) -> ProductImage:
    names = names or {}
    current = _record_result(image=image, source_name=source_name, status=status, reason=reason, names=names)
    if current is None:  # deleted while we worked: nothing refers to the thumbnails just written
        for name in names.values():
            default_storage.delete(name)
        raise ProductImageNotFound()
    return current


def _write_thumbnail(*, name: str, content: bytes) -> str:
    # Storages never overwrite by default (they pick a new name), so remove a previous run's
    # file first; the name that comes back is the one recorded.
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(content))


@transaction.atomic(durable=True)
def _record_result(
    *, image: ProductImage, source_name: str, status: ImageStatus, reason: str, names: dict[str, str]
) -> ProductImage | None:
    # No lock: one conditional UPDATE decides. It applies only if no other run finished first
    # and nobody replaced the original meanwhile (that replacement enqueues its own run).
    applied = (
        ProductImage.objects.filter(pk=image.pk, original=source_name)
        .exclude(status=ImageStatus.READY)
        .update(
            status=status,
            failure_reason=reason[:_FAILURE_REASON_LENGTH],
            thumbnail_small=names.get("small", ""),
            thumbnail_large=names.get("large", ""),
        )
    )
    current = ProductImage.objects.select_related("product").filter(pk=image.pk).first()
    if current is not None and applied:
        if status == ImageStatus.FAILED:
            logger.warning("image %s of product %s failed: %s", image.pk, image.product_id, reason)
        schedule_product_invalidation(product_id=current.product_id, slugs=[current.product.slug])
    return current


def requeue_pending_thumbnails(*, older_than: timedelta = STALE_PENDING_AFTER, limit: int = REQUEUE_BATCH) -> int:
    """Send the thumbnail task again for images still pending after `older_than` (its message was
    lost, the broker was down at commit, or its retries ran out); returns how many were sent.

    Reads only, oldest first, at most `limit`; safe to run any time since the task is idempotent.
    """
    cutoff = timezone.now() - older_than
    image_ids = list(
        ProductImage.objects.filter(status=ImageStatus.PENDING, created_at__lt=cutoff)
        .order_by("created_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    for image_id in image_ids:
        make_thumbnails_task.delay(image_id=image_id)
    return len(image_ids)


def image_urls(image: ProductImage) -> dict[str, str]:
    """The URLs of an image's original and thumbnails; until the thumbnails are ready (or when
    they failed) the small and large URLs are the original's."""
    original = default_storage.url(image.original.name)
    ready = image.status == ImageStatus.READY
    return {
        "original": original,
        "small": default_storage.url(image.thumbnail_small) if ready and image.thumbnail_small else original,
        "large": default_storage.url(image.thumbnail_large) if ready and image.thumbnail_large else original,
    }
