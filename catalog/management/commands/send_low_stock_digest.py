"""manage.py send_low_stock_digest: today's low-stock e-mail to the Fulfilment group, now (the beat
task's work; once per day whoever runs it)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from catalog.services.stock_alerts import send_low_stock_digest


class Command(BaseCommand):
    help = "E-mail the Fulfilment group the products at or below their low-stock threshold (once per day)."

    def handle(self, *args, **options) -> None:
        if send_low_stock_digest():
            self.stdout.write("Low-stock digest sent.")
        else:
            self.stdout.write("Nothing sent: no product is low, nobody is in the Fulfilment group, or today's was sent.")
