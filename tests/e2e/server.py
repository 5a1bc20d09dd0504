"""A live shop for the browser journey: a fresh database with the demo catalog, served by gunicorn.

The server runs the embedded default (SQLite in a temporary folder, local-memory cache, eager
Celery, the test payment gateway) unless E2E_DATABASE_URL names another database (for example
its own PostgreSQL database). E-mails are written one file per message to a folder the journey
reads (EMAIL_URL=filemail:////folder). It listens on a free loopback port chosen by the kernel.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.process_helpers import stop

ROOT = Path(__file__).resolve().parents[2]
DEMO_PRODUCTS = 400  # about 17 per leaf category: enough for facets worth checking, loaded in seconds
STAFF_EMAIL = "staff@example.com"
# Variables of the developer's or CI's own services that must not reach the journey's server.
SERVICE_VARIABLES = (
    "DATABASE_URL", "DATABASE_REPLICA_URLS", "DATABASE_REPLICA_REAL_URL", "REDIS_URL", "CACHE_KEY_PREFIX",
    "CELERY_BROKER_URL", "ELASTICSEARCH_URL", "AWS_STORAGE_BUCKET_NAME", "EMAIL_URL", "SHOP_REQUIRE_SERVICES",
    "PAYMENT_GATEWAY", "DJANGO_SETTINGS_MODULE",
)  # fmt: skip


@dataclass(frozen=True)
class LiveShop:
    base_url: str
    mail_dir: Path
    staff_email: str
    staff_password: str
    log_path: Path

    def mails_to(self, address: str) -> list[str]:
        """Every e-mail sent to `address` so far, oldest first, as raw text (headers and body)."""
        found = []  # Django's file backend: one file per connection, messages ended by a line of dashes
        for path in sorted(self.mail_dir.glob("*.log"), key=lambda p: (p.stat().st_mtime_ns, p.name)):
            for message in path.read_text(errors="replace").split("-" * 79):
                if re.search(rf"^To: .*{re.escape(address)}", message, re.MULTILINE | re.IGNORECASE):
                    found.append(message)
        return found


def _environment(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    env.update(
        DATABASE_URL=os.environ.get("E2E_DATABASE_URL") or f"sqlite:///{workdir / 'shop.sqlite3'}",
        MEDIA_ROOT=str(workdir / "media"),
        EMAIL_URL=f"filemail:///{workdir / 'mail'}",
        DEBUG="1",  # plain http on loopback: no HTTPS redirect, no secure-only cookies
        PYTHONUNBUFFERED="1",
    )
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def _wait_for_listening(process: subprocess.Popen, log: Path, deadline: float) -> str:
    """gunicorn binds port 0 and logs the port the kernel gave it; wait for that line and /healthz."""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log.read_text()}")
        if match := re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", log.read_text()):
            base_url = match.group(1)
            try:
                with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:  # noqa: S310 (loopback)
                    if response.status == 200:
                        return base_url
            except OSError:
                pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer in time:\n{log.read_text()}")


@contextmanager
def live_shop(workdir: Path) -> Iterator[LiveShop]:
    """Migrate, load the demo catalog, create a staff user, serve; stop the server on exit."""
    env = _environment(workdir)
    (workdir / "mail").mkdir(parents=True, exist_ok=True)
    _manage(env, "migrate", "--noinput", "-v0")
    _manage(env, "load_demo_catalog", "--products", str(DEMO_PRODUCTS))
    password_file = workdir / "staff-password"
    _manage(env, "ensure_demo_admin", "--email", STAFF_EMAIL, "--password-file", str(password_file))
    log = workdir / "gunicorn.log"
    with log.open("w") as out:
        # One process (the local-memory cache and eager Celery stay consistent), threads for the
        # browser's parallel requests for styles, scripts and pictures.
        process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "shop.wsgi", "--bind", "127.0.0.1:0", "--workers", "1",
                "--threads", "8", "--worker-class", "gthread", "--timeout", "60", "--access-logfile", "-",
            ],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        base_url = _wait_for_listening(process, log, time.monotonic() + 60)
        yield LiveShop(
            base_url=base_url,
            mail_dir=workdir / "mail",
            staff_email=STAFF_EMAIL,
            staff_password=password_file.read_text().strip(),
            log_path=log,
        )
    finally:
        stop(process, grace=15)
