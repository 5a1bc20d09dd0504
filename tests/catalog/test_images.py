"""Product images on local storage: uploads checked, WebP thumbnails made once, failures recorded."""

from __future__ import annotations

import io
from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.utils import timezone
from PIL import Image

from catalog.cache import product_key
from catalog.images import MAX_UPLOAD_BYTES, THUMBNAIL_SIZES, make_webp_thumbnail, validate_image_upload
from catalog.models import ImageStatus, ProductImage
from catalog.selectors import ProductNotFound
from catalog.services import images as images_service
from catalog.services.images import ProductImageNotFound, add_product_image, image_urls, make_thumbnails
from catalog.tasks import make_thumbnails_task, requeue_pending_thumbnails_task
from shop.celery import app as celery_app
from shop.celery import queue_for_task
from tests.catalog.conftest import picture_bytes, stored_files
from tests.catalog.factories import ProductFactory

pytestmark = pytest.mark.django_db

CLEAR_MESSAGE_START = "This file is not an image we can read ("


@pytest.fixture
def eager_retries():
    # Without propagation, eager mode runs a task's retries the way a worker would (minus the waits).
    celery_app.conf.update(task_eager_propagates=False)
    yield
    celery_app.conf.update(task_eager_propagates=True)


def open_stored(media_root, name: str) -> Image.Image:
    return Image.open(media_root / name)


def add_image(product, upload, django_capture_on_commit_callbacks, *, execute: bool = True) -> ProductImage:
    with django_capture_on_commit_callbacks(execute=execute):
        image = add_product_image(product_id=product.pk, file=upload, alt_text="Front")
    image.refresh_from_db()
    return image


# --- Thumbnails ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image_format", "mode", "size"),
    [
        ("JPEG", "RGB", (1600, 1200)),
        ("PNG", "RGB", (1200, 1600)),
        ("PNG", "RGBA", (2000, 500)),
        ("GIF", "P", (900, 900)),
    ],
)
def test_an_upload_gets_a_small_and_a_large_webp_thumbnail(
    media_root, make_upload, django_capture_on_commit_callbacks, image_format, mode, size
):
    # given
    product = ProductFactory()
    upload = make_upload(f"shot.{image_format.lower()}", image_format=image_format, mode=mode, size=size)

    # when: the thumbnail task runs on commit (eagerly in tests)
    image = add_image(product, upload, django_capture_on_commit_callbacks)

    # then
    assert image.status == ImageStatus.READY
    assert image.failure_reason == ""
    assert image.original.name.startswith(f"products/{product.pk}/originals/shot")
    assert image.thumbnail_small == f"products/{product.pk}/thumbs/{image.pk}-320.webp"
    assert image.thumbnail_large == f"products/{product.pk}/thumbs/{image.pk}-800.webp"
    for name, max_side in ((image.thumbnail_small, 320), (image.thumbnail_large, 800)):
        with open_stored(media_root, name) as thumbnail:
            assert thumbnail.format == "WEBP"
            assert max(thumbnail.size) == max_side
            assert abs(thumbnail.size[0] / thumbnail.size[1] - size[0] / size[1]) < 0.02


def test_a_small_picture_is_never_enlarged(media_root, make_upload, django_capture_on_commit_callbacks):
    image = add_image(ProductFactory(), make_upload(size=(200, 120)), django_capture_on_commit_callbacks)

    for name in (image.thumbnail_small, image.thumbnail_large):
        with open_stored(media_root, name) as thumbnail:
            assert thumbnail.size == (200, 120)


def test_a_thumbnail_is_turned_upright_by_the_exif_orientation():
    # A camera held on its side: 400 x 200 pixels stored, "rotate 90" in the EXIF data.
    sideways = picture_bytes(size=(400, 200), exif_orientation=6)

    with Image.open(io.BytesIO(make_webp_thumbnail(sideways, 320))) as thumbnail:
        assert thumbnail.size == (160, 320)


def test_transparency_survives_and_opaque_pictures_become_rgb():
    with Image.open(io.BytesIO(make_webp_thumbnail(picture_bytes(image_format="PNG", mode="RGBA"), 320))) as clear:
        assert clear.mode == "RGBA"
    with Image.open(io.BytesIO(make_webp_thumbnail(picture_bytes(image_format="PNG", mode="L"), 320))) as grey:
        assert grey.mode == "RGB"


def test_making_thumbnails_twice_writes_nothing_new(media_root, make_upload, django_capture_on_commit_callbacks):
    # given: an image whose thumbnails are made
    image = add_image(ProductFactory(), make_upload(), django_capture_on_commit_callbacks)
    files_before = stored_files(media_root)
    assert len(files_before) == 3

    # when: the task is delivered again
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        make_thumbnails_task.delay(image_id=image.pk)
        again = make_thumbnails(image_id=image.pk)

    # then
    assert stored_files(media_root) == files_before
    assert callbacks == []  # no cache invalidation either: nothing changed
    assert (again.status, again.thumbnail_small, again.thumbnail_large) == (
        ImageStatus.READY,
        image.thumbnail_small,
        image.thumbnail_large,
    )


