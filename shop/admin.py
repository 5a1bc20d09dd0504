from django.contrib import admin
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from shop.models import ClientAPIKey, IdempotencyKey

# The library registers its plain, unscoped key; the shop only issues scoped keys.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


@admin.register(ClientAPIKey)
class ClientAPIKeyAdmin(APIKeyModelAdmin):
    """Staff create a key for a seller or warehouse system; the key is shown once, on creation."""

    list_display = [*APIKeyModelAdmin.list_display, "scopes"]
    fields = ["name", "prefix", "scopes", "expiry_date", "revoked"]


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    list_display = ["scope", "key", "result_ref", "created_at"]
    search_fields = ["scope", "key"]
    readonly_fields = ["scope", "key", "fingerprint", "result_ref", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
