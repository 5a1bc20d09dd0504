"""Product pictures with Pillow: what an upload must be, and how a WebP thumbnail is made.

Pure functions on bytes and files; no storage, no database. Uploads are checked in the request
(`validate_image_upload`), thumbnails are made in an `images` worker (`make_webp_thumbnail`).
"""

from __future__ import annotations

import io
from typing import IO

from django.core.exceptions import ValidationError
from PIL import Image, ImageOps

ACCEPTED_FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WebP", "GIF": "GIF"}  # MPO: phone JPEGs
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 40_000_000
THUMBNAIL_SIZES = {"small": 320, "large": 800}
WEBP_QUALITY = 80

# Decompression-bomb guard for every decode in this process (requests and workers): Pillow warns
# above this many pixels and refuses twice as many; our own check below refuses anything above.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

# Pillow reports a damaged or foreign file with any of these (UnidentifiedImageError is an OSError).
_PILLOW_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


class UnreadableImage(Exception):
    """The bytes are not a picture Pillow can decode; `reason` says why, in plain words."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def _unreadable(detail: str) -> ValidationError:
    return ValidationError(
        "This file is not an image we can read (%(detail)s). Please upload a JPEG, PNG, WebP or GIF picture.",
        code="invalid_image",
        params={"detail": detail},
    )


def _too_many_pixels(width: int, height: int) -> str:
    return f"{width} x {height} pixels is more than {MAX_PIXELS // 1_000_000} megapixels"


def validate_image_upload(file: IO[bytes]) -> None:
    """Refuse anything that is not a JPEG, PNG, WebP or GIF picture of at most 20 MB and 40 megapixels.

    Reads the header and verifies the file's structure without decoding the pixels; leaves the
    file at position 0. Raises django's ValidationError with a message a customer understands.
    """
    size = _size_of(file)
    if size > MAX_UPLOAD_BYTES:
        raise ValidationError(
            "This image is too large (%(size).1f MB); the limit is %(limit)d MB.",
            code="image_too_large",
            params={"size": size / (1024 * 1024), "limit": MAX_UPLOAD_BYTES // (1024 * 1024)},
        )
    file.seek(0)
    try:
        with Image.open(file) as image:
            image_format = image.format or "unknown"
            if image_format not in ACCEPTED_FORMATS:
                raise _unreadable(f"{image_format} pictures are not accepted")
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise _unreadable(_too_many_pixels(width, height))
            image.verify()  # structure and checksums; decoding waits for the worker
    except Image.DecompressionBombError as exc:
        raise _unreadable("it has far too many pixels") from exc
    except _PILLOW_ERRORS as exc:
        raise _unreadable("the file is damaged or is not a picture") from exc
    finally:
        file.seek(0)


def _size_of(file: IO[bytes]) -> int:
    size = getattr(file, "size", None)  # uploads and django Files know it
    if size is None:  # a plain stream: measure it
        size = file.seek(0, io.SEEK_END)
        file.seek(0)
    return size


def make_webp_thumbnail(source_bytes: bytes, max_side: int) -> bytes:
    """A WebP of the picture that fits in max_side x max_side (never enlarged), turned upright.

    Transparency is kept (RGBA), everything else becomes RGB; animated GIFs give their first
    frame. Raises UnreadableImage when Pillow cannot decode the bytes.
    """
    try:
        with Image.open(io.BytesIO(source_bytes)) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise UnreadableImage(_too_many_pixels(width, height))
            if image.format in ("JPEG", "MPO"):
                image.draft("RGB", (max_side, max_side))  # decode at a reduced scale: far less memory and time
            upright = ImageOps.exif_transpose(image)
            converted = upright.convert(_target_mode(upright))
            converted.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            output = io.BytesIO()
            converted.save(output, format="WEBP", quality=WEBP_QUALITY, method=4)
            return output.getvalue()
    except Image.DecompressionBombError as exc:
        raise UnreadableImage("the picture has far too many pixels") from exc
    except Image.UnidentifiedImageError as exc:
        raise UnreadableImage("the picture cannot be decoded (unknown or damaged format)") from exc
    except _PILLOW_ERRORS as exc:
        raise UnreadableImage(f"the picture cannot be decoded ({exc})") from exc


def _target_mode(image: Image.Image) -> str:
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode == "P" and "transparency" in image.info)
    return "RGBA" if has_alpha else "RGB"
