from django.contrib import admin

from catalog.models import Category, Product


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "parent", "position"]
    list_select_related = ["parent"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["title", "sku", "category", "price", "is_active", "created_at"]
    list_select_related = ["category"]
    list_filter = ["is_active", "category"]
    search_fields = ["title", "sku"]
    prepopulated_fields = {"slug": ["title"]}
    autocomplete_fields = ["category"]
    show_full_result_count = False  # counting a large catalog on every list page is slow
