"""Staff screens for the catalog. Actions and save hooks call catalog services; no rules here."""

from __future__ import annotations

import logging
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.admin.widgets import AdminFileWidget
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from catalog import analytics, services
from catalog import cache as catalog_cache
from catalog.images import validate_image_upload
from catalog.models import Brand, Category, Product, ProductImage, ProductImportJob, StockAlert
from catalog.selectors import CategoryNotFound
from shop.admin_mixins import ReadOnlyAdminMixin

logger = logging.getLogger(__name__)

THUMBNAIL_PREVIEW_HEIGHT = 80
TOP_PRODUCTS, TOP_PRODUCT_DAYS = 50, 14  # the "Top products" page
SEARCH_ANALYTICS_DAYS = 30
CATEGORY_INDENT = "\u2003"  # an em space per level of the tree


# --- Categories and brands -----------------------------------------------------------------


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["indented_name", "slug", "parent", "position"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]
    autocomplete_fields = ["parent"]

    # Tree order for the two-level tree: each top category (by position) directly followed by its
    # children (by position); with the indent by depth the list reads as the tree. Expressions,
    # not annotations, so every Category list the admin orders (choices, autocomplete) works.
    ordering = [
        Coalesce("parent__position", "position").asc(),
        Coalesce("parent__name", "name").asc(),
        Coalesce("parent__id", "id").asc(),
        F("parent").asc(nulls_first=True),
        "position",
        "name",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Category]:
        return super().get_queryset(request).select_related("parent__parent")

    def save_model(self, request: HttpRequest, obj: Category, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and "name" in form.changed_data:  # the name is on its products' cards
            services.refresh_products_named_after(category_id=obj.pk)
        transaction.on_commit(catalog_cache.invalidate_listings)  # menus, breadcrumbs, listings

    def delete_model(self, request: HttpRequest, obj: Category) -> None:
        super().delete_model(request, obj)
        transaction.on_commit(catalog_cache.invalidate_listings)

    @admin.display(description="name", ordering="name")
    def indented_name(self, category: Category) -> str:
        depth, parent = 0, category.parent
        while parent is not None and depth < 10:  # the select_related above covers two levels
            depth, parent = depth + 1, parent.parent
        return f"{CATEGORY_INDENT * depth}{'└ ' if depth else ''}{category.name}"


@admin.register(Brand)
class BrandAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]

    def save_model(self, request: HttpRequest, obj: Brand, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and {"name", "slug"} & set(form.changed_data):  # on its products' cards and in filters
            services.refresh_products_named_after(brand_id=obj.pk)


# --- Product images ------------------------------------------------------------------------


class ProductImageForm(forms.ModelForm):
    # A plain file field: Django's ImageField would refuse a bad file with its own generic
    # message before ours runs; validate_image_upload gives the customer-readable one.
    original = forms.FileField(label="Picture", widget=AdminFileWidget)

    class Meta:
        model = ProductImage
        fields = ["original", "alt_text", "position"]

    def clean_original(self):
        upload = self.cleaned_data["original"]
        if isinstance(upload, UploadedFile):  # a new file; an unchanged row keeps its stored one
            validate_image_upload(upload)
        return upload


class ProductImageInline(admin.TabularInline):
    model = ProductImage
    form = ProductImageForm
    extra = 1
    fields = ["preview", "original", "alt_text", "position", "status", "failure_reason"]
    readonly_fields = ["preview", "status", "failure_reason"]

    @admin.display(description="preview")
    def preview(self, image: ProductImage) -> str:
        if not image.pk or not image.original:
            return "—"
        return format_html(
            '<img src="{}" alt="{}" style="max-height:{}px;max-width:{}px">',
            services.image_urls(image)["small"],
            image.alt_text,
            THUMBNAIL_PREVIEW_HEIGHT,
            THUMBNAIL_PREVIEW_HEIGHT * 2,
        )


# --- Products --------------------------------------------------------------------------------


class StockStatusFilter(admin.SimpleListFilter):
    title = "stock status"
    parameter_name = "stock"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("in_stock", "In stock"), ("low_stock", "Low stock"), ("out_of_stock", "Out of stock")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Product]) -> QuerySet[Product]:
        if self.value() not in {value for value, _ in self.lookup_choices}:
            return queryset
        try:
            # Imported here: inventory's selectors may be absent or older than this screen, and
            # the product list must still open (unfiltered) when they are.
            from inventory import selectors as inventory_selectors
        except ImportError:
            logger.warning("inventory selectors unavailable: the stock status filter is ignored")
            return queryset
        if self.value() == "out_of_stock" and hasattr(inventory_selectors, "in_stock_product_ids"):
            # A product never stocked has no stock row and is out of stock as well.
            return queryset.exclude(pk__in=inventory_selectors.in_stock_product_ids())
        try:
            return queryset.filter(pk__in=inventory_selectors.product_ids_by_stock_status(status=self.value()))
        except (AttributeError, ValueError):
            logger.warning("inventory cannot filter by stock status %r: the filter is ignored", self.value())
            return queryset


class ProductImportForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="UTF-8, the columns of docs/catalog.md; products by SKU.")
    dry_run = forms.BooleanField(
        required=False, initial=True, label="Dry run", help_text="Check every row and report; write nothing."
    )


class ProductActionForm(ActionForm):
    category = forms.ModelChoiceField(
        queryset=Category.objects.order_by("name"),
        required=False,
        empty_label="(category for “move to category”)",
        label="Category",
    )


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "sku",
        "category",
        "brand",
        "price",
        "compare_at_price",
        "is_active",
        "popularity",
        "created_at",
    ]
    list_select_related = ["category", "brand"]
    list_filter = ["is_active", StockStatusFilter, "category", "brand"]
    search_fields = ["sku", "title"]
    prepopulated_fields = {"slug": ["title"]}
    autocomplete_fields = ["category", "brand"]
    readonly_fields = ["popularity", "created_at", "updated_at"]
    show_full_result_count = False  # counting a large catalog on every list page is slow
    inlines = [ProductImageInline]
    action_form = ProductActionForm
    actions = ["activate", "deactivate", "move_to_category"]

    change_list_template = "admin/catalog/product/change_list.html"
    import_status_refresh_seconds = 2

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("import/", view(self.import_view), name="catalog_product_import"),
            path("import/<int:job_id>/", view(self.import_status_view), name="catalog_product_import_status"),
            path("top/", view(self.top_products_view), name="catalog_product_top"),
            path("search-analytics/", view(self.search_analytics_view), name="catalog_product_search_analytics"),
            *super().get_urls(),
        ]

    def top_products_view(self, request: HttpRequest) -> HttpResponse:
        """The 50 most popular products, each with a small SVG of its last 14 days of views and
        units bought, and the catalog cache's hit rate (docs/popularity.md)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        today = timezone.now().date()
        context = self._import_context(
            request, title="Top products",
            products=analytics.top_products(today=today, limit=TOP_PRODUCTS, days=TOP_PRODUCT_DAYS),
            days=TOP_PRODUCT_DAYS, first_day=today - timedelta(days=TOP_PRODUCT_DAYS - 1), today=today,
            cache_stats=catalog_cache.stats(), width=analytics.CHART_WIDTH, height=analytics.CHART_HEIGHT,
        )  # fmt: skip
        return TemplateResponse(request, "admin/catalog/product/top_products.html", context)

    def search_analytics_view(self, request: HttpRequest) -> HttpResponse:
        """What customers searched for over the last 30 days, what found nothing, and click-through."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        figures = analytics.search_analytics(today=timezone.now().date(), days=SEARCH_ANALYTICS_DAYS)
        context = self._import_context(request, title="Search analytics", days=SEARCH_ANALYTICS_DAYS, **figures)
        return TemplateResponse(request, "admin/catalog/product/search_analytics.html", context)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        """With S3 media, the image inline also gets the direct uploader (static/js/admin-direct-upload.js):
        the browser sends pictures straight to the bucket through the uploads API; otherwise the
        inline's own file field (the form upload) is the only way."""
        extra_context = dict(extra_context or {})
        if (
            services.direct_uploads_go_to_s3()
            and str(object_id).isdigit()
            and request.user.has_perm("catalog.add_productimage")
        ):
            start = reverse("api:image-upload-create", args=[int(object_id)])
            extra_context["direct_upload"] = {"start_url": start, "complete_url": f"{start}/{{upload_id}}/complete"}
        return super().change_view(request, object_id, form_url, extra_context)

    def has_import_permission(self, request: HttpRequest) -> bool:
        """Importing creates and changes products: both permissions (catalog managers hold them)."""
        return self.has_add_permission(request) and self.has_change_permission(request)

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {**(extra_context or {}), "can_import": self.has_import_permission(request)}
        return super().changelist_view(request, extra_context)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = ProductImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            job = services.start_product_import(
                upload=form.cleaned_data["file"], dry_run=form.cleaned_data["dry_run"], user_id=request.user.pk
            )
            return HttpResponseRedirect(reverse("admin:catalog_product_import_status", args=[job.pk]))
        recent = ProductImportJob.objects.select_related("started_by")[:10]
        return TemplateResponse(request, "admin/catalog/product/import.html", self._import_context(
            request, title="Import products from CSV", form=form, recent=recent))  # fmt: skip

    def import_status_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        job = get_object_or_404(ProductImportJob.objects.select_related("started_by"), pk=job_id)
        return TemplateResponse(request, "admin/catalog/product/import_status.html", self._import_context(
            request, title=f"CSV import {job.pk}", job=job, refresh=None if job.finished
            else self.import_status_refresh_seconds))  # fmt: skip

    def _import_context(self, request: HttpRequest, **context) -> dict:
        return {**self.admin_site.each_context(request), "opts": self.model._meta, **context}

    # Saves: the change form runs in the admin's own transaction, so these hooks register
    # on-commit work through non-durable services rather than calling durable ones.

    def save_model(self, request: HttpRequest, obj: Product, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        previous_slug = form.initial.get("slug") if change else None
        services.schedule_product_invalidation(product_id=obj.pk, slugs=[obj.slug, previous_slug or ""])

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        if formset.model is ProductImage:
            new_originals = [image.pk for image in formset.new_objects]
            new_originals += [image.pk for image, changed in formset.changed_objects if "original" in changed]
            services.schedule_thumbnails_for_new_originals(image_ids=new_originals)

    def delete_model(self, request: HttpRequest, obj: Product) -> None:
        product_id, slug = obj.pk, obj.slug
        super().delete_model(request, obj)
        services.schedule_product_invalidation(product_id=product_id, slugs=[slug])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        deleted = list(queryset.values_list("pk", "slug"))
        super().delete_queryset(request, queryset)
        for product_id, slug in deleted:
            services.schedule_product_invalidation(product_id=product_id, slugs=[slug])

    # Bulk actions: each calls one durable service (an action runs outside any transaction).

    @admin.action(description="Activate selected products (show them in the shop)", permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        changed = services.set_products_active(product_ids=_ids(queryset), active=True)
        self.message_user(request, f"{changed} product(s) activated.", messages.SUCCESS)

    @admin.action(description="Deactivate selected products (hide them from the shop)", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        changed = services.set_products_active(product_ids=_ids(queryset), active=False)
        self.message_user(request, f"{changed} product(s) deactivated.", messages.SUCCESS)

    @admin.action(description="Move selected products to the category chosen beside the action", permissions=["change"])
    def move_to_category(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        try:
            category = self.action_form.base_fields["category"].clean(request.POST.get("category"))
        except ValidationError:
            category = None
        if category is None:
            self.message_user(request, "Choose a category beside the action to move products to.", messages.ERROR)
            return
        try:
            moved = services.move_products_to_category(product_ids=_ids(queryset), category_id=category.pk)
        except CategoryNotFound as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        self.message_user(request, f"{moved} product(s) moved to {category.name}.", messages.SUCCESS)


def _ids(queryset: QuerySet[Product]) -> list[int]:
    return list(queryset.values_list("pk", flat=True))


@admin.register(StockAlert)
class StockAlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Who waits for which sold-out product (read-only: customers subscribe and unsubscribe themselves)."""

    list_display = ["product", "email", "created_at", "confirmed_at", "notified_at", "unsubscribed_at"]
    list_select_related = ["product"]
    list_filter = [("confirmed_at", admin.EmptyFieldListFilter), ("notified_at", admin.EmptyFieldListFilter)]
    search_fields = ["=email", "^product__sku"]
    raw_id_fields = ["product", "user"]
    show_full_result_count = False
