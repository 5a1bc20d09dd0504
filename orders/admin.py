"""Staff screens for orders: read-only everywhere; every change is an action that calls orders.services.

An order's state, lines and history are written only by the services (orders/states.py is the
machine), so the order, its lines and its events are read-only for everyone, superusers
included. Staff act through the bulk actions, each behind its own permission:

- "Cancel" (orders.cancel_order): cancel_order, which gives allocated stock back;
- "Mark shipped" (orders.mark_shipped): mark_shipped, for authorized orders;
- "Resend an e-mail" (orders.resend_order_email): resend_email, of the kind chosen beside the
  action, or by default the e-mail the customer was sent last.

An action runs outside any transaction (the services open durable ones), one service call per
order; a refusal (a DomainError) becomes a warning naming the order, and the other orders go on.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import ValidationError
from django.db.models import F, QuerySet
from django.http import HttpRequest

from orders import selectors, services
from orders.exceptions import EmailNeverQueued
from orders.models import EmailKind, EmailLog, Order, OrderEvent, OrderLine
from payments.admin import PaymentInline
from shop.admin_mixins import ReadOnlyAdminMixin
from shop.exceptions import DomainError

CANCEL_PERMISSION = "orders.cancel_order"
REFUND_PERMISSION = "orders.refund_order"
SHIP_PERMISSION = "orders.mark_shipped"
RESEND_PERMISSION = "orders.resend_order_email"
STAFF_CANCEL_REASON = "Cancelled by staff"


class CustomerKindFilter(admin.SimpleListFilter):
    title = "customer"
    parameter_name = "customer_kind"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("guest", "Guest"), ("account", "Has an account")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Order]) -> QuerySet[Order]:
        if self.value() == "guest":
            return queryset.filter(customer__isnull=True)
        if self.value() == "account":
            return queryset.filter(customer__isnull=False)
        return queryset


class OrderActionForm(ActionForm):
    email_kind = forms.ChoiceField(
        choices=[("", "(e-mail for “resend”: the last one sent)"), *EmailKind.choices],
        required=False,
        label="E-mail",
    )
    refund_amount = forms.DecimalField(
        required=False, min_value=Decimal("0.01"), max_digits=12, decimal_places=2, label="Refund amount",
        help_text="For “partial refund”: how much to give back (nothing goes back to stock).",
    )  # fmt: skip


class OrderLineInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = OrderLine
    fields = ["product_id", "title", "sku", "unit_price", "quantity", "subtotal"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False


class OrderEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = OrderEvent
    fields = ["created_at", "kind", "from_state", "to_state", "message", "actor", "data"]
    readonly_fields = fields
    ordering = ["created_at", "id"]
    extra = 0
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrderEvent]:
        return super().get_queryset(request).select_related("actor")


@admin.register(Order)
class OrderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    # Read-only (the mixin): orders are placed by checkout, change state only through the actions
    # (the services), and are accounting history, never deleted.
    list_display = ["number", "email", "customer", "state", "total_amount", "created_at"]
    list_select_related = ["customer"]
    list_filter = ["state", CustomerKindFilter, "created_at"]
    date_hierarchy = "created_at"
    search_fields = ["number", "email", "customer__email"]
    show_full_result_count = False  # counting every order on every list page is slow
    fieldsets = [
        (None, {"fields": ["number", "state", "rejection_reason", "customer", "email", "created_at", "updated_at"]}),
        ("Delivery", {"fields": ["full_name", "line1", "line2", "postal_code", "city", "country", "phone",
                                 "delivery_label"]}),
        ("Totals", {"fields": ["currency", "subtotal", "shipping", "tax", "tax_rate", "prices_include_tax", "total"]}),
        ("Payment", {"fields": ["payment_method"]}),
    ]  # fmt: skip
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]
    inlines = [OrderLineInline, OrderEventInline, PaymentInline]
    action_form = OrderActionForm
    actions = ["cancel_orders", "mark_orders_shipped", "resend_last_email", "refund_in_full", "refund_partly"]

    # --- Who may do what: nobody edits an order; each action has its own permission ----------------

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(CANCEL_PERMISSION)

    def has_ship_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(SHIP_PERMISSION)

    def has_resend_email_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RESEND_PERMISSION)

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REFUND_PERMISSION)

    # --- Columns -----------------------------------------------------------------------------------

    @admin.display(description="total", ordering="total")
    def total_amount(self, order: Order) -> str:
        return f"{order.total} {order.currency}"

    # --- Actions: one service call per order, refusals reported per order --------------------------

    @admin.action(description="Cancel selected orders (stock goes back)", permissions=["cancel"])
    def cancel_orders(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        def cancel(order_id: int) -> None:
            services.cancel_order(order_id=order_id, actor=request.user, reason=STAFF_CANCEL_REASON)

        self._for_each(request, queryset, cancel, done="Cancelled")

    @admin.action(description="Refund selected orders in full (all units back to stock)", permissions=["refund"])
    def refund_in_full(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        def refund(order_id: int) -> None:
            returnable = {p: n for p, n in selectors.returnable_units(order_id=order_id).items() if n > 0}
            services.refund_order(order_id=order_id, amount=None, reference=f"admin-{uuid.uuid4().hex}",
                                  restock=returnable, reason="Refunded in full by staff", actor=request.user)  # fmt: skip

        self._for_each(request, queryset, refund, done="Refunded")

    @admin.action(description="Refund the amount given beside the action (partial refund)", permissions=["refund"])
    def refund_partly(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        try:
            amount = OrderActionForm.base_fields["refund_amount"].clean(request.POST.get("refund_amount"))
        except ValidationError:
            amount = None
        if amount is None:
            self.message_user(request, "Give the refund amount beside the action (e.g. 10.00).", messages.ERROR)
            return

        def refund(order_id: int) -> None:
            services.refund_order(order_id=order_id, amount=amount, reference=f"admin-{uuid.uuid4().hex}",
                                  reason=f"Partial refund of {amount} by staff", actor=request.user)  # fmt: skip

        self._for_each(request, queryset, refund, done=f"Refunded {amount} of")

    @admin.action(description="Mark selected orders shipped", permissions=["ship"])
    def mark_orders_shipped(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        self._for_each(
            request,
            queryset,
            lambda order_id: services.mark_shipped(order_id=order_id, actor=request.user),
            done="Marked shipped",
        )

    @admin.action(
        description="Resend the e-mail chosen beside the action (by default the last one sent)",
        permissions=["resend_email"],
    )
    def resend_last_email(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        chosen = request.POST.get("email_kind", "")
        if chosen and chosen not in EmailKind.values:
            self.message_user(request, "Choose an e-mail from the list beside the action.", messages.ERROR)
            return

        def resend(order_id: int) -> None:
            kind = chosen or _last_email_kind(order_id)
            if kind is None:
                raise EmailNeverQueued(kind="any")
            services.resend_email(order_id=order_id, kind=kind, actor=request.user)

        self._for_each(request, queryset, resend, done="E-mail sent again")

    def _for_each(self, request: HttpRequest, queryset: QuerySet[Order], change, *, done: str) -> None:
        """Run `change(order_id)` for each selected order; a refusal is a warning naming the order."""
        succeeded = []
        for order_id, number in queryset.order_by("pk").values_list("pk", "number"):
            try:
                change(order_id)
            except DomainError as exc:
                self.message_user(request, f"{number}: {exc.message}", messages.WARNING)
            else:
                succeeded.append(number)
        if succeeded:
            self.message_user(request, f"{done}: {', '.join(succeeded)}.", messages.SUCCESS)


def _last_email_kind(order_id: int) -> str | None:
    """The kind of the e-mail this order was sent last; else the last one queued (never got out)."""
    log = EmailLog.objects.filter(order_id=order_id).order_by(F("sent_at").desc(nulls_last=True), "-id").first()
    return log.kind if log else None
