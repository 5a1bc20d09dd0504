"""Reactions of the accounts app to Django's signals."""

from __future__ import annotations

import logging

from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.db.models.signals import post_migrate
from django.dispatch import receiver

from accounts.signals import customer_signed_in
from accounts.staff import STAFF_GROUPS
from shop.guest import guest_token_from_request

logger = logging.getLogger(__name__)


@receiver(user_logged_in, dispatch_uid="accounts.on_user_logged_in")
def on_user_logged_in(sender, *, request, user, **kwargs) -> None:
    """Every sign-in door ends here (storefront log-in and sign-up, the API token endpoint)."""
    guest_token = guest_token_from_request(request) if request is not None else None
    transaction.on_commit(
        lambda: customer_signed_in.send(sender=type(user), user=user, guest_token=guest_token, request=request)
    )


@receiver(post_migrate, dispatch_uid="accounts.ensure_staff_groups")
def ensure_staff_groups(sender, *, using: str = "default", apps=None, **kwargs) -> None:
    """Create the staff groups with their permissions; runs after every app's migrations.

    Permissions of an app appear after its own post_migrate, so this assigns what exists each
    time it runs; after the last app every listed permission is in place. Idempotent.
    """
    from django.contrib.auth.models import Group, Permission

    for name, codes in STAFF_GROUPS.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        wanted = [code.split(".", 1) for code in codes]
        found = Permission.objects.using(using).filter(
            content_type__app_label__in={app for app, _ in wanted}, codename__in={code for _, code in wanted}
        )
        found = [p for p in found.select_related("content_type") if [p.content_type.app_label, p.codename] in wanted]
        group.permissions.add(*found)
