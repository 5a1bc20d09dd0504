"""The application follows the primary: a multi-host DATABASE_URL, 503 while the database is gone,
and the next request succeeds on a fresh connection without a restart."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import OperationalError, connection
from django.test import override_settings
from django.urls import path

from tests.accounts.factories import UserFactory
from tests.shop.helpers import settings_with
from tests.tcp_proxy import TcpProxy, free_port

ROOT = Path(__file__).resolve().parents[2]


def test_a_multi_host_database_url_names_every_node_and_asks_for_the_writable_one():
    found = settings_with(
        "DATABASES",
        DATABASE_URL="postgres://shop:pw@db1.internal:5432,db2.internal:5433/shop?target_session_attrs=read-write",
    )
    primary = found["DATABASES"]["default"]
    assert (primary["HOST"], primary["PORT"], primary["NAME"]) == ("db1.internal,db2.internal", "5432,5433", "shop")
    assert primary["OPTIONS"]["target_session_attrs"] == "read-write"
    assert primary["OPTIONS"]["connect_timeout"] == 3  # per host: a dead node costs 3 s at most
    assert primary["CONN_HEALTH_CHECKS"] is True  # a broken connection is dropped, not reused


def _lost_database(request):
    raise OperationalError("server closed the connection unexpectedly")


urlpatterns = [path("api/v1/lost", _lost_database), path("lost", _lost_database)]


@override_settings(ROOT_URLCONF=__name__)
@pytest.mark.parametrize(("url", "kind"), [("/api/v1/lost", "application/json"), ("/lost", "text/html")])
def test_a_lost_database_answers_503_with_retry_after_never_500(client, url, kind):
    response = client.get(url)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"].startswith(kind)
    if kind == "application/json":
        assert response.json()["error"]["code"] == "database_unavailable"
    else:
        assert "try again" in response.content.decode()


def _get(port: int, target: str, token: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", target, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.fixture
def served_through_a_proxy(transactional_db):
    """gunicorn whose DATABASE_URL names a dead node first, then a proxy to the test database."""
    settings = connection.settings_dict
    proxy = TcpProxy(int(settings["PORT"] or 5432), settings["HOST"] or "127.0.0.1").start()
    dead_port, port = free_port(), free_port()
    url = (f"postgres://{settings['USER']}@127.0.0.1:{dead_port},127.0.0.1:{proxy.port}/{settings['NAME']}"
           "?target_session_attrs=read-write")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_REPLICA", "REDIS_URL", "CELERY_BROKER"))}
    # The same SECRET_KEY as the tests, so the tokens signed here verify there.
    env.update(DATABASE_URL=url, DEBUG="0", SECRET_KEY=django_settings.SECRET_KEY, ALLOWED_HOSTS="127.0.0.1",
               SECURE_SSL_REDIRECT="false", DATABASE_CONN_MAX_AGE="600", LOG_LEVEL="ERROR",
               PAYMENTS_TEST_WEBHOOK_SECRET="failover-test-secret")  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "shop.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "1", "--log-level", "error"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if _get(port, "/healthz", "")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        yield port, proxy
    finally:
        server.terminate()
        server.wait(timeout=10)
        proxy.cut()


@pytest.mark.postgres
def test_a_dropped_primary_answers_503_and_the_next_request_succeeds_without_a_restart(served_through_a_proxy):
    from rest_framework_simplejwt.tokens import AccessToken

    port, proxy = served_through_a_proxy
    user = UserFactory(email="follow@example.com")
    token = str(AccessToken.for_user(user))
    # given: the API answers through the second host of the URL (the first one is dead)
    status, _, body = _get(port, "/api/v1/me", token)
    assert (status, json.loads(body)["email"]) == (200, "follow@example.com")

    # when: the primary is lost (every open connection dropped, the port closed)
    proxy.cut()
    status, headers, body = _get(port, "/api/v1/me", token)
    # then: 503 with Retry-After in the API's error shape, not a 500
    assert status == 503, body
    assert headers["Retry-After"] == "5"
    assert json.loads(body)["error"]["code"] == "database_unavailable"

    # when: a primary answers again at the address
    proxy.restore()
    # then: the same web process reconnects (the broken connection was dropped, not reused)
    status, _, body = _get(port, "/api/v1/me", token)
    assert (status, json.loads(body)["email"]) == (200, "follow@example.com")