def test_a_rerun_after_a_crash_overwrites_the_same_thumbnail_names(
    media_root, make_upload, django_capture_on_commit_callbacks
):
    # given: a worker wrote the thumbnails and died before recording them
    image = add_image(ProductFactory(), make_upload(), django_capture_on_commit_callbacks)
    ProductImage.objects.filter(pk=image.pk).update(status=ImageStatus.PENDING, thumbnail_small="", thumbnail_large="")

    # when
    with django_capture_on_commit_callbacks(execute=True):
        rerun = make_thumbnails(image_id=image.pk)

    # then: the same names, no second copy
    assert (rerun.thumbnail_small, rerun.thumbnail_large) == (image.thumbnail_small, image.thumbnail_large)
    assert len(stored_files(media_root)) == 3


# --- Refused uploads --------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # the 40+ megapixel case
@pytest.mark.parametrize(
    ("name", "content", "detail"),
    [
        ("broken.jpg", picture_bytes()[:40], "the file is damaged or is not a picture"),
        ("notes.jpg", b"just some text, not a picture at all", "the file is damaged or is not a picture"),
        ("scan.bmp", picture_bytes(image_format="BMP", size=(20, 20)), "BMP pictures are not accepted"),
        ("huge.png", picture_bytes(image_format="PNG", mode="1", size=(8000, 5001)), "more than 40 megapixels"),
    ],
)
def test_a_file_we_cannot_use_is_refused_with_a_clear_message_and_nothing_is_written(
    media_root, make_upload, django_capture_on_commit_callbacks, name, content, detail
):
    product = ProductFactory()

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(ValidationError) as refused:
        add_product_image(product_id=product.pk, file=make_upload(name, content))

    message = refused.value.messages[0]
    assert message.startswith(CLEAR_MESSAGE_START)
    assert detail in message
    assert refused.value.error_list[0].code == "invalid_image"
    assert ProductImage.objects.count() == 0
    assert stored_files(media_root) == {}
    assert callbacks == []


def test_a_file_over_20_mb_is_refused_before_it_is_read(media_root):
    upload = InMemoryUploadedFile(
        io.BytesIO(picture_bytes()),
        "original",
        "big.jpg",
        "image/jpeg",
        size=MAX_UPLOAD_BYTES + 1024 * 1024,
        charset=None,
    )

    with pytest.raises(ValidationError) as refused:
        add_product_image(product_id=ProductFactory().pk, file=upload)

    assert refused.value.messages == ["This image is too large (21.0 MB); the limit is 20 MB."]
    assert ProductImage.objects.count() == 0
    assert stored_files(media_root) == {}


def test_validation_leaves_a_good_file_ready_to_be_read_again(make_upload):
    upload = make_upload()
    validate_image_upload(upload)
    assert upload.tell() == 0


def test_an_image_for_a_missing_product_is_refused_and_writes_no_file(media_root, make_upload):
    with pytest.raises(ProductNotFound):
        add_product_image(product_id=987654, file=make_upload())

    assert stored_files(media_root) == {}


# --- Failures after upload --------------------------------------------------------------------


def test_a_file_that_becomes_unreadable_after_upload_fails_the_image_and_the_task_does_not_raise(
    media_root, make_upload, django_capture_on_commit_callbacks
):
    # given: a good upload whose stored file is damaged before the worker reads it
    image = add_image(ProductFactory(), make_upload(), django_capture_on_commit_callbacks, execute=False)
    (media_root / image.original.name).write_bytes(b"\xff\xd8\xff\xe0 damaged on the way")

    # when
    make_thumbnails_task.delay(image_id=image.pk)

    # then
    image.refresh_from_db()
    assert image.status == ImageStatus.FAILED
    assert image.failure_reason.startswith("the picture cannot be decoded")
    assert (image.thumbnail_small, image.thumbnail_large) == ("", "")
    assert image_urls(image)["small"] == image_urls(image)["original"]
    assert not (media_root / "products" / str(image.product_id) / "thumbs").exists()


def test_a_missing_original_fails_the_image_without_retrying(
    media_root, make_upload, django_capture_on_commit_callbacks
):
    image = add_image(ProductFactory(), make_upload(), django_capture_on_commit_callbacks, execute=False)
    (media_root / image.original.name).unlink()

    make_thumbnails_task.delay(image_id=image.pk)

    image.refresh_from_db()
    assert (image.status, image.failure_reason) == (ImageStatus.FAILED, "the original file is missing from storage")


def test_the_task_for_a_deleted_image_does_nothing(media_root, make_upload, django_capture_on_commit_callbacks):
    image = add_image(ProductFactory(), make_upload(), django_capture_on_commit_callbacks, execute=False)
    image_id = image.pk
    image.delete()

    make_thumbnails_task.delay(image_id=image_id)  # no error

    with pytest.raises(ProductImageNotFound):
        make_thumbnails(image_id=image_id)


