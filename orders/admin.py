"""Staff screens for orders: read-only everywhere; every change goes through orders.services.

An order's state, lines and history are written only by the services (orders/states.py is the
machine), so the order, its lines and its events are read-only for everyone, superusers
included. Staff act on an order from its page (buttons: ship, cancel, refund, resend an e-mail)
or on several from the list (bulk actions), each behind its own permission:

- cancel (orders.cancel_order): cancel_order, which gives allocated stock back and voids the card;
- ship (orders.mark_shipped): mark_shipped, for authorized orders (the payment is captured);
- refund, in full or partly (orders.refund_order): refund_order; in full puts the units back;
- resend an e-mail (orders.resend_order_email): resend_email, of the kind chosen, or by default
  the e-mail the customer was sent last;
- deliver (orders.mark_delivered): mark_delivered, for shipped orders not delivered yet;
- add a note (orders.add_order_note): add_order_note, a staff-only line in the order's history
  (its own form, no confirmation: it moves no money and no stock).

Returns have their own list (filtered by state: the requested ones wait for a decision) and page,
with the same confirmed buttons: approve or refuse with a reason (orders.decide_return), and
"items received" (orders.receive_return), which refunds and restocks them (receive_return).

Every one of them first shows a confirmation page that lists, per order, what will happen (the
money, the units going back to stock, the e-mail), as Django's own delete does; only the
confirmed POST calls the service. A service's refusal (a DomainError) becomes a warning naming
the order, and the other orders go on. Money is shown as money ("1,544.87 EUR"), and the
history as sentences (orders/history.py), never raw JSON.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME, ActionForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from orders import history, selectors, services
from orders.exceptions import EmailNeverQueued
from orders.models import (
    NOTE_MAX_LENGTH,
    EmailKind,
    EmailLog,
    Order,
    OrderEvent,
    OrderLine,
    ReturnLine,
    ReturnRequest,
    ReturnState,
)
from orders.states import SHIPPED_STATES, OrderState, can_transition
from payments import selectors as payments_selectors
from payments.admin import PaymentInline
from shop.admin_mixins import ReadOnlyAdminMixin, money_column
from shop.exceptions import DomainError
from shop.money import format_minor_units, format_money

CANCEL_PERMISSION = "orders.cancel_order"
REFUND_PERMISSION = "orders.refund_order"
SHIP_PERMISSION = "orders.mark_shipped"
RESEND_PERMISSION = "orders.resend_order_email"
STAFF_CANCEL_REASON = "Cancelled by staff"
DELIVER_PERMISSION = "orders.mark_delivered"
NOTE_PERMISSION = "orders.add_order_note"
DECIDE_RETURN_PERMISSION = "orders.decide_return"
RECEIVE_RETURN_PERMISSION = "orders.receive_return"
REFUNDABLE_STATES = SHIPPED_STATES


@dataclass(frozen=True)
class Operation:
    """One thing staff can do to an order: its button, its confirmation, its permission."""

    code: str
    label: str  # the button on the order's page
    title: str  # the confirmation page's question
    confirm: str  # the confirming button
    permission: str
    done: str  # the success message's start: "Cancelled: SO-..."


OPERATIONS = {
    op.code: op
    for op in (
        Operation("ship", "Mark shipped", "Mark shipped and capture the payment?", "Yes, mark shipped",
                  SHIP_PERMISSION, "Marked shipped"),
        Operation("deliver", "Mark delivered", "Mark delivered?", "Yes, mark delivered", DELIVER_PERMISSION,
                  "Marked delivered"),
        Operation("cancel", "Cancel order", "Cancel the order?", "Yes, cancel", CANCEL_PERMISSION, "Cancelled"),
        Operation("refund", "Refund in full", "Refund in full?", "Yes, refund in full", REFUND_PERMISSION, "Refunded"),
        Operation("refund_partly", "Refund part", "Refund part of the payment?", "Yes, refund this amount",
                  REFUND_PERMISSION, "Refunded"),
        Operation("resend_email", "Resend an e-mail", "Send an e-mail again?", "Yes, send it again",
                  RESEND_PERMISSION, "E-mail sent again"),
    )
}  # fmt: skip


def _order_currency(order: Order) -> str:
    return order.currency


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


class OrderNoteForm(forms.Form):
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5, "cols": 80}), max_length=NOTE_MAX_LENGTH, label="Note",
        help_text="Seen by staff only, in the order's history; never by the customer.",
    )  # fmt: skip


class OrderLineInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = OrderLine
    fields = ["product_id", "title", "sku", "unit_price_money", "quantity", "subtotal_money"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    unit_price_money = money_column("unit_price", "unit price", currency=lambda line: line.order.currency)
    subtotal_money = money_column("subtotal", "subtotal", currency=lambda line: line.order.currency)

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrderLine]:
        return super().get_queryset(request).select_related("order")


class OrderEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    """The history as sentences ("Payment authorized → Cancelled by ...: Cancelled by staff.")."""

    model = OrderEvent
    fields = ["created_at", "what_happened"]
    readonly_fields = fields
    ordering = ["created_at", "id"]
    extra = 0
    can_delete = False
    verbose_name = "event"
    verbose_name_plural = "history"
    classes = ["order-history"]  # its CSS hides the rows' raw captions: the sentence says it all

    class Media:
        css = {"all": ["css/admin-order-history.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrderEvent]:
        return super().get_queryset(request).select_related("actor", "order")

    @admin.display(description="what happened")
    def what_happened(self, event: OrderEvent) -> str:
        titles = _titles_of(event.order_id, cache=self.__dict__.setdefault("_titles", {}))
        return history.describe_event(event, currency=event.order.currency, titles=titles)


@admin.register(Order)
class OrderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    # Read-only (the mixin): orders are placed by checkout, change state only through the
    # operations (the services), and are accounting history, never deleted.
    list_display = ["number", "email", "customer", "state", "total_amount", "created_at"]
    list_select_related = ["customer"]
    list_filter = ["state", CustomerKindFilter, "created_at"]
    date_hierarchy = "created_at"
    search_fields = ["number", "email", "customer__email"]
    show_full_result_count = False  # counting every order on every list page is slow
    fieldsets = [
        (None, {"fields": ["number", "state", "rejection_reason", "customer", "email", "created_at", "updated_at"]}),
        ("Delivery", {"fields": ["full_name", "line1", "line2", "postal_code", "city", "country_name", "phone",
                                 "delivery_label"]}),
        ("Totals", {"fields": ["subtotal_money", "shipping_money", "tax_money", "tax_rate_percent",
                               "prices_include_tax", "total_amount"]}),
        ("Payment", {"fields": ["payment_method"]}),
        ("After the order", {"fields": ["carrier", "tracking_number", "shipped_at", "delivered_at",
                                        "refunded_money", "refunds"]}),
    ]  # fmt: skip
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]
    inlines = [OrderLineInline, OrderEventInline, PaymentInline]
    action_form = OrderActionForm
    actions = ["cancel_orders", "mark_orders_shipped", "mark_orders_delivered", "resend_last_email", "refund_in_full",
               "refund_partly"]  # fmt: skip
    change_form_template = "admin/orders/order/change_form.html"
    confirmation_template = "admin/orders/order/operation_confirmation.html"

    # --- Who may do what: nobody edits an order; each operation has its own permission -----------

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(CANCEL_PERMISSION)

    def has_ship_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(SHIP_PERMISSION)

    def has_resend_email_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RESEND_PERMISSION)

    def has_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REFUND_PERMISSION)

    def has_deliver_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(DELIVER_PERMISSION)

    # --- Columns: money as money -------------------------------------------------------------------

    total_amount = money_column("total", "total", currency=_order_currency, ordering="total")
    subtotal_money = money_column("subtotal", "subtotal", currency=_order_currency)
    shipping_money = money_column("shipping", "shipping", currency=_order_currency)
    tax_money = money_column("tax", "tax", currency=_order_currency)
    refunded_money = money_column("refunded_amount", "refunded", currency=_order_currency)

    @admin.display(description="refunds")
    def refunds(self, order: Order) -> str:
        """What was refunded, when and why: one line per refund that succeeded."""
        lines = [
            f"{refund.created_at:%Y-%m-%d %H:%M}: {format_minor_units(refund.amount, order.currency)}"
            + (f", {refund.reason}" if refund.reason else "")
            for refund in payments_selectors.refunds_of(order_id=order.pk)
        ]
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines)) or "-"

    @admin.display(description="tax rate")
    def tax_rate_percent(self, order: Order) -> str:
        return f"{(order.tax_rate * 100).normalize():f} %"

    @admin.display(description="country")
    def country_name(self, order: Order) -> str:
        return order.country_name

    # --- The order's page: a button per operation the staff member may do now ----------------------

    def get_urls(self):
        operation = self.admin_site.admin_view(self.operation_view)
        note = self.admin_site.admin_view(self.note_view)
        return [
            path("<path:object_id>/operation/<str:operation>/", operation, name="orders_order_operation"),
            path("<path:object_id>/note/", note, name="orders_order_note"),
            *super().get_urls(),
        ]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        order = self.get_object(request, object_id)
        buttons = []
        if order is not None:
            buttons = [
                {"label": op.label, "url": reverse("admin:orders_order_operation", args=[order.pk, op.code])}
                for op in OPERATIONS.values()
                if request.user.has_perm(op.permission) and _offered(order, op.code)
            ]
            if request.user.has_perm(NOTE_PERMISSION):
                buttons.append({"label": "Add a note", "url": reverse("admin:orders_order_note", args=[order.pk])})
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "order_operations": buttons})

    def operation_view(self, request: HttpRequest, object_id: str, operation: str) -> HttpResponse:
        """GET: what the operation will do to this order (and, for a partial refund, the amount to
        give; for a resend, the e-mail); POST with post=yes: do it, then back to the order."""
        order = self.get_object(request, object_id)
        op = _allowed_operation(request, order, OPERATIONS.get(operation))
        data = request.POST if request.method == "POST" else request.GET
        amount, amount_error = _amount(data.get("refund_amount")) if op.code == "refund_partly" else (None, "")
        email_kind = data.get("email_kind") or _last_email_kind(order.pk) or ""
        if email_kind and email_kind not in EmailKind.values:
            email_kind, amount_error = "", "Choose an e-mail from the list."
        if request.method == "POST" and request.POST.get("post") == "yes" and not amount_error:
            self._run_each(request, [(order.pk, order.number)], op, amount=amount, email_kind=email_kind)
            return redirect("admin:orders_order_change", order.pk)
        plans = [self._plan(order, op, amount=amount, email_kind=email_kind)]
        context = self._confirmation_context(request, op, plans, amount=amount, email_kind=email_kind,
                                             error=amount_error, single=order)  # fmt: skip
        return TemplateResponse(request, self.confirmation_template, context)

    def note_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Support staff: a note in the order's history, seen by staff only (GET: the form; POST: save
        it through the service, then back to the order, whose history shows it)."""
        order = self.get_object(request, object_id)
        if order is None:
            raise Http404("No such order.")
        if not request.user.has_perm(NOTE_PERMISSION):
            raise PermissionDenied
        form = OrderNoteForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.add_order_note(order_id=order.pk, author=request.user, text=form.cleaned_data["text"])
            except DomainError as exc:
                form.add_error("text", exc.message)
            else:
                self.message_user(request, f"Note added to {order.number}.", messages.SUCCESS)
                return redirect("admin:orders_order_change", order.pk)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": "Add a note",
                   "order": order, "form": form}  # fmt: skip
        return TemplateResponse(request, "admin/orders/order/note_form.html", context, status=400 if form.errors else 200)

    # --- Bulk actions on the list: the same operations, confirmed first ----------------------------

    @admin.action(description="Cancel selected orders (stock goes back)", permissions=["cancel"])
    def cancel_orders(self, request: HttpRequest, queryset: QuerySet[Order]):
        return self._confirm_or_run(request, queryset, OPERATIONS["cancel"])

    @admin.action(description="Refund selected orders in full (all units back to stock)", permissions=["refund"])
    def refund_in_full(self, request: HttpRequest, queryset: QuerySet[Order]):
        return self._confirm_or_run(request, queryset, OPERATIONS["refund"])

    @admin.action(description="Refund the amount given beside the action (partial refund)", permissions=["refund"])
    def refund_partly(self, request: HttpRequest, queryset: QuerySet[Order]):
        return self._confirm_or_run(request, queryset, OPERATIONS["refund_partly"])

    @admin.action(description="Mark selected orders shipped", permissions=["ship"])
    def mark_orders_shipped(self, request: HttpRequest, queryset: QuerySet[Order]):
        return self._confirm_or_run(request, queryset, OPERATIONS["ship"])

    @admin.action(description="Mark selected orders delivered", permissions=["deliver"])
    def mark_orders_delivered(self, request: HttpRequest, queryset: QuerySet[Order]):
        return self._confirm_or_run(request, queryset, OPERATIONS["deliver"])

    @admin.action(
        description="Resend the e-mail chosen beside the action (by default the last one sent)",
        permissions=["resend_email"],
    )
    def resend_last_email(self, request: HttpRequest, queryset: QuerySet[Order]):
        return self._confirm_or_run(request, queryset, OPERATIONS["resend_email"])

    def _confirm_or_run(self, request: HttpRequest, queryset: QuerySet[Order], op: Operation):
        amount, error = (None, "")
        if op.code == "refund_partly":
            amount, error = _amount(request.POST.get("refund_amount"))
            if amount is None:
                error = "Give the refund amount beside the action (e.g. 10.00)."
        chosen = request.POST.get("email_kind", "")
        if op.code == "resend_email" and chosen and chosen not in EmailKind.values:
            error = "Choose an e-mail from the list beside the action."
        if error:
            self.message_user(request, error, messages.ERROR)
            return None
        orders = list(queryset.order_by("pk"))
        if request.POST.get("post") == "yes":
            self._run_each(request, [(o.pk, o.number) for o in orders], op, amount=amount, email_kind=chosen)
            return None  # back to the list, with the messages
        plans = [self._plan(o, op, amount=amount, email_kind=chosen or _last_email_kind(o.pk) or "") for o in orders]
        context = self._confirmation_context(request, op, plans, amount=amount, email_kind=chosen, error="")
        return TemplateResponse(request, self.confirmation_template, context)

    # --- Shared: what will happen, and doing it ------------------------------------------------------

    def _plan(self, order: Order, op: Operation, *, amount: Decimal | None, email_kind: str) -> dict:
        lines = list(order.lines.all())
        titles = {line.product_id: line.title for line in lines}
        refundable = payments_selectors.refundable(order_id=order.pk) if order.state in REFUNDABLE_STATES else 0
        returnable = selectors.returnable_units(order_id=order.pk) if op.code == "refund" and refundable else {}
        possible, steps = history.plan_for(
            order, op.code, titles=titles, held={line.product_id: line.quantity for line in lines},
            refundable=refundable, returnable=returnable, amount=amount, email_kind=email_kind,
        )  # fmt: skip
        return {"order": order, "possible": possible, "steps": steps}

    def _confirmation_context(self, request: HttpRequest, op: Operation, plans: list[dict], *, amount, email_kind: str,
                              error: str, single: Order | None = None) -> dict:  # fmt: skip
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": op.title,
            "operation": op,
            "plans": plans,
            "doable": [plan for plan in plans if plan["possible"]],
            "refused": [plan for plan in plans if not plan["possible"]],
            "single": single,
            "amount": amount,
            "email_kind": email_kind,
            "email_kinds": EmailKind.choices,
            "error": error,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "action_name": _ACTION_OF[op.code],
            # One per confirmation page: a refund confirmed twice (a double click, a resubmitted
            # form) carries the same token, hence the same refund reference, and refunds once.
            "operation_token": uuid.uuid4().hex,
        }

    def _run_each(self, request: HttpRequest, orders: list[tuple[int, str]], op: Operation, *, amount, email_kind: str):
        """Run the operation's service per order; a refusal is a warning naming the order."""
        succeeded = []
        token = _operation_token(request.POST.get("operation_token"))
        for order_id, number in orders:
            try:
                _run(op.code, order_id, actor=request.user, amount=amount, email_kind=email_kind,
                     reference=f"admin-{token}-{order_id}")  # fmt: skip
            except DomainError as exc:
                self.message_user(request, f"{number}: {exc.message}", messages.WARNING)
            else:
                succeeded.append(number)
        if succeeded:
            done = f"{op.done} {format_money(amount)} of" if op.code == "refund_partly" else op.done
            self.message_user(request, f"{done}: {', '.join(succeeded)}.", messages.SUCCESS)


