"""Pictures uploaded straight from the client to storage, never through a web worker.

1. `start_image_upload`: the shop chooses the key under a per-upload prefix and answers a
   presigned POST whose policy S3 enforces (that prefix, the declared content type, 1 byte to
   CATALOG_UPLOAD_MAX_BYTES, CATALOG_UPLOAD_EXPIRY_SECONDS). On the embedded default (local
   media) the URL is the shop's own (`catalog.views.direct_upload_view`), with a signed field
   instead of a policy, so clients have one protocol.
2. The client POSTs the file there.
3. `complete_image_upload`: the object must exist; its size, content type and first bytes
   (Pillow reads the header only) are checked again, since a test S3 such as moto stores a POST
   without enforcing its policy (and a misconfigured bucket would too); a refused file is
   deleted. Then the ProductImage is created and its thumbnails queued as for a form upload.
   A second complete returns the same image.
4. `sweep_abandoned_uploads` (beat) deletes uploads never completed, files and rows.

A browser (the admin's uploader) may POST to the bucket only if its CORS allows the shop's
origin: `configure_bucket_cors` (`manage.py configure_media_bucket`) puts that rule.

Storage calls run outside transactions (module catalog.services.images says why).
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import timedelta

from botocore.exceptions import ClientError
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from catalog.images import MAX_PIXELS
from catalog.models import ImageUpload, Product, ProductImage
from catalog.selectors import ProductNotFound
from catalog.services.images import insert_image_row
from shop.exceptions import DomainError, NotFound
from shop.idempotency import Created

# What a client may upload: content type -> (file extension, the format Pillow must find).
UPLOAD_CONTENT_TYPES = {"image/jpeg": ("jpg", {"JPEG", "MPO"}), "image/png": ("png", {"PNG"}),
                        "image/webp": ("webp", {"WEBP"})}  # fmt: skip
SNIFF_BYTES = 64 * 1024  # enough for any header Pillow needs to name the format and the size
SIGNING_SALT = "catalog.direct-upload"
SWEEP_BATCH = 500


class ImageUploadNotFound(NotFound):
    code = "image_upload_not_found"
    default_message = "This upload does not exist, or is not yours."


class ImageUploadMissing(DomainError):
    code = "upload_missing"
    status_code = 409
    default_message = "No file has reached storage for this upload yet: POST it to the upload URL first."


class ImageUploadExpired(DomainError):
    code = "upload_expired"
    status_code = 410
    default_message = "This upload expired before its file arrived. Start a new upload."


class ImageUploadRefused(DomainError):
    code = "upload_refused"
    default_message = "The uploaded file was refused and deleted; upload an acceptable picture."

    def __init__(self, reason: str) -> None:
        super().__init__(f"{self.default_message} {reason}", fields={"file": [reason]})


@dataclass(frozen=True)
class UploadTicket:
    upload: ImageUpload
    url: str
    fields: dict[str, str]


def start_image_upload(*, product_id: int, requested_by: str, content_type: str, alt_text: str = "") -> UploadTicket:
    """Record an upload for a product and return where and how to POST the file.

    Raises ProductNotFound, ValidationError naming `content_type` (only JPEG, PNG, WebP) or `alt_text`.
    """
    if content_type not in UPLOAD_CONTENT_TYPES:
        raise ValidationError({"content_type": [f"Use one of: {', '.join(UPLOAD_CONTENT_TYPES)}."]})
    if not Product.objects.filter(pk=product_id).exists():
        raise ProductNotFound()
    upload_id = uuid.uuid4()
    extension = UPLOAD_CONTENT_TYPES[content_type][0]
    upload = ImageUpload(
        id=upload_id, product_id=product_id, requested_by=requested_by, content_type=content_type,
        max_bytes=settings.CATALOG_UPLOAD_MAX_BYTES, alt_text=alt_text,
        expires_at=timezone.now() + timedelta(seconds=settings.CATALOG_UPLOAD_EXPIRY_SECONDS),
    )  # fmt: skip
    upload.key = f"{upload.prefix}original.{extension}"
    upload.full_clean()
    upload.save()
    s3 = _s3()
    if s3 is None:
        return UploadTicket(upload=upload, url=reverse("catalog:direct-upload", args=[upload.pk]),
                            fields=_local_fields(upload))  # fmt: skip
    client, bucket = s3
    presigned = client.generate_presigned_post(
        Bucket=bucket,
        Key=upload.key,
        Fields={"Content-Type": content_type},
        Conditions=[
            ["starts-with", "$key", upload.prefix],
            {"Content-Type": content_type},
            ["content-length-range", 1, upload.max_bytes],
        ],
        ExpiresIn=settings.CATALOG_UPLOAD_EXPIRY_SECONDS,
    )
    return UploadTicket(upload=upload, url=presigned["url"], fields=presigned["fields"])


def complete_image_upload(*, product_id: int, upload_id: uuid.UUID, requested_by: str) -> Created[ProductImage]:
    """Turn an uploaded file into the product's next image (module docstring, step 3).

    Idempotent: a second complete returns the first one's image (created=False). Raises
    ImageUploadNotFound (someone else's, or unknown), ImageUploadMissing, ImageUploadExpired,
    ImageUploadRefused (the file is deleted), ProductNotFound.
    """
    upload = ImageUpload.objects.filter(pk=upload_id, product_id=product_id, requested_by=requested_by).first()
    if upload is None:
        raise ImageUploadNotFound()
    if upload.image_id is not None:
        return Created(upload.image, created=False)
    stored = _stored_object(upload.key)
    if stored is None:
        if upload.expires_at <= timezone.now():
            raise ImageUploadExpired()
        raise ImageUploadMissing()
    size, content_type, head = stored
    try:
        _check_file(upload, size=size, content_type=content_type, head=head)
    except ImageUploadRefused:
        default_storage.delete(upload.key)
        raise
    return _record_image(upload_id=upload.pk)


@transaction.atomic(durable=True)
def _record_image(*, upload_id: uuid.UUID) -> Created[ProductImage]:
    upload = ImageUpload.objects.select_for_update().get(pk=upload_id)
    if upload.image_id is not None:  # a concurrent complete won
        return Created(upload.image, created=False)
    image = ProductImage(product_id=upload.product_id, alt_text=upload.alt_text)
    image.original.name = upload.key  # already in storage: nothing is copied
    insert_image_row(image=image, position=None)
    upload.image = image
    upload.save(update_fields=["image"])
    return Created(image, created=True)


def _check_file(upload: ImageUpload, *, size: int, content_type: str | None, head: bytes) -> None:
    if size > upload.max_bytes:
        raise ImageUploadRefused(f"The file has {size} bytes; the limit is {upload.max_bytes} bytes.")
    if content_type is not None and content_type != upload.content_type:
        raise ImageUploadRefused(f"The file was stored as {content_type}, not the {upload.content_type} declared.")
    try:
        with Image.open(io.BytesIO(head)) as image:  # reads the header only
            image_format, (width, height) = image.format, image.size
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        raise ImageUploadRefused("The file is not a picture we can read.") from None
    if image_format not in UPLOAD_CONTENT_TYPES[upload.content_type][1]:
        raise ImageUploadRefused(f"The file is a {image_format} picture, not the {upload.content_type} declared.")
    if width * height > MAX_PIXELS:
        raise ImageUploadRefused(f"{width} x {height} pixels is more than {MAX_PIXELS // 1_000_000} megapixels.")


def sweep_abandoned_uploads(*, older_than: timedelta | None = None, limit: int = SWEEP_BATCH) -> int:
    """Delete uploads never completed after `older_than` (CATALOG_UPLOAD_ABANDONED_HOURS): the files
    under each upload's prefix, then the rows. At most `limit` a run; returns how many. Idempotent."""
    older_than = older_than or timedelta(hours=settings.CATALOG_UPLOAD_ABANDONED_HOURS)
    cutoff = timezone.now() - older_than
    abandoned = list(
        ImageUpload.objects.filter(image__isnull=True, created_at__lt=cutoff).order_by("created_at")[:limit]
    )
    for upload in abandoned:
        _delete_prefix(upload.prefix)
    ImageUpload.objects.filter(pk__in=[u.pk for u in abandoned], image__isnull=True).delete()
    return len(abandoned)


# --- Storage: S3 through its client (presigned POSTs, HEAD, ranged GET), else Django's storage API --


def direct_uploads_go_to_s3() -> bool:
    """True when the media storage is S3: a direct upload's file then goes from the browser to
    the bucket (the admin offers its uploader); on local media it goes through the shop."""
    return _s3() is not None


CORS_RULE_ID = "shop-direct-uploads"


def configure_bucket_cors(*, origins: list[str]) -> dict:
    """Let browsers on these origins POST direct uploads to the media bucket and read the answer
    (the admin's uploader): one CORS rule, identified by CORS_RULE_ID, replacing the one put
    before and keeping the bucket's other rules as they are. Idempotent; returns the rule.
    Needs S3 media (direct_uploads_go_to_s3()); raises ValueError on local media."""
    s3 = _s3()
    if s3 is None:
        raise ValueError("The media storage is not S3: there is no bucket to configure.")
    client, bucket = s3
    rule = {"ID": CORS_RULE_ID, "AllowedOrigins": sorted(set(origins)), "AllowedMethods": ["POST"],
            "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag", "Location"], "MaxAgeSeconds": 3600}  # fmt: skip
    try:
        rules = client.get_bucket_cors(Bucket=bucket)["CORSRules"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchCORSConfiguration":
            raise
        rules = []
    others = [r for r in rules if r.get("ID") != CORS_RULE_ID]
    client.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [*others, rule]})
    return rule


