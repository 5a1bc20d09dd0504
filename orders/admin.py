from django.contrib import admin

from orders.models import Order


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["number", "email", "customer", "created_at"]
    list_select_related = ["customer"]
    search_fields = ["number", "email"]
    raw_id_fields = ["customer"]
    readonly_fields = ["number", "email", "customer", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False  # orders are placed by checkout, never typed in

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
