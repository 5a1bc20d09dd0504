"""The cart as an observe-remove set (cart/crdt.py states the rules): adds and tombstones."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

MAX_QUANTITY = 99
MAX_LINES = 100


class CartStatus(models.TextChoices):
    OPEN = "open", "Open"
    MERGED = "merged", "Merged into an account's cart"
    CHECKED_OUT = "checked_out", "Checked out"


class Cart(models.Model):
    """A customer's cart (one per account) or a guest's (keyed by a hash of the guest token)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="carts"
    )
    guest_key = models.CharField(max_length=64, null=True, blank=True, help_text="SHA-256 of the guest token.")
    status = models.CharField(max_length=12, choices=CartStatus.choices, default=CartStatus.OPEN)
    epoch = models.PositiveIntegerField(default=0, help_text="Raised by compaction; older device logs must resync.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False) | Q(guest_key__isnull=False), name="cart_has_an_owner"
            ),
            models.UniqueConstraint(fields=["user"], condition=Q(status="open"), name="one_open_cart_per_user"),
            models.UniqueConstraint(fields=["guest_key"], condition=Q(status="open"), name="one_open_cart_per_guest"),
        ]

    def __str__(self) -> str:
        return f"Cart {self.pk} ({'user ' + str(self.user_id) if self.user_id else 'guest'})"


class CartAdd(models.Model):
    """One add operation: an element of the set, identified by its tag."""

    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="adds")
    tag = models.UUIDField()
    product = models.ForeignKey("catalog.Product", on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveSmallIntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2, help_text="The price when it was added.")
    device = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cart", "tag"], name="cart_add_tag_once"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="cart_add_quantity_positive"),
        ]
        indexes = [models.Index(fields=["cart", "product"], name="cart_add_product_idx")]

    def __str__(self) -> str:
        return f"+{self.quantity} of product {self.product_id} ({self.tag})"


class CartTombstone(models.Model):
    """A removed tag: the add with this tag (seen now or arriving later) is not in the cart."""

    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="tombstones")
    tag = models.UUIDField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cart", "tag"], name="cart_tombstone_tag_once")]

    def __str__(self) -> str:
        return f"removed {self.tag}"
