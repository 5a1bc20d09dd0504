"""What staff screens of several apps share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from shop.money import format_minor_units, format_money


class ReadOnlyAdminMixin:
    """A record nobody adds, edits or deletes in admin (history, snapshots, gateway records)."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def money_column(field: str, description: str, *, currency: Callable[[Any], str], minor_units: bool = False,
                 ordering: str | None = None) -> Callable:  # fmt: skip
    """An admin column (or read-only field) showing `field` as money in the row's currency:
    "1,544.87 EUR", from a Decimal amount or, with minor_units, a gateway's integer amount."""
    show = format_minor_units if minor_units else format_money

    @admin.display(description=description, ordering=ordering)
    def column(model_admin, obj) -> str:
        return show(getattr(obj, field), currency(obj))

    return column
