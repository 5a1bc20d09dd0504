from django.urls import path

from catalog.api import views
from catalog.api.recently_viewed import RecentlyViewedApi
from catalog.api.search import SearchApi, SearchSuggestApi
from catalog.api.stock_alerts import StockAlertCreateApi
from catalog.api.stock_updates import StockUpdatesApi
from catalog.api.uploads import ImageUploadCompleteApi, ImageUploadCreateApi
from catalog.api.writes import CatalogProductApi, CatalogProductCreateApi, CatalogProductDeactivateApi

urlpatterns = [
    path("products", views.ProductListApi.as_view(), name="product-list"),
    path("products/<int:product_id>", views.ProductDetailApi.as_view(), name="product-detail"),
    path(
        "products/<int:product_id>/recommendations",
        views.ProductRecommendationsApi.as_view(),
        name="product-recommendations",
    ),
    path("products/by-slug/<slug:slug>", views.ProductBySlugApi.as_view(), name="product-by-slug"),
    path("search", SearchApi.as_view(), name="search"),
    path("search/suggest", SearchSuggestApi.as_view(), name="search-suggest"),
    path("me/recently-viewed", RecentlyViewedApi.as_view(), name="recently-viewed"),
    path("categories", views.CategoryTreeApi.as_view(), name="category-tree"),
    path("stock-updates", StockUpdatesApi.as_view(), name="stock-updates"),
    path("products/<int:product_id>/stock-alerts", StockAlertCreateApi.as_view(), name="stock-alert-create"),
    path("products/<int:product_id>/images/uploads", ImageUploadCreateApi.as_view(), name="image-upload-create"),
    path(
        "products/<int:product_id>/images/uploads/<uuid:upload_id>/complete",
        ImageUploadCompleteApi.as_view(),
        name="image-upload-complete",
    ),
    path("catalog/products", CatalogProductCreateApi.as_view(), name="catalog-product-create"),
    path("catalog/products/<int:product_id>", CatalogProductApi.as_view(), name="catalog-product"),
    path(
        "catalog/products/<int:product_id>/deactivate",
        CatalogProductDeactivateApi.as_view(),
        name="catalog-product-deactivate",
    ),
]
