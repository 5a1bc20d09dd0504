"""Reactions of orders to other apps' signals; each calls one of our services."""

from __future__ import annotations

from django.contrib import messages
from django.dispatch import receiver

from accounts.signals import customer_signed_in, email_verified
from orders import services


@receiver(customer_signed_in, dispatch_uid="orders.on_customer_signed_in")
def on_customer_signed_in(sender, *, user, request=None, **kwargs) -> None:
    """At sign-in (and sign-up) orders placed as a guest with the account's address are offered:
    a verification link goes to that address, and the page says so."""
    found = services.offer_guest_orders(customer=user)
    if found and request is not None and not request.path.startswith("/api/"):
        them = "them" if found > 1 else "it"
        messages.info(
            request,
            f"We found {found} order{'s' if found > 1 else ''} placed as a guest with this address; "
            f"check your inbox to add {them}.",
            fail_silently=True,
        )


@receiver(email_verified, dispatch_uid="orders.on_email_verified")
def on_email_verified(sender, *, user, email: str, **kwargs) -> None:
    """A verified address brings its guest orders into the account."""
    services.attach_guest_orders(customer=user, email=email)
