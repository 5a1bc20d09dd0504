from django.apps import AppConfig


class CartConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "cart"

    def ready(self) -> None:
        from cart import receivers  # noqa: F401  (connects the receivers)
