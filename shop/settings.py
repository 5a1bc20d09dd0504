"""The shop's one settings module.

Everything comes from the environment (django-environ). With no variable at all the shop runs
*embedded*: SQLite, local-memory cache, eager Celery, files on local disk, console e-mail, the
test payment gateway and database search. Each variable of the table in README.md switches one
real service on; absence always means the embedded default, never a half-configured service.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from shop.conf import POSTGRESQL_ENGINE, celery_queues, redis_cache_config, replica_databases, with_shop_engine
from shop.observability.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# --- Core ----------------------------------------------------------------------------------
# DEBUG defaults to on so that `make run` works with no configuration; the Docker image sets
# DEBUG=0, and with DEBUG off the secrets below have no default, so a missing one fails at
# start-up rather than at the first request.
DEBUG = env.bool("DEBUG", default=True)
if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="embedded-development-key-not-for-production-use-0123456789")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
else:
    try:
        SECRET_KEY = env.str("SECRET_KEY")
        ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
    except ImproperlyConfigured as exc:
        raise ImproperlyConfigured(f"With DEBUG off, {exc}") from exc
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("With DEBUG off, ALLOWED_HOSTS must name at least one host")

SHOP_NAME = env.str("SHOP_NAME", default="Shop")
# Where customers reach the storefront: links in e-mails (order pages) start with it.
SHOP_BASE_URL = env.str("SHOP_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
SHOP_CURRENCY = env.str("SHOP_CURRENCY", default="EUR")
# Render every kept page part again and fail if it differs (shop/fragments.py): on in the tests.
FRAGMENT_CHECK = env.bool("FRAGMENT_CHECK", default=False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "shop",
    "accounts",
    "catalog",
    "cart",
    "orders",
    "payments",
    "inventory",
]

MIDDLEWARE = [
    # First, so every response (redirects and errors too) carries its X-Request-ID and is timed.
    "shop.observability.middleware.ObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "shop.failover.DatabaseUnavailableMiddleware",
    "shop.api.request_limits.ApiBodySizeMiddleware",  # 413 before anything reads an oversized API body
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "catalog.middleware.CatalogCacheMiddleware",  # the listing generation read once per request
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "shop.db_router.ReplicaPinMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "shop.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:account"
LOGOUT_REDIRECT_URL = "catalog:home"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "shop.context_processors.shop",
                "catalog.context_processors.menu_categories",
                "cart.context_processors.cart_summary",
            ],
        },
    },
    {
        # Plain-text e-mail (bodies and subjects): the same templates, never HTML-escaped, so
        # "Smith & Sons" is not "Smith &amp; Sons". Render with shop.templating.render_text.
        "NAME": "text",
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {"autoescape": False},
    },
]

# --- Database ------------------------------------------------------------------------------
# DATABASE_URL: the PostgreSQL primary. DATABASE_REPLICA_URLS: read replicas, comma separated,
# registered as aliases replica_1, replica_2 ... (the read-replica router opts selectors in).
DATABASES = {
    "default": with_shop_engine(env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")),
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# ...but a connection that ran a statement this recently skips the check's SELECT 1
# (shop.postgresql, the ENGINE of every PostgreSQL alias); 0 checks before every request and
# task, as plain Django does.
DATABASE_HEALTH_CHECK_IDLE_SECONDS = env.float("DATABASE_HEALTH_CHECK_IDLE_SECONDS", default=1.0)
if DATABASES["default"]["ENGINE"] == POSTGRESQL_ENGINE:
    # Fail fast when the server is unreachable, so /readyz answers within its budget.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 3)
DATABASES.update(replica_databases(env.list("DATABASE_REPLICA_URLS", default=[])))
# DATABASE_URL may name several hosts (libpq's multi-host form, for a failover pair):
#   postgres://shop@db1:5432,db2:5432/shop?target_session_attrs=read-write
# libpq tries them in turn and keeps the one that accepts writes, so after a failover the next
# connection finds the new primary; a request that meets the lost one answers 503 (shop.failover).
DATABASE_UNAVAILABLE_RETRY_AFTER = env.int("DATABASE_UNAVAILABLE_RETRY_AFTER", default=5)
# Writes and, by default, reads go to the primary; selectors opt in to a replica (shop.db_router).
# A replica further behind than DATABASE_REPLICA_MAX_LAG_SECONDS is skipped, and a client that
# wrote reads the primary for DATABASE_REPLICA_PIN_SECONDS (a cookie, and a cache key per user).
DATABASE_ROUTERS = ["shop.db_router.ReplicaRouter"]
DATABASE_REPLICA_MAX_LAG_SECONDS = env.float("DATABASE_REPLICA_MAX_LAG_SECONDS", default=5.0)
DATABASE_REPLICA_PIN_SECONDS = env.int("DATABASE_REPLICA_PIN_SECONDS", default=5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and sessions --------------------------------------------------------------------
# REDIS_URL: django-redis with errors ignored and short socket timeouts, so a Redis outage
# degrades to database reads instead of failing pages. Sessions live in the database behind
# the cache (cached_db), so they survive a Redis outage too. Every Redis path (cache, sessions,
# throttles, the payment breaker's state, replica pinning) uses this cache, whose connections
# time out after REDIS_SOCKET_TIMEOUT / REDIS_CONNECT_TIMEOUT seconds and share a per-process
# circuit breaker (shop.redis_guard): REDIS_BREAKER_FAILURES failures in a row stop all calls
# for REDIS_BREAKER_OPEN_SECONDS; the outage is logged at most once per REDIS_OUTAGE_LOG_SECONDS
# with a count (django-redis's traceback per ignored error is off).
REDIS_URL = env.str("REDIS_URL", default="")
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=0.2)
REDIS_CONNECT_TIMEOUT = env.float("REDIS_CONNECT_TIMEOUT", default=0.2)
REDIS_BREAKER_FAILURES = env.int("REDIS_BREAKER_FAILURES", default=3)
REDIS_BREAKER_OPEN_SECONDS = env.float("REDIS_BREAKER_OPEN_SECONDS", default=5.0)
REDIS_OUTAGE_LOG_SECONDS = env.float("REDIS_OUTAGE_LOG_SECONDS", default=60.0)
DJANGO_REDIS_IGNORE_EXCEPTIONS = True
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = False
if REDIS_URL:
    CACHES = {
        "default": redis_cache_config(
            REDIS_URL,
            key_prefix=env.str("CACHE_KEY_PREFIX", default="shop"),
            socket_timeout=REDIS_SOCKET_TIMEOUT,
            connect_timeout=REDIS_CONNECT_TIMEOUT,
        )
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "shop"}}
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# --- Celery --------------------------------------------------------------------------------
# CELERY_BROKER_URL present: real workers (RabbitMQ preferred). Absent: tasks run eagerly
# in-process, as a worker would run them: a task's automatic retries happen at once, and a task
# that fails for good is recorded as a dead letter (staff retry it from admin) instead of
# breaking the page that triggered it. The test suite makes eager errors propagate.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# A publish to a broker that is down fails at once instead of retrying for seconds inside the
# request: what must arrive goes through the outbox, whose relay sends it again (workers keep
# their own reconnect loop, broker_connection_retry).
CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 0}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = celery_queues()
# Task names are "<app>.<action>"; routing is by name so a worker group serves a queue.
# Money never waits behind e-mails: authorization, capture and void have the payments queue, and
# the handling of payment results a queue of its own that the same workers consume beside it, so
# an order follows its authorization at once instead of behind every authorization queued after
# it (docs/pipeline.md sizes the worker groups).
CELERY_TASK_ROUTES = {
    "orders.allocate_order": {"queue": "inventory"},  # the order worker's stock transaction
    "inventory.*": {"queue": "inventory"},
    "payments.*": {"queue": "payments"},
    "orders.apply_payment_result": {"queue": "payment_results"},
    "*.send_*email*": {"queue": "email"},
    "*thumbnail*": {"queue": "images"},
}
CELERY_BEAT_SCHEDULE = {
    "purge-idempotency-keys": {"task": "shop.purge_idempotency_keys", "schedule": 60 * 60},
    "requeue-pending-thumbnails": {"task": "catalog.requeue_pending_thumbnails", "schedule": 10 * 60},
    # Direct uploads never completed within CATALOG_UPLOAD_ABANDONED_HOURS: their files and rows go.
    "sweep-abandoned-uploads": {"task": "catalog.sweep_abandoned_uploads", "schedule": 60 * 60},
    # Admin CSV imports still "running" with no progress for CATALOG_IMPORT_STALE_MINUTES are failed.
    "sweep-stale-import-jobs": {"task": "catalog.sweep_stale_import_jobs", "schedule": 5 * 60},
    "relay-outbox": {"task": "shop.relay_outbox", "schedule": 5},
    # Sent outbox messages are kept OUTBOX_RETENTION_DAYS for inquiries, then deleted in batches.
    "purge-outbox": {"task": "shop.purge_outbox", "schedule": 60 * 60},
    # Orders whose payment failed and was not completed within PAYMENTS_WINDOW_HOURS are cancelled.
    "expire-unpaid-orders": {"task": "orders.expire_unpaid_orders", "schedule": 5 * 60},
    # Orders that waited too long in placed or allocated (and unsent e-mails) are driven again.
    "redrive-stuck-orders": {"task": "orders.redrive_stuck_orders", "schedule": 60},
    # Activity counted in Redis goes to the activity tables; the ranking follows it hourly, and
    # runs "customers also bought" (orders, through catalog.ranking_steps) after its scores.
    "flush-activity": {"task": "catalog.flush_activity", "schedule": env.int("ACTIVITY_FLUSH_SECONDS", default=60)},
    "recompute-popularity": {
        "task": "catalog.recompute_popularity", "schedule": env.int("POPULARITY_RECOMPUTE_SECONDS", default=60 * 60),
    },
    # Every morning the Fulfilment group gets the products at or below their low-stock threshold
    # (none when nothing is low; a row per day makes a second run send nothing).
    "low-stock-digest": {"task": "catalog.send_low_stock_digest_email", "schedule": crontab(hour=6, minute=0)},
}
CELERY_TIMEZONE = "UTC"
OUTBOX_RETENTION_DAYS = env.int("OUTBOX_RETENTION_DAYS", default=7)

# --- API platform (DRF) --------------------------------------------------------------------
# JWT for apps, the session (with CSRF) for the browser; one error shape; throttles on the
# cache with rates from here (THROTTLE_RATE_* override them); OpenAPI 3 at /api/schema/.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["shop.api.parsers.BoundedJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "shop.api.pagination.PageNumberWithSize",
    "DEFAULT_THROTTLE_CLASSES": [
        "shop.api.throttling.UserRateThrottle",
        "shop.api.throttling.ScopedRateThrottle",
    ],
    "EXCEPTION_HANDLER": "shop.api.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "shop.api.schema.ShopAutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Throttles identify anonymous clients by address. 0 trusts only REMOTE_ADDR; behind N trusted
    # proxies set NUM_PROXIES=N so X-Forwarded-For is read from the right, never as the client wrote it.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}
API_THROTTLE_RATES = {
    "user": env.str("THROTTLE_RATE_USER", default="100/minute"),  # signed in: per user; anonymous: per IP
    "anon": env.str("THROTTLE_RATE_ANON", default="60/minute"),
    "login": env.str("THROTTLE_RATE_LOGIN", default="10/minute"),
    "password_reset": env.str("THROTTLE_RATE_PASSWORD_RESET", default="5/hour"),
    "email_verification": env.str("THROTTLE_RATE_EMAIL_VERIFICATION", default="5/hour"),  # links e-mailed
    "signup": env.str("THROTTLE_RATE_SIGNUP", default="20/hour"),
    "stock_feed": env.str("THROTTLE_RATE_STOCK_FEED", default="120/minute"),  # per API key
    "catalog_write": env.str("THROTTLE_RATE_CATALOG_WRITE", default="300/minute"),  # per API key or staff user
    "fulfilment": env.str("THROTTLE_RATE_FULFILMENT", default="600/minute"),  # per API key (warehouse systems)
    "order_lookup": env.str("THROTTLE_RATE_ORDER_LOOKUP", default="10/minute"),  # find an order by number + e-mail
    "stock_alerts": env.str("THROTTLE_RATE_STOCK_ALERTS", default="20/hour"),  # subscriptions: a guest's is e-mailed
}
# Request bodies under /api/: above API_MAX_BODY_BYTES a 413 in the error shape; JSON nested
# deeper than API_MAX_JSON_DEPTH a 400 (no endpoint takes more than a few levels).
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=32)
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=30)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,  # the token view sends user_logged_in, which updates it
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default="") or SECRET_KEY,
    # Every token carries a digest of the password hash, checked on each request against the user
    # row the authentication loads anyway: a password change or reset (any door, admin included)
    # or an account deletion revokes outstanding access tokens at once, not after 15 minutes.
    "CHECK_REVOKE_TOKEN": True,
    "AUTH_HEADER_TYPES": ("Bearer",),
}
SPECTACULAR_SETTINGS = {
    "TITLE": f"{SHOP_NAME} API",
    "DESCRIPTION": "The shop's REST API for mobile apps and machine clients. Every error has the shape "
    '`{"error": {"code", "message", "fields"}}`.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name for the order states wherever they appear (state, from_state, to_state).
    "ENUM_NAME_OVERRIDES": {"OrderStateEnum": "orders.states.OrderState"},
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Orders: delivery and tax -------------------------------------------------------------
# Flat-rate delivery options (code -> label, price in the shop currency) and one tax rate;
# prices are shown tax-inclusive unless ORDERS_PRICES_INCLUDE_TAX is off.
ORDERS_DELIVERY_OPTIONS = {
    "standard": ("Standard delivery (3-5 working days)", env.str("ORDERS_STANDARD_DELIVERY_PRICE", default="4.95")),
    "express": ("Express delivery (next working day)", env.str("ORDERS_EXPRESS_DELIVERY_PRICE", default="9.95")),
}
ORDERS_TAX_RATE = env.str("ORDERS_TAX_RATE", default="0.19")
ORDERS_PRICES_INCLUDE_TAX = env.bool("ORDERS_PRICES_INCLUDE_TAX", default=True)
# Allocation decides up to this many waiting orders per transaction (docs/pipeline.md).
ORDERS_ALLOCATION_BATCH = env.int("ORDERS_ALLOCATION_BATCH", default=500)
# An order still placed or allocated (payment pending) this long after its last change is driven
# again by the beat sweep (orders.redrive_stuck_orders), through the same idempotent services.
ORDERS_REDRIVE_AFTER_SECONDS = env.int("ORDERS_REDRIVE_AFTER_SECONDS", default=120)
# Carriers that report deliveries by signed webhook (POST /api/v1/fulfilment/carriers/<carrier>/events):
# "dhl=<secret>,ups=<secret>". A carrier without a secret here is unknown (404): none by default.
# The stuck-order sweep sends an e-mail whose claim expired unsent again at most this many times.
ORDERS_EMAIL_MAX_REDRIVES = env.int("ORDERS_EMAIL_MAX_REDRIVES", default=3)
ORDERS_CARRIER_WEBHOOK_SECRETS = env.dict("ORDERS_CARRIER_WEBHOOK_SECRETS", default={})
# A delivered order's units may be asked back within this many days of its delivery.
ORDERS_RETURN_WINDOW_DAYS = env.int("ORDERS_RETURN_WINDOW_DAYS", default=30)

# --- Stock alerts -------------------------------------------------------------------------
# Staff hear of a product at or below its own threshold (StockItem.low_stock_threshold) or, when it
# has none, this default: the dashboard's "Running out" and the daily digest to the Fulfilment group.
INVENTORY_LOW_STOCK_THRESHOLD = env.int("INVENTORY_LOW_STOCK_THRESHOLD", default=5)
# A guest's back-in-stock subscription is confirmed by a link valid this long; the unsubscribe
# link in the e-mails is valid for a year.
CATALOG_STOCK_ALERT_CONFIRM_MAX_AGE = env.int("CATALOG_STOCK_ALERT_CONFIRM_MAX_AGE", default=7 * 24 * 3600)
# --- "Customers also bought" (docs/catalog.md#customers-also-bought) -------------------------
# Orders of the last RECOMMENDATIONS_WINDOW_DAYS that were paid for count; a pair needs at least
# RECOMMENDATIONS_MIN_SUPPORT orders together; each product keeps its RECOMMENDATIONS_PER_PRODUCT best.
RECOMMENDATIONS_WINDOW_DAYS = env.int("RECOMMENDATIONS_WINDOW_DAYS", default=90)
RECOMMENDATIONS_MIN_SUPPORT = env.int("RECOMMENDATIONS_MIN_SUPPORT", default=2)
RECOMMENDATIONS_PER_PRODUCT = env.int("RECOMMENDATIONS_PER_PRODUCT", default=20)

# --- Outbox --------------------------------------------------------------------------------
# topic -> the Celery task (by name) that consumes it; the checkout and payment issues add theirs.
OUTBOX_ROUTES: dict[str, str] = {
    "order.placed": "orders.allocate_order",  # allocate a new order's stock (inventory queue)
    "order.email": "orders.send_order_email",  # one order e-mail (email queue)
    "payment.authorize": "payments.authorize_payment",  # authorize an allocated order off-session
    "payment.capture": "payments.capture_payment",  # take the money of a shipped order
    "payment.void": "payments.void_payment",  # release the authorization of a cancelled order
    "payment.result": "orders.apply_payment_result",  # what a payment became: the order follows
    "payment.redrive": "payments.redrive_payment",  # the sweep: look the payment up, finish or report it
    "stock.back_in_stock": "catalog.notify_back_in_stock",  # a product's stock went from 0 to more
    "stock_alert.email": "catalog.send_stock_alert_email",  # one stock alert e-mail (email queue)
}

# --- Search --------------------------------------------------------------------------------
ELASTICSEARCH_URL = env.str("ELASTICSEARCH_URL", default="")
SEARCH_BACKEND = "elasticsearch" if ELASTICSEARCH_URL else "database"
# ELASTICSEARCH_INDEX: the alias searches and index writes use (`search_reindex` swaps it).
ELASTICSEARCH_INDEX = env.str("ELASTICSEARCH_INDEX", default="shop-products")
# When Elasticsearch fails SEARCH_BREAKER_FAILURES times within SEARCH_BREAKER_WINDOW_SECONDS,
# searches answer from PostgreSQL (marked degraded) for SEARCH_BREAKER_OPEN_SECONDS, then one
# trial search decides. ELASTICSEARCH_TIMEOUT bounds each call (a slow engine counts as down).
SEARCH_BREAKER_FAILURES = env.int("SEARCH_BREAKER_FAILURES", default=3)
SEARCH_BREAKER_WINDOW_SECONDS = env.int("SEARCH_BREAKER_WINDOW_SECONDS", default=30)
SEARCH_BREAKER_OPEN_SECONDS = env.int("SEARCH_BREAKER_OPEN_SECONDS", default=15)
if ELASTICSEARCH_URL:
    INSTALLED_APPS.append("django_elasticsearch_dsl")
    ELASTICSEARCH_DSL = {"default": {"hosts": ELASTICSEARCH_URL,
                                     "request_timeout": env.float("ELASTICSEARCH_TIMEOUT", default=2.0)}}
    ELASTICSEARCH_DSL_AUTOSYNC = False  # catalog's own task indexes after commit
    ELASTICSEARCH_DSL_AUTO_REFRESH = False

# --- Media and static files ----------------------------------------------------------------
# AWS_STORAGE_BUCKET_NAME present: media on S3 (django-storages), served from the CDN host
# AWS_S3_CUSTOM_DOMAIN when given; AWS_S3_ENDPOINT_URL points at MinIO or moto.
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
if AWS_STORAGE_BUCKET_NAME:
    AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default="") or None
    AWS_S3_CUSTOM_DOMAIN = env.str("AWS_S3_CUSTOM_DOMAIN", default="") or None
    AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default="") or None
    AWS_S3_URL_PROTOCOL = env.str("AWS_S3_URL_PROTOCOL", default="https:")  # "http:" for a local MinIO
    AWS_QUERYSTRING_AUTH = False
    AWS_DEFAULT_ACL = None
    AWS_S3_FILE_OVERWRITE = False
    STORAGES["default"] = {"BACKEND": "storages.backends.s3.S3Storage"}

# Direct uploads of product pictures (POST /api/v1/products/{id}/images/uploads): the size S3's
# policy and the complete call allow, how long the presigned POST lives, when an upload never
# completed is swept.
CATALOG_UPLOAD_MAX_BYTES = env.int("CATALOG_UPLOAD_MAX_BYTES", default=20 * 1024 * 1024)
CATALOG_UPLOAD_EXPIRY_SECONDS = env.int("CATALOG_UPLOAD_EXPIRY_SECONDS", default=15 * 60)
CATALOG_UPLOAD_ABANDONED_HOURS = env.int("CATALOG_UPLOAD_ABANDONED_HOURS", default=24)
# "Recently viewed" (docs/catalog.md): how many products a visitor's list keeps, and how many days
# it lives after their last view (a list begun by a visitor without a guest cookie lives a day
# until they come back with it, so cookieless crawlers leave nothing behind for long).
CATALOG_RECENTLY_VIEWED = env.int("CATALOG_RECENTLY_VIEWED", default=20)
CATALOG_RECENTLY_VIEWED_DAYS = env.int("CATALOG_RECENTLY_VIEWED_DAYS", default=90)

# --- Popularity from what customers do (issue 13; docs/popularity.md) ------------------------
# Activity (views, cart adds, purchases, search clicks) is counted in Redis and flushed to the
# activity tables every ACTIVITY_FLUSH_SECONDS; a visitor's repeated views of one product within
# ACTIVITY_DEDUPE_SECONDS count once. The ranking job (hourly) scores the last POPULARITY_WINDOW_DAYS
# with a half-life of POPULARITY_HALF_LIFE_DAYS and these weights per event, rewrites only scores
# that moved by more than POPULARITY_CHANGE_THRESHOLD (relative), and warms the cache for the top
# CACHE_WARM_TOP products. Activity partitions older than ACTIVITY_RETENTION_DAYS are dropped.
ACTIVITY_FLUSH_SECONDS = env.int("ACTIVITY_FLUSH_SECONDS", default=60)
ACTIVITY_DEDUPE_SECONDS = env.int("ACTIVITY_DEDUPE_SECONDS", default=10 * 60)
ACTIVITY_RETENTION_DAYS = env.int("ACTIVITY_RETENTION_DAYS", default=60)
POPULARITY_RECOMPUTE_SECONDS = env.int("POPULARITY_RECOMPUTE_SECONDS", default=60 * 60)
POPULARITY_WINDOW_DAYS = env.int("POPULARITY_WINDOW_DAYS", default=30)
POPULARITY_HALF_LIFE_DAYS = env.float("POPULARITY_HALF_LIFE_DAYS", default=7.0)
POPULARITY_WEIGHTS = {
    "views": env.float("POPULARITY_WEIGHT_VIEW", default=1.0),
    "carts": env.float("POPULARITY_WEIGHT_CART", default=3.0),
    "purchases": env.float("POPULARITY_WEIGHT_PURCHASE", default=10.0),
    "clicks": env.float("POPULARITY_WEIGHT_SEARCH_CLICK", default=2.0),
}
POPULARITY_CHANGE_THRESHOLD = env.float("POPULARITY_CHANGE_THRESHOLD", default=0.01)
POPULARITY_RESCALE_FACTOR = env.float("POPULARITY_RESCALE_FACTOR", default=1024.0)
CACHE_WARM_TOP = env.int("CACHE_WARM_TOP", default=1000)
# User agents that are not customers: their requests are never counted.
ACTIVITY_BOT_PATTERN = env.str(
    "ACTIVITY_BOT_PATTERN",
    default=r"bot|crawl|spider|slurp|facebookexternalhit|bingpreview|embedly|preview|monitor|pingdom|uptime",
)
# The origins whose pages may POST pictures straight to the bucket (the admin's uploader): the
# CORS rule `manage.py configure_media_bucket` puts on it. Default: the shop's own origin.
CATALOG_UPLOAD_CORS_ORIGINS = env.list("CATALOG_UPLOAD_CORS_ORIGINS", default=[]) or [
    "{0.scheme}://{0.netloc}".format(urlsplit(SHOP_BASE_URL))
]
# An admin CSV import whose worker showed no progress (a finished batch) for this long is marked
# failed by the sweep-stale-import-jobs beat task (its worker died; the batches done are kept).
CATALOG_IMPORT_STALE_MINUTES = env.int("CATALOG_IMPORT_STALE_MINUTES", default=30)

# --- E-mail --------------------------------------------------------------------------------
# EMAIL_URL present: real SMTP (smtp+tls://user:pass@host:587, or smtps:// for implicit TLS), or
# one file per message in a folder (filemail:////abs/path: four slashes; the browser journey reads
# its verification links there). Absent: the console.
EMAIL_URL = env.str("EMAIL_URL", default="")
if EMAIL_URL:
    _email = env.email_url("EMAIL_URL")
    EMAIL_BACKEND = _email["EMAIL_BACKEND"]
    EMAIL_HOST = _email.get("EMAIL_HOST", "")
    EMAIL_PORT = _email.get("EMAIL_PORT", 25)
    EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
    EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
    EMAIL_TIMEOUT = 10
    if _email.get("EMAIL_FILE_PATH"):
        EMAIL_FILE_PATH = _email["EMAIL_FILE_PATH"]
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
# An e-mail claimed and not marked sent for this long (its worker died, or the database went away
# between the send and the mark) is taken again by a retry or the stuck-order sweep: at least once.
EMAIL_CLAIM_TIMEOUT_SECONDS = env.int("EMAIL_CLAIM_TIMEOUT_SECONDS", default=300)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="shop@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Payments ------------------------------------------------------------------------------
PAYMENT_GATEWAY = env.str("PAYMENT_GATEWAY", default="test")
if PAYMENT_GATEWAY not in {"test", "stripe"}:
    raise ImproperlyConfigured(f"PAYMENT_GATEWAY must be 'test' or 'stripe', not {PAYMENT_GATEWAY!r}")
STRIPE_API_KEY = env.str("STRIPE_API_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
# The test gateway signs its webhooks with this secret (like Stripe's whsec_...). The default is
# public (it is in the docs), so with DEBUG off the test gateway needs a secret of its own:
# anyone holding the default could mark payments as succeeded (docs/security.md).
PAYMENTS_TEST_WEBHOOK_SECRET_DEFAULT = "test-webhook-secret"  # noqa: S105 (public on purpose: refused in production)
PAYMENTS_TEST_WEBHOOK_SECRET = env.str("PAYMENTS_TEST_WEBHOOK_SECRET", default="")
if not PAYMENTS_TEST_WEBHOOK_SECRET and DEBUG:
    PAYMENTS_TEST_WEBHOOK_SECRET = PAYMENTS_TEST_WEBHOOK_SECRET_DEFAULT
if PAYMENT_GATEWAY == "test" and not DEBUG and PAYMENTS_TEST_WEBHOOK_SECRET in ("", PAYMENTS_TEST_WEBHOOK_SECRET_DEFAULT):
    raise ImproperlyConfigured(
        "With DEBUG off, PAYMENT_GATEWAY=test needs PAYMENTS_TEST_WEBHOOK_SECRET (a secret of your own, "
        "not the documented default)"
    )
# How long a customer has to complete or replace a failed payment before the order is cancelled
# and its stock released (hours).
PAYMENTS_WINDOW_HOURS = env.int("PAYMENTS_WINDOW_HOURS", default=24)
# Circuit breaker per gateway, shared by every worker through the cache (Redis): this many
# transient failures within the window open it; open, nobody calls the gateway for OPEN_SECONDS,
# then one trial call decides whether it closes again.
PAYMENTS_BREAKER_FAILURES = env.int("PAYMENTS_BREAKER_FAILURES", default=5)
PAYMENTS_BREAKER_WINDOW_SECONDS = env.int("PAYMENTS_BREAKER_WINDOW_SECONDS", default=60)
PAYMENTS_BREAKER_OPEN_SECONDS = env.int("PAYMENTS_BREAKER_OPEN_SECONDS", default=30)
if PAYMENT_GATEWAY == "stripe" and not STRIPE_API_KEY:
    raise ImproperlyConfigured("PAYMENT_GATEWAY=stripe needs STRIPE_API_KEY")
if PAYMENT_GATEWAY == "stripe" and not STRIPE_WEBHOOK_SECRET:
    raise ImproperlyConfigured("PAYMENT_GATEWAY=stripe needs STRIPE_WEBHOOK_SECRET (webhooks are verified with it)")

# --- Passwords and accounts ----------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24
# How long an e-mail verification link works (it also stops working once it has been used).
ACCOUNTS_EMAIL_VERIFICATION_MAX_AGE = env.int("ACCOUNTS_EMAIL_VERIFICATION_MAX_AGE", default=60 * 60 * 24 * 3)

# --- Internationalisation ------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Security (production) -----------------------------------------------------------------
# Behind a TLS-terminating proxy; `manage.py check --deploy --fail-level WARNING` passes with
# DEBUG off.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CSRF_FAILURE_VIEW = "shop.views.csrf_failure"  # JSON under /api/, Django's page elsewhere
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"

# --- Observability -------------------------------------------------------------------------
# GET /metrics (Prometheus): with METRICS_TOKEN set it answers only "Authorization: Bearer
# <token>"; without one only loopback clients, and only with DEBUG on (the embedded default).
# PROMETHEUS_MULTIPROC_DIR (read by prometheus_client itself) adds up gunicorn's and Celery's
# processes; gunicorn.conf.py empties it at start. CELERY_METRICS_PORT: a worker serves its own
# /metrics. OTEL_EXPORTER_OTLP_ENDPOINT switches traces on (shop.observability.tracing).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
if env.str("PROMETHEUS_MULTIPROC_DIR", default=""):
    # Every process (manage.py commands too) writes its metric files there: it must exist.
    Path(env.str("PROMETHEUS_MULTIPROC_DIR")).mkdir(parents=True, exist_ok=True)

# --- Logging -------------------------------------------------------------------------------
# LOG_FORMAT=json: one JSON object per line (the Docker image's default); plain text otherwise.
# Every line carries the request id, user id and order number of what it is about.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env.str("LOG_LEVEL", default="INFO"))
