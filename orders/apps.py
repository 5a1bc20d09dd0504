from django.apps import AppConfig


class OrdersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "orders"

    def ready(self) -> None:
        from catalog import ranking_steps
        from orders import receivers  # noqa: F401  (connects the receivers)
        from orders.services import compute_recommendations

        # The catalog's ranking job runs "customers also bought" after each ranking (the catalog
        # may not import orders, so orders registers the step).
        ranking_steps.register("orders.recommendations", compute_recommendations)
