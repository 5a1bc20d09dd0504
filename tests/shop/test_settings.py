"""Each variable of the architecture's table switches one part on; none at all is the embedded shop."""

from __future__ import annotations

import json

import pytest

from tests.shop.helpers import run_python, settings_with

PRODUCTION = {"DEBUG": "0", "SECRET_KEY": "x" * 64 + "-production-like-secret", "ALLOWED_HOSTS": "shop.example.com",
              "PAYMENTS_TEST_WEBHOOK_SECRET": "whsec-of-this-shop-only"}  # fmt: skip
PRODUCTION_CORE = {k: v for k, v in PRODUCTION.items() if k != "PAYMENTS_TEST_WEBHOOK_SECRET"}


@pytest.mark.smoke
def test_no_variables_gives_the_embedded_shop():
    embedded = settings_with(
        "DATABASES", "CACHES", "CELERY_TASK_ALWAYS_EAGER", "CELERY_TASK_EAGER_PROPAGATES", "STORAGES",
        "EMAIL_BACKEND", "PAYMENT_GATEWAY", "SEARCH_BACKEND", "SESSION_ENGINE", "DEBUG",
    )  # fmt: skip
    assert embedded["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert list(embedded["DATABASES"]) == ["default"]
    assert embedded["CACHES"]["default"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    assert embedded["CELERY_TASK_ALWAYS_EAGER"] is True
    assert embedded["CELERY_TASK_EAGER_PROPAGATES"] is False  # retries run, failures become dead letters
    assert embedded["STORAGES"]["default"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert embedded["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    assert embedded["PAYMENT_GATEWAY"] == "test"
    assert embedded["SEARCH_BACKEND"] == "database"
    assert embedded["SESSION_ENGINE"] == "django.contrib.sessions.backends.cached_db"
    assert embedded["DEBUG"] is True


def test_database_url_switches_to_postgresql_with_a_connect_timeout():
    found = settings_with("DATABASES", DATABASE_URL="postgres://shop:pw@db.internal:5432/shop")
    primary = found["DATABASES"]["default"]
    assert (primary["ENGINE"], primary["HOST"], primary["NAME"]) == (
        "shop.postgresql",  # Django's backend, health-checking only connections idle a while
        "db.internal",
        "shop",
    )
    assert primary["OPTIONS"]["connect_timeout"] == 3


def test_replica_urls_become_replica_aliases_that_mirror_the_primary_in_tests():
    found = settings_with(
        "DATABASES",
        DATABASE_URL="postgres://shop@primary/shop",
        DATABASE_REPLICA_URLS="postgres://shop@replica-a/shop, postgres://shop@replica-b/shop",
    )
    assert list(found["DATABASES"]) == ["default", "replica_1", "replica_2"]
    assert found["DATABASES"]["replica_2"]["HOST"] == "replica-b"
    assert found["DATABASES"]["replica_1"]["TEST"]["MIRROR"] == "default"
    assert found["DATABASES"]["replica_1"]["ENGINE"] == "shop.postgresql"


def test_redis_url_switches_the_cache_to_redis_that_ignores_its_errors():
    found = settings_with("CACHES", "SESSION_ENGINE", REDIS_URL="redis://cache.internal:6379/2")
    cache = found["CACHES"]["default"]
    assert cache["BACKEND"] == "django_redis.cache.RedisCache"
    assert cache["LOCATION"] == "redis://cache.internal:6379/2"
    assert cache["OPTIONS"]["IGNORE_EXCEPTIONS"] is True
    assert cache["OPTIONS"]["SOCKET_TIMEOUT"] <= 0.5
    assert found["SESSION_ENGINE"] == "django.contrib.sessions.backends.cached_db"


def test_broker_url_switches_celery_to_real_workers():
    found = settings_with("CELERY_TASK_ALWAYS_EAGER", "CELERY_BROKER_URL", CELERY_BROKER_URL="amqp://guest:guest@mq//")
    assert found == {"CELERY_TASK_ALWAYS_EAGER": False, "CELERY_BROKER_URL": "amqp://guest:guest@mq//"}


def test_elasticsearch_url_switches_the_search_backend():
    assert settings_with("SEARCH_BACKEND", ELASTICSEARCH_URL="http://es:9200")["SEARCH_BACKEND"] == "elasticsearch"


def test_bucket_switches_media_to_s3_behind_the_cdn_host():
    found = settings_with(
        "STORAGES", "AWS_S3_CUSTOM_DOMAIN", "AWS_S3_ENDPOINT_URL",
        AWS_STORAGE_BUCKET_NAME="media", AWS_S3_CUSTOM_DOMAIN="cdn.example.com", AWS_S3_ENDPOINT_URL="http://127.0.0.1:9000",
    )  # fmt: skip
    assert found["STORAGES"]["default"]["BACKEND"] == "storages.backends.s3.S3Storage"
    assert found["AWS_S3_CUSTOM_DOMAIN"] == "cdn.example.com"
    assert found["AWS_S3_ENDPOINT_URL"] == "http://127.0.0.1:9000"


def test_email_url_switches_to_smtp():
    found = settings_with(
        "EMAIL_BACKEND",
        "EMAIL_HOST",
        "EMAIL_PORT",
        "EMAIL_USE_TLS",
        EMAIL_URL="smtp+tls://user:pw@mail.example.com:587",
    )
    assert found == {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "mail.example.com",
        "EMAIL_PORT": 587,
        "EMAIL_USE_TLS": True,
    }


def test_email_url_filemail_writes_each_message_to_the_folder_named(tmp_path):
    found = settings_with("EMAIL_BACKEND", "EMAIL_FILE_PATH", EMAIL_URL=f"filemail:///{tmp_path}")
    assert found == {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path),
    }


def test_stripe_gateway_is_chosen_by_variable():
    found = settings_with("PAYMENT_GATEWAY", "STRIPE_API_BASE", PAYMENT_GATEWAY="stripe", STRIPE_API_KEY="sk_test_x",
                          STRIPE_WEBHOOK_SECRET="whsec_x", STRIPE_API_BASE="http://127.0.0.1:8420")  # fmt: skip
    assert found == {"PAYMENT_GATEWAY": "stripe", "STRIPE_API_BASE": "http://127.0.0.1:8420"}


@pytest.mark.parametrize(
    ("variables", "complaint"),
    [
        ({"PAYMENT_GATEWAY": "stripe"}, "PAYMENT_GATEWAY=stripe needs STRIPE_API_KEY"),
        ({"PAYMENT_GATEWAY": "stripe", "STRIPE_API_KEY": "sk_test_x"}, "needs STRIPE_WEBHOOK_SECRET"),
        ({"PAYMENT_GATEWAY": "paypal"}, "PAYMENT_GATEWAY must be 'test' or 'stripe'"),
        ({"DEBUG": "0", "ALLOWED_HOSTS": "shop.example.com"}, "SECRET_KEY"),
        ({"DEBUG": "0", "SECRET_KEY": "s" * 60}, "ALLOWED_HOSTS"),
        # The test gateway's default webhook secret is public: production needs its own.
        (PRODUCTION_CORE, "PAYMENT_GATEWAY=test needs PAYMENTS_TEST_WEBHOOK_SECRET"),
        ({**PRODUCTION_CORE, "PAYMENTS_TEST_WEBHOOK_SECRET": "test-webhook-secret"}, "not the documented default"),
    ],
)
def test_a_half_configured_service_stops_the_start(variables, complaint):
    result = run_python("import django; django.setup()", **variables)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert complaint in result.stderr


def test_production_settings_pass_the_deploy_check():
    result = run_python(
        "import sys; from django.core.management import execute_from_command_line; "
        "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])",
        **PRODUCTION,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_production_turns_on_https_only_cookies_and_hsts():
    found = settings_with(
        "DEBUG",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        **PRODUCTION,
    )
    assert found["DEBUG"] is False
    assert found["SESSION_COOKIE_SECURE"] is found["CSRF_COOKIE_SECURE"] is found["SECURE_SSL_REDIRECT"] is True
    assert found["SECURE_HSTS_SECONDS"] >= 31536000


def test_logs_are_plain_text_by_default_and_json_lines_with_log_format_json():
    plain = settings_with("LOGGING", "METRICS_TOKEN")
    assert plain["LOGGING"]["handlers"]["console"]["formatter"] == "plain"
    assert plain["METRICS_TOKEN"] == ""
    found = run_python(
        "import django, logging; django.setup(); logging.getLogger('shop.check').warning('hello')",
        LOG_FORMAT="json",
    )
    assert found.returncode == 0, found.stderr
    line = json.loads(found.stderr.strip().splitlines()[-1])
    assert (line["level"], line["logger"], line["message"]) == ("WARNING", "shop.check", "hello")
    assert {"time", "request_id", "user_id", "order_number"} <= set(line)
