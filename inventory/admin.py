"""Staff screens for stock: levels are changed only by an adjustment (delta + reason) through the services.

The stock item form never edits `available`: it asks "adjust by" and a reason, shows a page
saying what will happen ("from 10 to 7 units"), and only once confirmed save_model calls
inventory.services.adjust, so every staff change is on the ledger with its actor. Adjusting
needs the inventory.adjust_stock permission; without it the screens are read-only. The ledger
(StockMovement) is read-only for everyone.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import csrf_protect_m
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from inventory import selectors, services
from inventory.exceptions import InvalidStockChange, StockBusy, StockWouldGoNegative, UnknownProduct
from inventory.models import StockItem, StockMovement

ADJUST_PERMISSION = "inventory.adjust_stock"
RECENT_MOVEMENTS = 10
_REFUSED = "_stock_adjustment_refused"  # set on the request when the service refused the adjustment
CONFIRMED = "_confirmed"  # the confirmation page's post: "yes" runs the adjustment


class StockItemAdjustForm(forms.ModelForm):
    adjust_by = forms.IntegerField(
        label="Adjust by", help_text="Units to add (positive) or take away (negative). Stock never goes below zero."
    )
    reason = forms.CharField(
        max_length=services.MAX_REASON_LENGTH, help_text="Why (a stock count, damaged goods ...). Kept on the ledger."
    )
    # One token per displayed form: submitting the same form twice applies the adjustment once.
    adjustment_token = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)

    class Meta:
        model = StockItem
        fields = ["product"]

    def clean_adjust_by(self) -> int:
        delta = self.cleaned_data["adjust_by"]
        if delta == 0:
            raise forms.ValidationError("Enter a change other than zero.")
        return delta

    def clean(self) -> dict:
        cleaned = super().clean()
        delta = cleaned.get("adjust_by")
        current = self.instance.available if self.instance.pk else 0
        if delta is not None and current + delta < 0:  # the friendly early check; the service is the authority
            self.add_error("adjust_by", f"Only {current} units are in stock; stock cannot go below zero.")
        return cleaned


class StockStatusFilter(admin.SimpleListFilter):
    title = "stock status"
    parameter_name = "stock"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return list(selectors.StockStatus.choices)

    def queryset(self, request: HttpRequest, queryset):
        if self.value() in selectors.StockStatus.values:
            return queryset.filter(product_id__in=selectors.product_ids_by_stock_status(status=self.value()))
        return queryset


def _posted_fields(request: HttpRequest) -> list[tuple[str, str]]:
    """The form's fields as posted, for the confirmation page to post again (not the CSRF token)."""
    return [(key, value) for key, values in request.POST.lists() if key != "csrfmiddlewaretoken" for value in values]


