"""Stock per product (one stock location for now) and the ledger of every change to it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class StockItem(models.Model):
    product = models.OneToOneField("catalog.Product", on_delete=models.PROTECT, related_name="stock")
    available = models.IntegerField(default=0)  # the CHECK below, not the field type, guards the floor
    low_stock_threshold = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Staff are told (dashboard, daily digest) when at most this many units are left; "
                  "empty: the shop's default (INVENTORY_LOW_STOCK_THRESHOLD).",
    )  # fmt: skip
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(available__gte=0), name="stock_not_negative")]
        # The low-stock lists read the fewest units first and stop early (dashboard, digest).
        indexes = [models.Index(fields=["available", "product"], name="stock_item_available_idx")]
        permissions = [("adjust_stock", "Can adjust stock levels")]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.available}"


class MovementKind(models.TextChoices):
    SET_LEVEL = "set_level", "Level set"
    RESTOCK = "restock", "Restock"
    FEED = "feed", "Seller feed"
    ADJUSTMENT = "adjustment", "Staff adjustment"
    ALLOCATION = "allocation", "Allocated to an order"
    RELEASE = "release", "Released from an order"


class StockMovement(models.Model):
    """One change of one product's stock, keyed by its cause so a retry never applies twice."""

    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT, related_name="stock_movements")
    kind = models.CharField(max_length=20, choices=MovementKind.choices)
    quantity = models.IntegerField(help_text="The change: positive adds stock, negative takes it.")
    level_after = models.IntegerField()
    cause = models.CharField(max_length=200, help_text="What caused it, unique per kind (feed update id, order ...).")
    reason = models.CharField(max_length=300, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["cause", "kind", "product"], name="stock_movement_once_per_cause"),
            models.CheckConstraint(condition=Q(level_after__gte=0), name="stock_movement_level_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.quantity:+d} for product {self.product_id} ({self.cause})"
