"""Stock per product. The catalog issue adds the ledger and its services; the floor is set now."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class StockItem(models.Model):
    product = models.OneToOneField("catalog.Product", on_delete=models.PROTECT, related_name="stock")
    available = models.IntegerField(default=0)  # the CHECK below, not the field type, guards the floor
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(available__gte=0), name="stock_not_negative")]
        permissions = [("adjust_stock", "Can adjust stock levels")]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.available}"