def _s3():
    """(boto3 client, bucket) when the media storage is S3, else None (the embedded local media)."""
    bucket = getattr(default_storage, "bucket_name", None)
    connection = getattr(default_storage, "connection", None)
    if not bucket or connection is None:
        return None
    return connection.meta.client, bucket


def _stored_object(key: str) -> tuple[int, str | None, bytes] | None:
    """(size, content type or None, the first SNIFF_BYTES) of a stored file, or None when absent."""
    s3 = _s3()
    if s3 is None:
        if not default_storage.exists(key):
            return None
        with default_storage.open(key, "rb") as file:
            return default_storage.size(key), None, file.read(SNIFF_BYTES)  # the door checked the type
    client, bucket = s3
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
            return None
        raise
    if head["ContentLength"] == 0:
        return 0, head.get("ContentType"), b""
    first = client.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{SNIFF_BYTES - 1}")["Body"].read()
    return head["ContentLength"], head.get("ContentType"), first


def _delete_prefix(prefix: str) -> None:
    s3 = _s3()
    if s3 is None:
        if default_storage.exists(prefix):
            for name in default_storage.listdir(prefix)[1]:
                default_storage.delete(f"{prefix}{name}")
        return
    client, bucket = s3
    listing = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    keys = [{"Key": entry["Key"]} for entry in listing.get("Contents", [])]
    if keys:
        client.delete_objects(Bucket=bucket, Delete={"Objects": keys})


