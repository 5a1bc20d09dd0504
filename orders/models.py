"""Orders as far as the foundation needs them: a row that keeps its customer's e-mail.

The checkout issue adds lines, totals, the state machine and the outbox. What is fixed here is
the rule account deletion relies on: an order snapshots the customer's e-mail when it is placed
and refers to the account with PROTECT, so deleting (anonymising) an account never takes an
order with it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Order(models.Model):
    number = models.CharField(max_length=20, unique=True)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    email = models.EmailField(help_text="The customer's e-mail address when the order was placed.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("cancel_order", "Can cancel orders"),
            ("refund_order", "Can refund orders"),
            ("mark_shipped", "Can mark orders shipped"),
        ]

    def __str__(self) -> str:
        return self.number