def test_an_image_deleted_while_its_thumbnails_are_made_leaves_no_thumbnail_files(
    media_root, make_upload, django_capture_on_commit_callbacks
):
    # given: staff delete the image while the worker is writing its thumbnails
    image = add_image(ProductFactory(), make_upload(), django_capture_on_commit_callbacks, execute=False)
    real_write = images_service._write_thumbnail

    def write_then_delete(**kwargs):
        ProductImage.objects.filter(pk=image.pk).delete()
        return real_write(**kwargs)

    # when
    with mock.patch.object(images_service, "_write_thumbnail", side_effect=write_then_delete):
        make_thumbnails_task.delay(image_id=image.pk)  # a no-op for the task, not an error

    # then: only the original is left (its row is gone; files of deleted rows are not swept yet)
    assert list(stored_files(media_root)) == [image.original.name]


def test_the_task_retries_storage_errors_five_times_then_gives_up(
    media_root, make_upload, django_capture_on_commit_callbacks, eager_retries
):
    image = add_image(ProductFactory(), make_upload(), django_capture_on_commit_callbacks, execute=False)

    with mock.patch(
        "catalog.services.images.default_storage.open", side_effect=ConnectionResetError("bucket away")
    ) as opened:
        result = make_thumbnails_task.delay(image_id=image.pk)

    assert opened.call_count == 1 + 5
    assert isinstance(result.result, ConnectionResetError)
    image.refresh_from_db()
    assert image.status == ImageStatus.PENDING  # a later delivery can still make them


def test_images_left_pending_too_long_are_sent_to_the_worker_again(
    media_root, make_upload, django_capture_on_commit_callbacks
):
    # given: one upload whose task message was lost 20 minutes ago, and one from just now
    product = ProductFactory()
    lost = add_image(product, make_upload(), django_capture_on_commit_callbacks, execute=False)
    recent = add_image(product, make_upload(), django_capture_on_commit_callbacks, execute=False)
    ProductImage.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(minutes=20))

    # when: the periodic task runs
    with django_capture_on_commit_callbacks(execute=True):
        sent = requeue_pending_thumbnails_task.delay().get()

    # then
    assert sent == 1
    lost.refresh_from_db()
    recent.refresh_from_db()
    assert (lost.status, recent.status) == (ImageStatus.READY, ImageStatus.PENDING)


def test_the_thumbnail_task_goes_to_the_images_queue_and_is_acknowledged_late():
    assert make_thumbnails_task.name == "catalog.make_thumbnails"
    assert queue_for_task(make_thumbnails_task.name) == "images"
    assert make_thumbnails_task.acks_late is True
    assert make_thumbnails_task.max_retries == 5
    assert queue_for_task(requeue_pending_thumbnails_task.name) == "images"


# --- URLs and cache ---------------------------------------------------------------------------


def test_urls_show_the_original_until_the_thumbnails_are_ready(
    media_root, make_upload, django_capture_on_commit_callbacks
):
    # given: an image whose task has not run yet
    image = add_image(ProductFactory(), make_upload(), django_capture_on_commit_callbacks, execute=False)
    original_url = f"/media/{image.original.name}"
    assert image_urls(image) == {"original": original_url, "small": original_url, "large": original_url}

    # when
    with django_capture_on_commit_callbacks(execute=True):
        ready = make_thumbnails(image_id=image.pk)

    # then
    assert image_urls(ready) == {
        "original": original_url,
        "small": f"/media/{ready.thumbnail_small}",
        "large": f"/media/{ready.thumbnail_large}",
    }


def test_adding_an_image_and_finishing_its_thumbnails_each_forget_the_cached_product(
    media_root, make_upload, django_capture_on_commit_callbacks
):
    # given
    product = ProductFactory()
    cache.set(product_key(product.slug), {"title": product.title})

    # when: the upload commits (thumbnails not made yet)
    image = add_image(product, make_upload(), django_capture_on_commit_callbacks, execute=False)
    with django_capture_on_commit_callbacks(execute=True):
        add_product_image(product_id=product.pk, file=make_upload(), alt_text="Back")  # second image

    # then
    assert cache.get(product_key(product.slug)) is None

    # and when the first image's thumbnails are recorded
    cache.set(product_key(product.slug), {"title": product.title})
    with django_capture_on_commit_callbacks(execute=True):
        make_thumbnails(image_id=image.pk)
    assert cache.get(product_key(product.slug)) is None


def test_new_images_go_after_the_existing_ones(media_root, make_upload, django_capture_on_commit_callbacks):
    product = ProductFactory()

    first = add_image(product, make_upload(), django_capture_on_commit_callbacks, execute=False)
    second = add_image(product, make_upload(), django_capture_on_commit_callbacks, execute=False)

    assert (first.position, second.position) == (0, 1)
    assert first.original.name != second.original.name


def test_thumbnail_sizes_are_the_documented_ones():
    assert THUMBNAIL_SIZES == {"small": 320, "large": 800}
