"""Payments in admin: read-only records (brand and last four only). Refunds are ordered from the
order (orders admin: its buttons and actions), which decides what goes back to stock.

Amounts are stored in integer minor units (what gateways want); staff read them as money
("1,544.87 EUR", never "154487 EUR").
"""

from __future__ import annotations

from django.contrib import admin

from payments.models import Payment, Refund, WebhookEvent
from shop.admin_mixins import ReadOnlyAdminMixin, money_column


def _currency(payment: Payment) -> str:
    return payment.currency


class MoneyColumnsMixin:
    """Columns that show a payment's minor-unit amounts as money in its currency."""

    amount_money = money_column("amount", "amount", currency=_currency, minor_units=True, ordering="amount")
    captured_money = money_column("captured_amount", "captured", currency=_currency, minor_units=True,
                                  ordering="captured_amount")  # fmt: skip
    refunded_money = money_column("refunded_amount", "refunded", currency=_currency, minor_units=True,
                                  ordering="refunded_amount")  # fmt: skip


class RefundInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Refund
    extra = 0
    fields = ["reference", "amount_money", "state", "gateway_reference", "reason", "actor", "created_at"]
    readonly_fields = fields
    amount_money = money_column("amount", "amount", currency=lambda refund: refund.payment.currency, minor_units=True)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("payment", "actor")


class PaymentInline(MoneyColumnsMixin, ReadOnlyAdminMixin, admin.TabularInline):
    """Shown on the order's page (orders admin)."""

    model = Payment
    extra = 0
    fields = ["attempt", "state", "amount_money", "captured_money", "refunded_money", "card_brand",
              "card_last4", "decline_code", "gateway", "gateway_reference", "updated_at"]  # fmt: skip
    readonly_fields = fields


@admin.register(Payment)
class PaymentAdmin(MoneyColumnsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["reference", "state", "amount_money", "captured_money", "refunded_money", "card_brand",
                    "card_last4", "gateway", "created_at"]  # fmt: skip
    list_filter = ["state", "gateway", "created_at"]
    search_fields = ["reference", "gateway_reference"]
    fields = ["order", "attempt", "reference", "state", "amount_money", "captured_money", "refunded_money", "currency",
              "card_brand", "card_last4", "decline_code", "message", "gateway", "gateway_reference", "payment_method",
              "created_at", "updated_at"]  # fmt: skip
    readonly_fields = fields
    inlines = [RefundInline]


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["gateway", "event_id", "type", "gateway_reference", "received_at"]
    list_filter = ["gateway", "type"]
    search_fields = ["event_id", "gateway_reference"]
