"""Reactions of the catalog to other apps' signals."""

from __future__ import annotations

from django.dispatch import receiver

from accounts.signals import customer_signed_in
from catalog import recently_viewed


@receiver(customer_signed_in, dispatch_uid="catalog.on_customer_signed_in")
def on_customer_signed_in(sender, *, user, guest_token: str | None, **kwargs) -> None:
    """The guest's "Recently viewed" list follows them into the account (browser and API alike)."""
    if guest_token:
        recently_viewed.merge_guest_into_customer(guest_token=guest_token, user_id=user.pk)
