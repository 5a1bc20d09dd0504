"""Permission classes of the API platform."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.permissions import BasePermission
from rest_framework_api_key.permissions import KeyParser

from shop.models import ClientAPIKey


class HasScopedAPIKey(BasePermission):
    """A machine client (seller, warehouse) with a valid, unrevoked key holding the view's scope.

    The view names its scope: `api_key_scope = "stock:write"`. The key is sent as
    `Authorization: Api-Key <key>`. The key found is left on `request.api_key`.
    """

    message = "A valid API key with the required scope is needed."
    key_parser = KeyParser()

    def has_permission(self, request, view) -> bool:
        scope = getattr(view, "api_key_scope", None)
        assert scope, f"{view.__class__.__name__} must set api_key_scope"
        key = usable_api_key(request)
        if key is None or scope not in (key.scopes or []):
            return False
        request.api_key = key
        return True


def usable_api_key(request) -> ClientAPIKey | None:
    """The key in `Authorization: Api-Key <key>` when it is usable (not revoked, not expired) and
    its hash verifies; None without one or for any other."""
    raw = HasScopedAPIKey.key_parser.get(request)
    if not raw:
        return None
    try:
        return ClientAPIKey.objects.get_from_key(raw)
    except ClientAPIKey.DoesNotExist:
        return None


class StaffPermissionOrScopedAPIKey(BasePermission):
    """Staff holding the view's Django permission for this method, or a machine client whose API key
    holds the view's scope (`Authorization: Api-Key <key>`), for endpoints both kinds use.

    The view names both: `api_key_scope = "catalog:write"` and `staff_permissions = {"POST":
    "catalog.add_product", ...}`. An API key that is not valid is a 401; a valid one without the
    scope, and a user without the permission (a customer), a 403.
    """

    message = "Staff with the permission for this, or an API key with the required scope, is needed."

    def has_permission(self, request, view) -> bool:
        if HasScopedAPIKey.key_parser.get(request):
            key = usable_api_key(request)
            if key is None:
                raise exceptions.AuthenticationFailed("This API key is not valid.")
            if view.api_key_scope not in (key.scopes or []):
                raise exceptions.PermissionDenied(f"This API key does not hold the {view.api_key_scope} scope.")
            request.api_key = key
            return True
        permission = view.staff_permissions.get(request.method)
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff and permission and user.has_perm(permission))

