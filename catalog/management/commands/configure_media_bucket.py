"""manage.py configure_media_bucket [--origin URL ...]: the media bucket's CORS rule for the admin's direct uploads."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog import services


class Command(BaseCommand):
    help = (
        "Put the CORS rule that lets the admin's pages POST pictures straight to the S3 media bucket "
        "(allowed origins: --origin, else CATALOG_UPLOAD_CORS_ORIGINS). The bucket's other rules are kept; "
        "running it again changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--origin", action="append", dest="origins", metavar="URL",
                            help="An origin allowed to upload, such as https://shop.example.com (repeatable).")  # fmt: skip

    def handle(self, *args, origins: list[str] | None, **options) -> None:
        origins = origins or settings.CATALOG_UPLOAD_CORS_ORIGINS
        bad = [o for o in origins if not _is_origin(o)]
        if bad or not origins:
            raise CommandError(f"Give origins as scheme://host[:port], without a path: {', '.join(bad) or 'none given'}.")
        if not services.direct_uploads_go_to_s3():
            raise CommandError("The media storage is local (no AWS_STORAGE_BUCKET_NAME): there is no bucket to configure.")
        rule = services.configure_bucket_cors(origins=origins)
        self.stdout.write(f"CORS rule {rule['ID']!r} on the media bucket: {json.dumps(rule, sort_keys=True)}")


def _is_origin(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not (parts.path or parts.query or parts.fragment)
