from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.text import Truncator
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from shop import deadletters
from shop.admin_mixins import ReadOnlyAdminMixin
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
class DeadLetterAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Tasks that failed for good, read-only; "retry" sends them again once the cause is fixed.

    Nobody adds, edits or deletes one (the mixin): the record of what failed stays, and a retried
    letter shows when it was retried. Retrying needs shop.retry_deadletter. A task that cannot be sent (broker down), or that runs
    here in eager mode and fails again, is reported as a warning naming it; its new failure is a
    new dead letter.
    """

    list_display = ["task_name", "short_error", "failed_at", "retried_at"]
    list_filter = ["task_name", ("retried_at", admin.EmptyFieldListFilter), "failed_at"]
    search_fields = ["task_name", "=task_id", "error"]
    fields = [
        "task_name", "task_id", "error", "failed_at", "retried_at", "retried_task_id", "args", "kwargs",
        "traceback_text",
    ]  # fmt: skip
    readonly_fields = fields
    actions = ["retry"]

    @admin.action(description="Retry the selected tasks", permissions=["retry"])
    def retry(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        sent = []
        for letter_id, task_name in queryset.order_by("pk").values_list("pk", "task_name"):
            try:
                deadletters.retry(dead_letter_id=letter_id)
            except deadletters.RetryFailed as exc:
                self.message_user(request, f"#{letter_id} {exc.message}", messages.WARNING)
            else:
                sent.append(f"#{letter_id} {task_name}")
        if sent:
            self.message_user(request, f"Sent again: {', '.join(sent)}.", messages.SUCCESS)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("shop.retry_deadletter")

    @admin.display(description="error", ordering="error")
    def short_error(self, letter: DeadLetter) -> str:
        return Truncator(letter.error).chars(120)

    @admin.display(description="traceback")
    def traceback_text(self, letter: DeadLetter) -> str:
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', letter.traceback) if letter.traceback else "-"
