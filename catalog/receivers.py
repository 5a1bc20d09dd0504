"""Reactions of the catalog to other apps' signals."""

from __future__ import annotations

from django.dispatch import receiver

from accounts.signals import customer_signed_in
from catalog import recently_viewed


@receiver(customer_signed_in, dispatch_uid="catalog.on_customer_signed_in")
def on_customer_signed_in(sender, *, user, guest_token: str | None, request=None, **kwargs) -> None:
    """The guest's "Recently viewed" list follows them into the account (browser and API alike):
    the browser's own list (its cookie) and the guest token's."""
    browser = recently_viewed.browser_token(request) if request is not None else None
    for token in dict.fromkeys(t for t in (browser, guest_token) if t):
        recently_viewed.merge_guest_into_customer(guest_token=token, user_id=user.pk)
