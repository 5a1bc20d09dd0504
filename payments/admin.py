"""Payments in admin: read-only records (brand and last four only). Refunds are ordered from the
order (orders admin, "Refund in full"), which decides what goes back to stock."""

from __future__ import annotations

from django.contrib import admin

from payments.models import Payment, Refund, WebhookEvent
from shop.admin_mixins import ReadOnlyAdminMixin


class RefundInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Refund
    extra = 0
    fields = ["reference", "amount", "state", "gateway_reference", "reason", "actor", "created_at"]
    readonly_fields = fields


class PaymentInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Shown on the order's page (orders admin)."""

    model = Payment
    extra = 0
    fields = ["attempt", "state", "amount", "currency", "captured_amount", "refunded_amount", "card_brand",
              "card_last4", "decline_code", "gateway", "gateway_reference", "updated_at"]  # fmt: skip
    readonly_fields = fields


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["reference", "state", "amount", "currency", "captured_amount", "refunded_amount", "card_brand",
                    "card_last4", "gateway", "created_at"]  # fmt: skip
    list_filter = ["state", "gateway", "created_at"]
    search_fields = ["reference", "gateway_reference"]
    readonly_fields = [f.name for f in Payment._meta.fields if f.name != "client_secret"]
    exclude = ["client_secret"]
    inlines = [RefundInline]


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["gateway", "event_id", "type", "gateway_reference", "received_at"]
    list_filter = ["gateway", "type"]
    search_fields = ["event_id", "gateway_reference"]
