from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from orders.services import compute_recommendations


class Command(BaseCommand):
    help = (
        '"Customers also bought": recompute every product\'s recommendations from the orders paid for in '
        "the last RECOMMENDATIONS_WINDOW_DAYS (the catalog's recompute_popularity runs this too). Safe to "
        "run while the shop serves, and again: the same orders write nothing."
    )

    def handle(self, *args, **options) -> None:
        result = compute_recommendations()
        self.stdout.write(
            self.style.SUCCESS(
                f"Recommendations from {settings.RECOMMENDATIONS_WINDOW_DAYS} days of orders: {result.products} "
                f"products, {result.rows} recommendations, {result.changed} products changed."
            )
        )