_ACTION_OF = {"cancel": "cancel_orders", "ship": "mark_orders_shipped", "deliver": "mark_orders_delivered", "refund": "refund_in_full",
              "refund_partly": "refund_partly", "resend_email": "resend_last_email"}  # fmt: skip


def _allowed_operation(request: HttpRequest, target, op: Operation | None) -> Operation:
    """The operation asked for on this order or return: 404 when either does not exist, 403
    without the operation's permission."""
    if target is None or op is None:
        raise Http404("No such record or operation.")
    if not request.user.has_perm(op.permission):
        raise PermissionDenied
    return op


def _operation_token(raw: str | None) -> str:
    """The confirmation page's token (32 hex digits); a fresh one when the POST did not carry it."""
    try:
        return uuid.UUID(hex=raw or "").hex
    except ValueError:
        return uuid.uuid4().hex


def _run(operation: str, order_id: int, *, actor, amount: Decimal | None, email_kind: str, reference: str) -> None:
    """One order, one service call (each opens its own durable transaction). `reference` names a
    refund (its idempotency key): the same confirmation posted twice refunds once."""
    if operation == "cancel":
        services.cancel_order(order_id=order_id, actor=actor, reason=STAFF_CANCEL_REASON)
    elif operation == "ship":
        services.mark_shipped(order_id=order_id, actor=actor)
    elif operation == "deliver":
        services.mark_delivered(order_id=order_id, actor=actor)
    elif operation == "refund":
        returnable = {p: n for p, n in selectors.returnable_units(order_id=order_id).items() if n > 0}
        services.refund_order(order_id=order_id, amount=None, reference=reference,
                              restock=returnable, reason="Refunded in full by staff", actor=actor)  # fmt: skip
    elif operation == "refund_partly":
        services.refund_order(order_id=order_id, amount=amount, reference=reference,
                              reason=f"Partial refund of {amount} by staff", actor=actor)  # fmt: skip
    elif operation == "resend_email":
        kind = email_kind or _last_email_kind(order_id)
        if kind is None:
            raise EmailNeverQueued(kind="any")
        services.resend_email(order_id=order_id, kind=kind, actor=actor)


