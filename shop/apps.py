from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class ShopConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "shop"
    verbose_name = "Shop platform"

    def ready(self) -> None:
        # Import every app's tasks.py now, in web processes too (Celery's own discovery waits for
        # a worker): the outbox finds its consumers by name in the registry, and eager mode (the
        # embedded shop) runs them from it.
        autodiscover_modules("tasks")
        # Observability: request ids into task headers and task metrics (signals), database
        # timings, the scrape-time gauges of shop and of every app's metrics.py, traces when an
        # OTLP endpoint is configured.
        from shop.observability import celery, db, probes, tracing  # noqa: F401  (celery: signal receivers)

        db.install()
        probes.register()
        autodiscover_modules("metrics")
        autodiscover_modules("dashboard")  # the blocks each app adds to the admin's index page
        tracing.configure()
        from shop import csrf_tokens

        csrf_tokens.install()  # a form's CSRF token from one read of the random source (shop/csrf_tokens.py)
