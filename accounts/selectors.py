"""Every read of the accounts app that other code needs."""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet

from accounts.exceptions import AddressNotFound
from accounts.models import Address, User


def list_addresses_for_user(*, user: User) -> QuerySet[Address]:
    """The user's saved addresses, default first; checkout offers them in this order."""
    return Address.objects.filter(user=user).order_by("-is_default", "-created_at")


def get_address_for_user(*, user: User, address_id: int) -> Address:
    """One of the user's own addresses. Raises AddressNotFound for anyone else's or a missing one."""
    try:
        return Address.objects.get(user=user, pk=address_id)
    except Address.DoesNotExist as exc:
        raise AddressNotFound() from exc


def get_default_address(*, user: User) -> Address | None:
    """The address checkout pre-selects, or None when the user has saved none."""
    return Address.objects.filter(user=user, is_default=True).first()


def lock_user(*, user_id: int) -> User:
    """Lock the user row for the rest of the open transaction (account-level writes)."""
    assert transaction.get_connection().in_atomic_block, "lock_* needs an open transaction"
    return User.objects.select_for_update(of=("self",)).get(pk=user_id)


def list_group_emails(*, group: str) -> list[str]:
    """The addresses of the active staff members of a staff group (accounts.staff), sorted: who
    gets a group's e-mails (the Fulfilment group's low-stock digest). One query."""
    members = User.objects.filter(groups__name=group, is_active=True, is_staff=True, deleted_at=None)
    return sorted(set(members.exclude(email="").values_list("email", flat=True)))