def _offered(order: Order, operation: str) -> bool:
    """Whether the order's page offers this operation's button in the order's state."""
    if operation == "cancel":
        return can_transition(order.state, OrderState.CANCELLED)
    if operation == "ship":
        return can_transition(order.state, OrderState.SHIPPED)
    if operation == "deliver":
        return order.state in SHIPPED_STATES and order.delivered_at is None
    if operation in ("refund", "refund_partly"):
        return order.state in REFUNDABLE_STATES and payments_selectors.refundable(order_id=order.pk) > 0
    return EmailLog.objects.filter(order_id=order.pk).exists()


def _amount(raw: str | None) -> tuple[Decimal | None, str]:
    if not raw:
        return None, ""
    try:
        return OrderActionForm.base_fields["refund_amount"].clean(raw), ""
    except ValidationError as exc:
        return None, f"Refund amount: {' '.join(exc.messages)}"


def _titles_of(order_id: int, *, cache: dict) -> dict[int, str]:
    if order_id not in cache:
        cache[order_id] = dict(OrderLine.objects.filter(order_id=order_id).values_list("product_id", "title"))
    return cache[order_id]


def _last_email_kind(order_id: int) -> str | None:
    """The kind of the e-mail this order was sent last; else the last one queued (never got out)."""
    log = EmailLog.objects.filter(order_id=order_id).order_by(F("sent_at").desc(nulls_last=True), "-id").first()
    return log.kind if log else None


