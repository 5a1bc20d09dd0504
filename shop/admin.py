from django.contrib import admin, messages
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from shop import deadletters
from shop.models import ClientAPIKey, DeadLetter, IdempotencyKey

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


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    """Tasks that failed for good; "retry" sends them again once the cause is fixed."""

    list_display = ["task_name", "error", "failed_at", "retried_at"]
    list_filter = ["task_name", ("retried_at", admin.EmptyFieldListFilter)]
    search_fields = ["task_name", "task_id", "error"]
    readonly_fields = [f.name for f in DeadLetter._meta.fields]
    actions = ["retry"]

    @admin.action(description="Retry the selected tasks", permissions=["retry"])
    def retry(self, request, queryset) -> None:
        for letter in queryset:
            deadletters.retry(dead_letter_id=letter.pk)
        self.message_user(request, f"Sent {queryset.count()} task(s) again.", messages.SUCCESS)

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("shop.retry_deadletter")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
