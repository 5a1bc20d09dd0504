"""Run a snippet in a fresh Python process with a chosen environment.

Settings are read once at import, so the only honest test of "this variable switches that part
on" is a new process that imports them with exactly that environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SHOP_VARIABLES = (
    "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "DATABASE_REPLICA_URLS", "REDIS_URL",
    "CELERY_BROKER_URL", "ELASTICSEARCH_URL", "AWS_STORAGE_BUCKET_NAME", "AWS_S3_ENDPOINT_URL",
    "AWS_S3_CUSTOM_DOMAIN", "EMAIL_URL", "PAYMENT_GATEWAY", "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE", "CACHE_KEY_PREFIX", "SECURE_SSL_REDIRECT", "PAYMENTS_TEST_WEBHOOK_SECRET",
)  # fmt: skip


def clean_environment(**variables: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k not in SHOP_VARIABLES}
    environment["DJANGO_SETTINGS_MODULE"] = "shop.settings"
    environment.update(variables)
    return environment


def run_python(code: str, **variables: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean_environment(**variables),
        capture_output=True,
        text=True,
        timeout=60,
    )


def settings_with(*names: str, **variables: str) -> dict:
    """The named settings as a new process sees them with exactly these shop variables."""
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {list(names)!r}}}, default=str))"
    )
    result = run_python(code, **variables)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def get_with_client(path: str, **variables: str) -> tuple[int, dict]:
    """GET a path through Django's test client in a new process with these variables."""
    code = (
        "import json, django; django.setup(); from django.test import Client; "
        f"r = Client().get({path!r}); print(json.dumps([r.status_code, json.loads(r.content)]))"
    )
    result = run_python(code, **variables)
    assert result.returncode == 0, result.stderr
    status, body = json.loads(result.stdout.strip().splitlines()[-1])
    return status, body