# --- The embedded default: the shop's own upload URL, authorised by a signed field -------------


def _local_fields(upload: ImageUpload) -> dict[str, str]:
    token = signing.dumps({"upload": str(upload.pk), "key": upload.key}, salt=SIGNING_SALT)
    return {"key": upload.key, "Content-Type": upload.content_type, "signature": token}


def store_direct_upload(*, upload_id: uuid.UUID, fields: dict[str, str], file) -> None:
    """The embedded default's stand-in for S3's POST: check the signed fields as S3 checks its
    policy (the key under the upload's prefix, the content type, the size, the expiry) and store
    the file under that key. Raises ValidationError naming the field, ImageUploadNotFound."""
    try:
        signed = signing.loads(fields.get("signature", ""), salt=SIGNING_SALT,
                               max_age=settings.CATALOG_UPLOAD_EXPIRY_SECONDS)  # fmt: skip
    except signing.BadSignature:
        raise ValidationError({"signature": ["The upload's signature is not valid, or it expired."]}) from None
    upload = ImageUpload.objects.filter(pk=upload_id, image__isnull=True).first()
    if upload is None or signed.get("upload") != str(upload_id):
        raise ImageUploadNotFound()
    key = fields.get("key", "")
    if not key.startswith(upload.prefix) or key != signed.get("key"):
        raise ValidationError({"key": ["The key is outside this upload's prefix."]})
    if fields.get("Content-Type") != upload.content_type or getattr(file, "content_type", None) != upload.content_type:
        raise ValidationError({"Content-Type": [f"This upload takes {upload.content_type} only."]})
    if not 1 <= file.size <= upload.max_bytes:
        raise ValidationError({"file": [f"The file must be 1 byte to {upload.max_bytes} bytes."]})
    if default_storage.exists(key):  # a second POST replaces the first, as on S3
        default_storage.delete(key)
    default_storage.save(key, file)
