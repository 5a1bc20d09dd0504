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