@admin.register(StockItem)
class StockItemAdmin(admin.ModelAdmin):
    form = StockItemAdjustForm
    list_display = ["product_id", "product_title", "product_sku", "available", "low_stock_threshold", "updated_at"]
    list_display_links = ["product_id", "product_title"]
    # The threshold is edited in the list (services.set_low_stock_threshold); stock only by an adjustment.
    list_editable = ["low_stock_threshold"]
    list_select_related = ["product"]
    list_filter = [StockStatusFilter]
    search_fields = ["^product__sku", "product__title"]
    raw_id_fields = ["product"]  # a select of a billion products would never render
    ordering = ["product_id"]
    show_full_result_count = False

    @csrf_protect_m
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # A valid adjustment first shows what it will do (as Django's delete does); only the
        # confirmed post (_confirmed=yes, sent by that page) reaches the service.
        unconfirmed = request.method == "POST" and request.POST.get(CONFIRMED) != "yes"
        if unconfirmed and self._can_adjust(request) and (page := self._confirmation(request, object_id)) is not None:
            return page
        # Django runs this view in a transaction; the stock services open their own durable one,
        # which must not be nested. The only write here is the service call (and the admin log).
        return self._changeform_view(request, object_id, form_url, extra_context)

    def _confirmation(self, request: HttpRequest, object_id: str | None) -> HttpResponse | None:
        """The page that says what the adjustment will do; None when the form has errors (the
        normal page shows them) or the row does not exist."""
        obj = self.get_object(request, object_id) if object_id else None
        if object_id and obj is None:
            return None
        form = self.get_form(request, obj, change=obj is not None)(request.POST, instance=obj)
        if not form.is_valid():
            return None
        product = obj.product if obj else form.cleaned_data["product"]
        current = obj.available if obj else selectors.get_level(product_id=product.pk)
        delta = form.cleaned_data["adjust_by"]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Change the stock?",
            "product": product,
            "current": current,
            "after": current + delta,
            "delta": delta,
            "reason": form.cleaned_data["reason"],
            "posted": _posted_fields(request),
            "confirmed_name": CONFIRMED,
        }
        return TemplateResponse(request, "admin/inventory/stockitem/adjust_confirmation.html", context)

    # --- Who may do what ---------------------------------------------------------------------

    def _can_adjust(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ADJUST_PERMISSION)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return super().has_view_permission(request, obj) or self._can_adjust(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._can_adjust(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._can_adjust(request)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # a stock row is history's anchor; set it to zero instead

    # --- The form -----------------------------------------------------------------------------

    def get_fields(self, request: HttpRequest, obj=None) -> list[str]:
        fields = ["product", "available", "updated_at"] if obj else ["product"]
        if self._can_adjust(request):
            fields += ["adjust_by", "reason", "adjustment_token"]
        return [*fields, "recent_movements"] if obj else fields

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        readonly = ["available", "updated_at", "recent_movements"]
        return [*readonly, "product"] if obj else readonly

    def save_model(self, request: HttpRequest, obj: StockItem, form: StockItemAdjustForm, change: bool) -> None:
        if change and "adjust_by" not in form.cleaned_data:  # the list's editable threshold column
            services.set_low_stock_threshold(product_id=obj.product_id, threshold=obj.low_stock_threshold)
            return
        try:
            result = services.adjust(
                product_id=obj.product_id,
                delta=form.cleaned_data["adjust_by"],
                reason=form.cleaned_data["reason"],
                actor=request.user,
                cause=f"admin:{form.cleaned_data['adjustment_token']}",
            )
        except (InvalidStockChange, StockWouldGoNegative, UnknownProduct, StockBusy) as exc:
            setattr(request, _REFUSED, True)
            self.message_user(request, exc.message, messages.ERROR)
            return
        if not result.applied:
            self.message_user(request, "This adjustment was already applied; nothing changed.", messages.WARNING)
        # Show the row as the service left it (and give a new row its primary key for the redirect).
        saved = StockItem.objects.get(product_id=obj.product_id)
        obj.pk, obj.available, obj.updated_at = saved.pk, saved.available, saved.updated_at

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        return None  # the stock row has no relations to save; the service wrote everything

    def log_addition(self, request: HttpRequest, obj, message):
        return None if getattr(request, _REFUSED, False) else super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj, message):
        return None if getattr(request, _REFUSED, False) else super().log_change(request, obj, message)

    def response_add(self, request: HttpRequest, obj, post_url_continue=None) -> HttpResponse:
        if getattr(request, _REFUSED, False):
            return HttpResponseRedirect(request.path)  # back to the form, with the error message
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj) -> HttpResponse:
        if getattr(request, _REFUSED, False):
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    # --- Columns and read-only fields ----------------------------------------------------------

    @admin.display(description="product", ordering="product__title")
    def product_title(self, obj: StockItem) -> str:
        return obj.product.title

    @admin.display(description="SKU", ordering="product__sku")
    def product_sku(self, obj: StockItem) -> str:
        return obj.product.sku

    @admin.display(description="recent movements")
    def recent_movements(self, obj: StockItem) -> str:
        movements = selectors.list_movements(product_id=obj.product_id)[:RECENT_MOVEMENTS]
        rows = format_html_join(
            "",
            "<li>{}: {} {} → {} ({}{})</li>",
            (
                (
                    f"{m.created_at:%Y-%m-%d %H:%M}",
                    m.get_kind_display(),
                    f"{m.quantity:+d}",
                    m.level_after,
                    m.reason or m.cause,
                    f", by {m.actor}" if m.actor else "",
                )
                for m in movements
            ),
        )
        ledger_url = reverse("admin:inventory_stockmovement_changelist") + f"?product__id__exact={obj.product_id}"
        return format_html('<ul>{}</ul><a href="{}">The whole ledger</a>', rows, ledger_url)


@admin.register(StockMovement)
class StockMovementAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "product_id",
        "product",
        "kind",
        "quantity",
        "level_after",
        "cause",
        "reason",
        "actor",
    ]
    list_select_related = ["product", "actor"]
    list_filter = ["kind"]
    search_fields = ["=cause", "^product__sku"]
    raw_id_fields = ["product", "actor"]
    show_full_result_count = False

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        # Whoever may see stock may see its history.
        return super().has_view_permission(request, obj) or request.user.has_perm("inventory.view_stockitem")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
