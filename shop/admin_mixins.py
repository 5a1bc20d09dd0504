"""What staff screens of several apps share."""

from __future__ import annotations

from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """A record nobody adds, edits or deletes in admin (history, snapshots, gateway records)."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
