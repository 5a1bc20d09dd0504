"""Product images on a real S3 API (moto's standalone server on 127.0.0.1) behind a CDN name."""

from __future__ import annotations

import importlib.util
import io
import os

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from PIL import Image

from catalog.models import ImageStatus
from catalog.services.images import add_product_image, image_urls, make_thumbnails
from tests.catalog.factories import ProductFactory

if importlib.util.find_spec("moto") is None:
    # moto[server] is pinned in requirements-dev.txt, so CI always runs this module; with
    # SHOP_REQUIRE_SERVICES=1 (CI) a missing moto fails loudly instead of skipping.
    if os.environ.get("SHOP_REQUIRE_SERVICES") == "1":
        raise ImportError("moto[server] is missing: pip install -r requirements-dev.txt")
    pytest.skip("needs moto[server] (pip install -r requirements-dev.txt)", allow_module_level=True)

pytestmark = pytest.mark.django_db


def test_thumbnails_are_written_to_the_bucket_and_served_from_the_cdn(
    s3_media, make_upload, django_capture_on_commit_callbacks
):
    # given
    product = ProductFactory()
    assert default_storage.bucket_name == s3_media.bucket  # the settings change reached the storage

    # when: upload, then the thumbnail task on commit
    with django_capture_on_commit_callbacks(execute=True):
        image = add_product_image(product_id=product.pk, file=make_upload("front.jpg", size=(1600, 900)))
    image.refresh_from_db()

    # then: three objects in the bucket, two of them WebP thumbnails of the right size
    assert image.status == ImageStatus.READY
    small = f"products/{product.pk}/thumbs/{image.pk}-320.webp"
    large = f"products/{product.pk}/thumbs/{image.pk}-800.webp"
    assert s3_media.keys() == sorted([image.original.name, small, large])
    for key, width in ((small, 320), (large, 800)):
        stored = s3_media.client.get_object(Bucket=s3_media.bucket, Key=key)
        assert stored["ContentType"] == "image/webp"
        with Image.open(io.BytesIO(stored["Body"].read())) as thumbnail:
            assert (thumbnail.format, thumbnail.size) == ("WEBP", (width, width * 9 // 16))

    # and the pages get CDN URLs
    assert image_urls(image) == {
        "original": f"{s3_media.cdn_base_url}/{image.original.name}",
        "small": f"{s3_media.cdn_base_url}/{small}",
        "large": f"{s3_media.cdn_base_url}/{large}",
    }
    assert s3_media.cdn_base_url.startswith("https://cdn.example.test/")


def test_a_rerun_on_s3_overwrites_the_thumbnails_under_the_same_keys(
    s3_media, make_upload, django_capture_on_commit_callbacks
):
    # given: thumbnails written, then the worker died before recording them
    product = ProductFactory()
    with django_capture_on_commit_callbacks(execute=True):
        image = add_product_image(product_id=product.pk, file=make_upload())
    keys_before = s3_media.keys()
    type(image).objects.filter(pk=image.pk).update(status=ImageStatus.PENDING, thumbnail_small="", thumbnail_large="")

    # when
    with django_capture_on_commit_callbacks(execute=True):
        rerun = make_thumbnails(image_id=image.pk)

    # then: no suffixed copies (the storage does not overwrite by itself, as in production)
    assert s3_media.keys() == keys_before
    assert rerun.status == ImageStatus.READY
    assert rerun.thumbnail_small == f"products/{product.pk}/thumbs/{image.pk}-320.webp"


def test_a_corrupt_upload_leaves_the_bucket_empty(s3_media, make_upload):
    with pytest.raises(ValidationError):
        add_product_image(product_id=ProductFactory().pk, file=make_upload("bad.jpg", b"not a picture"))

    assert s3_media.keys() == []