# --- Returns: staff decide, the warehouse receives ------------------------------------------------------

RETURN_OPERATIONS = {
    op.code: op
    for op in (
        Operation("approve_return", "Approve", "Approve this return?", "Yes, approve", DECIDE_RETURN_PERMISSION,
                  "Approved"),
        Operation("refuse_return", "Refuse", "Refuse this return?", "Yes, refuse", DECIDE_RETURN_PERMISSION,
                  "Refused"),
        Operation("receive_return", "Items received: refund", "Have the items arrived? Refund and restock them?",
                  "Yes, refund and restock", RECEIVE_RETURN_PERMISSION, "Refunded"),
    )
}  # fmt: skip
RETURN_OPERATION_FROM = {"approve_return": (ReturnState.REQUESTED,),
                         "refuse_return": (ReturnState.REQUESTED, ReturnState.APPROVED)}  # fmt: skip


class ReturnLineInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ReturnLine
    fields = ["product_id", "title", "quantity", "unit_price_money"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    unit_price_money = money_column("unit_price", "unit price", currency=lambda line: line.request.order.currency)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReturnLine]:
        return super().get_queryset(request).select_related("request__order")


@admin.register(ReturnRequest)
class ReturnRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Returns asked for by customers; read-only, changed only by the buttons (the services)."""

    list_display = ["number", "order_link", "state", "reason", "created_at"]
    list_filter = ["state", "reason"]
    list_select_related = ["order"]
    search_fields = ["number", "order__number", "order__email"]
    fields = ["number", "order_link", "state", "reason", "comment", "refusal_reason", "refund_money",
              "refund_reference", "created_at", "decided_at", "decided_by", "received_at"]  # fmt: skip
    readonly_fields = fields
    inlines = [ReturnLineInline]
    change_form_template = "admin/orders/order/change_form.html"
    confirmation_template = "admin/orders/order/operation_confirmation.html"

    @admin.display(description="refund")
    def refund_money(self, request: ReturnRequest) -> str:
        return "-" if request.refund_amount is None else format_money(request.refund_amount, request.order.currency)

    @admin.display(description="order", ordering="order__number")
    def order_link(self, request: ReturnRequest) -> str:
        url = reverse("admin:orders_order_change", args=[request.order_id])
        return format_html('<a href="{}">{}</a>', url, request.order.number)

    def get_urls(self):
        operation = self.admin_site.admin_view(self.operation_view)
        return [path("<path:object_id>/operation/<str:operation>/", operation, name="orders_returnrequest_operation"),
                *super().get_urls()]  # fmt: skip

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        found = self.get_object(request, object_id)
        buttons = [
            {"label": op.label, "url": reverse("admin:orders_returnrequest_operation", args=[found.pk, op.code])}
            for op in RETURN_OPERATIONS.values()
            if found is not None and request.user.has_perm(op.permission) and _return_offered(found, op.code)
        ]
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "order_operations": buttons})

    def operation_view(self, request: HttpRequest, object_id: str, operation: str) -> HttpResponse:
        """GET: what approving, refusing or receiving will do; POST with post=yes: do it."""
        found = self.get_object(request, object_id)
        op = _allowed_operation(request, found, RETURN_OPERATIONS.get(operation))
        error = ""
        if request.method == "POST" and request.POST.get("post") == "yes":
            try:
                _run_return(op.code, found.pk, actor=request.user, reason=request.POST.get("refusal_reason", ""))
            except DomainError as exc:
                error = exc.message
            else:
                self.message_user(request, f"{op.done}: {found.number}.", messages.SUCCESS)
                return redirect("admin:orders_returnrequest_change", found.pk)
        possible, steps = _return_plan(found, op.code)
        plan = {"order": found, "possible": possible, "steps": steps}
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": op.title, "operation": op,
            "plans": [plan], "doable": [plan] if possible else [], "refused": [] if possible else [plan],
            "single": found, "error": error, "operation_token": uuid.uuid4().hex,
        }  # fmt: skip
        return TemplateResponse(request, self.confirmation_template, context, status=400 if error else 200)


def _return_offered(found: ReturnRequest, operation: str) -> bool:
    if operation == "receive_return":
        return found.state in (ReturnState.APPROVED, ReturnState.RECEIVED)
    return found.state in RETURN_OPERATION_FROM[operation]


def _return_plan(found: ReturnRequest, operation: str) -> tuple[bool, list[str]]:
    """(possible, sentences): what the operation will do to this return, said before it runs."""
    if not _return_offered(found, operation):
        return False, [f"It is {found.state_label.lower()}: nothing will change."]
    units = history.units_sentence({line.product_id: line.quantity for line in found.lines.all()},
                                   {line.product_id: line.title for line in found.lines.all()})  # fmt: skip
    if operation == "approve_return":
        return True, [f"The customer ({found.order.email}) is e-mailed to send back {units}."]
    if operation == "refuse_return":
        return True, [f"The customer ({found.order.email}) is told why, in the e-mail; {units} stay with them."]
    amount = services.return_refund_due(found, order=found.order)
    if amount <= 0:
        return False, ["Nothing is left to refund on this order: refuse the return to close it (and restock by "
                       "hand in the stock list if the goods came back)."]
    return True, [f"{format_money(amount, found.order.currency)} is refunded to the customer's card (its items "
                  "at the price paid, at most what is left to refund).",
                  f"Back to stock: {units}.", "The customer is e-mailed the refund."]  # fmt: skip


def _run_return(operation: str, return_id: int, *, actor, reason: str) -> None:
    if operation == "approve_return":
        services.approve_return(return_id=return_id, actor=actor)
    elif operation == "refuse_return":
        services.refuse_return(return_id=return_id, reason=reason, actor=actor)
    else:
        services.receive_return(return_id=return_id, actor=actor)
