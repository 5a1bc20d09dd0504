"""Fixtures of the catalog tests: pictures made in memory, media in a temporary folder, staff
clients, and a real S3 API (moto's standalone server on 127.0.0.1) for the storage tests."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests.accounts.factories import UserFactory


def picture_bytes(
    *, size: tuple[int, int] = (1600, 1200), image_format: str = "JPEG", mode: str = "RGB", exif_orientation=None
) -> bytes:
    """A picture made with Pillow: a two-colour card (compresses to little); RGBA ones are half clear."""
    background = {"RGB": (58, 110, 165), "RGBA": (58, 110, 165, 0)}.get(mode, 128)
    image = Image.new(mode, size, background)
    if mode in ("RGB", "RGBA"):
        image.paste((240, 200, 40, 255)[: len(mode)], (0, 0, size[0] // 2, size[1] // 2))
    output = io.BytesIO()
    options = {}
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation  # Orientation
        options["exif"] = exif
    image.save(output, format=image_format, **options)
    return output.getvalue()


@pytest.fixture
def make_upload() -> Callable[..., SimpleUploadedFile]:
    """make_upload(name="p.jpg", content=None, **picture options): an uploaded file as a form gets it."""

    def make(name: str = "picture.jpg", content: bytes | None = None, **picture_options) -> SimpleUploadedFile:
        if content is None:
            content = picture_bytes(**picture_options)
        return SimpleUploadedFile(name, content, content_type="application/octet-stream")

    return make


@pytest.fixture
def media_root(settings, tmp_path) -> Path:
    """Local media storage in a folder of this test only."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    return root


def stored_files(root: Path) -> dict[str, int]:
    """Every file under root (relative name -> modification time in ns)."""
    return {str(path.relative_to(root)): path.stat().st_mtime_ns for path in root.rglob("*") if path.is_file()}


@pytest.fixture
def superuser_client(client, db):
    client.force_login(UserFactory(superuser=True, email="catalog-boss@example.com"))
    return client


# --- S3 through moto's standalone server ------------------------------------------------------

S3_REGION = "us-east-1"
S3_KEY = "test"


@dataclass(frozen=True)
class S3Media:
    client: object  # a boto3 S3 client on the moto server
    bucket: str
    endpoint_url: str
    cdn_base_url: str

    def keys(self) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=self.bucket)
        return sorted(entry["Key"] for entry in listing.get("Contents", []))


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server in a thread of this test process, on a free port of 127.0.0.1 only."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    with pytest.MonkeyPatch.context() as patch:
        # A proxy from the environment must never see the loopback traffic.
        patch.setenv("NO_PROXY", ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1"])))
        yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_media(moto_endpoint, settings) -> S3Media:
    """A fresh bucket on the moto server, and the default storage switched to it (behind a CDN name)."""
    import boto3

    bucket = f"shop-media-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_KEY,
        region_name=S3_REGION,
    )
    client.create_bucket(Bucket=bucket)
    cdn_domain = f"cdn.example.test/{bucket}"
    # Changing STORAGES through the settings fixture resets django's default_storage (Django's
    # setting_changed receiver), both now and when the test ends.
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": moto_endpoint,
                "access_key": S3_KEY,
                "secret_key": S3_KEY,
                "region_name": S3_REGION,
                "custom_domain": cdn_domain,
                "url_protocol": "https:",
                "querystring_auth": False,
                "file_overwrite": False,  # as in production settings
                "default_acl": None,
            },
        },
    }
    return S3Media(client=client, bucket=bucket, endpoint_url=moto_endpoint, cdn_base_url=f"https://{cdn_domain}")
