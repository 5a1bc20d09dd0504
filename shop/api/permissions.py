"""Permission classes of the API platform."""

from __future__ import annotations

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
        raw = self.key_parser.get(request)
        if not raw:
            return False
        try:
            key = ClientAPIKey.objects.get_from_key(raw)  # usable (not revoked, not expired) and hash verified
        except ClientAPIKey.DoesNotExist:
            return False
        if scope not in (key.scopes or []):
            return False
        request.api_key = key
        return True
