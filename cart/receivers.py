"""Reactions of the cart to other apps' signals."""

from __future__ import annotations

from django.dispatch import receiver

from accounts.signals import customer_signed_in
from cart import services


@receiver(customer_signed_in, dispatch_uid="cart.on_customer_signed_in")
def on_customer_signed_in(sender, *, user, guest_token: str | None, **kwargs) -> None:
    """The guest's cart merges into the account's cart at sign-in (browser and API alike)."""
    if guest_token:
        services.merge_guest_cart(user=user, guest_token=guest_token)
