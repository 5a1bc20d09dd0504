"""Pictures uploaded straight to storage (issue 17): presigned POSTs on moto's S3 server, the same
protocol on the embedded default's local media, complete, and the sweep of abandoned uploads."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import os
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from catalog import services
from catalog.models import ImageStatus, ImageUpload, ProductImage
from shop.models import ClientAPIKey
from tests.api_helpers import error_of
from tests.catalog.conftest import picture_bytes
from tests.catalog.factories import ProductFactory

if importlib.util.find_spec("moto") is None:  # as tests/catalog/test_images_s3.py
    if os.environ.get("SHOP_REQUIRE_SERVICES") == "1":
        raise ImportError("moto[server] is missing: pip install -r requirements-dev.txt")
    pytest.skip("needs moto[server] (pip install -r requirements-dev.txt)", allow_module_level=True)

pytestmark = pytest.mark.django_db


def _seller(name: str = "Seller") -> APIClient:
    _, raw = ClientAPIKey.objects.create_key(name=name, scopes=["catalog:write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


@pytest.fixture
def seller() -> APIClient:
    return _seller()


@pytest.fixture
def product():
    return ProductFactory()


def start(client: APIClient, product, content_type: str = "image/jpeg") -> dict:
    response = client.post(f"/api/v1/products/{product.pk}/images/uploads",
                           {"content_type": content_type, "alt_text": "Front"}, format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    return response.json()


def complete(client: APIClient, product, ticket: dict):
    return client.post(f"/api/v1/products/{product.pk}/images/uploads/{ticket['upload_id']}/complete")


def post_to_s3(ticket: dict, content: bytes, *, content_type: str | None = None, key: str | None = None) -> int:
    """POST the file to the presigned URL as a client would (moto stores it without checking the policy)."""
    import requests

    fields = dict(ticket["fields"])
    if content_type is not None:
        fields["Content-Type"] = content_type
    if key is not None:
        fields["key"] = key
    response = requests.post(ticket["url"], data=fields, timeout=10,
                             files={"file": ("picture", content, fields["Content-Type"])})  # fmt: skip
    return response.status_code


def policy_of(ticket: dict) -> dict:
    return json.loads(base64.b64decode(ticket["fields"]["policy"]))


# --- S3 (moto) --------------------------------------------------------------------------------


def test_the_presigned_policy_carries_the_key_prefix_type_and_size_conditions(s3_media, seller, product, settings):
    settings.CATALOG_UPLOAD_MAX_BYTES = 5 * 1024 * 1024

    ticket = start(seller, product, "image/png")

    upload = ImageUpload.objects.get()
    prefix = f"products/{product.pk}/uploads/{upload.pk}/"
    assert ticket["upload_id"] == str(upload.pk)
    assert ticket["url"].startswith(s3_media.endpoint_url)
    assert ticket["fields"]["key"] == f"{prefix}original.png"
    assert ticket["fields"]["Content-Type"] == "image/png"
    conditions = policy_of(ticket)["conditions"]
    assert ["starts-with", "$key", prefix] in conditions
    assert {"Content-Type": "image/png"} in conditions
    assert ["content-length-range", 1, 5 * 1024 * 1024] in conditions
    assert {"bucket": s3_media.bucket} in conditions
    assert ticket["max_bytes"] == 5 * 1024 * 1024


def test_a_content_type_other_than_jpeg_png_or_webp_is_refused(s3_media, seller, product):
    response = seller.post(f"/api/v1/products/{product.pk}/images/uploads", {"content_type": "image/gif"},
                           format="json")  # fmt: skip

    assert response.status_code == 400
    assert list(error_of(response)["fields"]) == ["content_type"]
    assert ImageUpload.objects.count() == 0


def test_an_upload_completed_becomes_the_products_image_and_its_thumbnails_follow(
    s3_media, seller, product, django_capture_on_commit_callbacks
):
    ticket = start(seller, product)
    assert post_to_s3(ticket, picture_bytes(size=(1200, 900))) == 204

    with django_capture_on_commit_callbacks(execute=True):
        first = complete(seller, product, ticket)
    again = complete(seller, product, ticket)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    image = ProductImage.objects.get()
    assert (image.product_id, image.alt_text, image.status) == (product.pk, "Front", ImageStatus.READY)
    assert image.original.name == ticket["fields"]["key"]
    assert s3_media.keys() == sorted([ticket["fields"]["key"], image.thumbnail_small, image.thumbnail_large])
    assert first.json()["original"] == f"{s3_media.cdn_base_url}/{ticket['fields']['key']}"


@pytest.mark.parametrize(
    ("content", "content_type", "reason"),
    [(picture_bytes(size=(1600, 1200)), None, "the limit is 1000 bytes."),
     (picture_bytes(size=(40, 30)), "text/plain", "The file was stored as text/plain, not the image/jpeg declared."),
     (b"GIF89a not really a picture at all", None, "The file is not a picture we can read."),
     (picture_bytes(size=(40, 30), image_format="PNG"), None, "The file is a PNG picture, not the image/jpeg declared.")],
    ids=["oversize", "wrong-content-type", "not-a-picture", "png-declared-as-jpeg"],
)  # fmt: skip
def test_complete_refuses_a_bad_file_that_reached_the_bucket_and_deletes_it(
    s3_media, seller, product, settings, content, content_type, reason
):
    # given: moto stores what the policy would have refused
    settings.CATALOG_UPLOAD_MAX_BYTES = 1000 if "limit" in reason else 20 * 1024 * 1024
    ticket = start(seller, product)
    assert post_to_s3(ticket, content, content_type=content_type) == 204
    assert s3_media.keys() == [ticket["fields"]["key"]]

    response = complete(seller, product, ticket)

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "upload_refused"
    assert error["fields"]["file"][0].endswith(reason)
    assert ProductImage.objects.count() == 0
    assert s3_media.keys() == []


def test_someone_elses_upload_cannot_be_completed(s3_media, seller, product):
    ticket = start(seller, product)
    post_to_s3(ticket, picture_bytes(size=(40, 30)))

    response = complete(_seller("Another seller"), product, ticket)

    assert response.status_code == 404
    assert error_of(response)["code"] == "image_upload_not_found"
    assert ProductImage.objects.count() == 0


def test_complete_before_the_file_arrived_is_409_and_after_the_upload_expired_410(s3_media, seller, product):
    ticket = start(seller, product)

    missing = complete(seller, product, ticket)
    ImageUpload.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = complete(seller, product, ticket)

    assert (missing.status_code, error_of(missing)["code"]) == (409, "upload_missing")
    assert (expired.status_code, error_of(expired)["code"]) == (410, "upload_expired")


def test_abandoned_uploads_are_swept_with_their_files_and_completed_ones_stay(
    s3_media, seller, product, django_capture_on_commit_callbacks
):
    done, abandoned = start(seller, product), start(seller, product)
    post_to_s3(done, picture_bytes(size=(40, 30)))
    post_to_s3(abandoned, picture_bytes(size=(40, 30)))
    with django_capture_on_commit_callbacks(execute=True):
        complete(seller, product, done)
    ImageUpload.objects.update(created_at=timezone.now() - timedelta(days=2))
    kept = set(s3_media.keys()) - {abandoned["fields"]["key"]}

    swept = services.sweep_abandoned_uploads()

    assert swept == 1
    assert list(ImageUpload.objects.values_list("pk", flat=True)) == [ImageUpload.objects.get(image__isnull=False).pk]
    assert set(s3_media.keys()) == kept
    assert services.sweep_abandoned_uploads() == 0


def test_customers_and_keys_without_the_scope_cannot_start_uploads(s3_media, product):
    _, raw = ClientAPIKey.objects.create_key(name="Stock only", scopes=["stock:write"])
    stock_only = APIClient()
    stock_only.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")

    response = stock_only.post(f"/api/v1/products/{product.pk}/images/uploads", {"content_type": "image/jpeg"},
                               format="json")  # fmt: skip

    assert response.status_code == 403
    assert ImageUpload.objects.count() == 0


# --- The embedded default: the same two calls, the file POSTed to the shop itself ---------------


def test_on_local_media_the_same_protocol_uploads_to_the_shop(
    media_root, seller, product, django_capture_on_commit_callbacks
):
    ticket = start(seller, product)
    assert ticket["url"].startswith("http://testserver/uploads/")
    picture = SimpleUploadedFile("front.jpg", picture_bytes(size=(400, 300)), content_type="image/jpeg")

    stored = Client().post(ticket["url"], {**ticket["fields"], "file": picture})
    with django_capture_on_commit_callbacks(execute=True):
        completed = complete(seller, product, ticket)

    assert stored.status_code == 204
    assert completed.status_code == 201
    image = ProductImage.objects.get()
    assert (image.original.name, image.status) == (ticket["fields"]["key"], ImageStatus.READY)
    assert (media_root / ticket["fields"]["key"]).is_file()


@pytest.mark.parametrize(
    ("change", "field"),
    [({"key": "products/1/elsewhere.jpg"}, "key"), ({"signature": "forged"}, "signature"),
     ({"Content-Type": "image/png"}, "Content-Type")],
    ids=["key-outside-prefix", "forged-signature", "other-type"],
)  # fmt: skip
def test_the_local_upload_url_refuses_what_s3s_policy_would(media_root, seller, product, change, field):
    ticket = start(seller, product)
    picture = SimpleUploadedFile("front.jpg", picture_bytes(size=(40, 30)), content_type="image/jpeg")

    response = Client().post(ticket["url"], {**ticket["fields"], **change, "file": picture})

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]
    assert list(media_root.rglob("*.*")) == []


# --- The bucket's CORS rule for the admin's uploader (manage.py configure_media_bucket) ----------


def test_configure_media_bucket_lets_the_shops_origin_post_and_keeps_the_buckets_other_rules(s3_media, settings):
    settings.CATALOG_UPLOAD_CORS_ORIGINS = ["https://shop.example.com"]
    other = {"AllowedOrigins": ["https://cdn.example.com"], "AllowedMethods": ["GET"]}
    s3_media.client.put_bucket_cors(Bucket=s3_media.bucket, CORSConfiguration={"CORSRules": [other]})

    call_command("configure_media_bucket", stdout=io.StringIO())
    call_command("configure_media_bucket", "--origin", "https://admin.example.com", "--origin",
                 "https://shop.example.com", stdout=io.StringIO())  # fmt: skip

    rules = s3_media.client.get_bucket_cors(Bucket=s3_media.bucket)["CORSRules"]
    assert [(r.get("AllowedOrigins"), r.get("AllowedMethods")) for r in rules] == [
        (["https://cdn.example.com"], ["GET"]),  # left as it was
        (["https://admin.example.com", "https://shop.example.com"], ["POST"]),  # one rule, replaced, not added again
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--origin", "https://shop.example.com/admin/"], "without a path"), ([], "no bucket to configure")],
    ids=["origin-with-a-path", "local-media"],
)
def test_configure_media_bucket_refuses_a_bad_origin_and_local_media(media_root, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("configure_media_bucket", *args)
