"""The project's URLs plus the seller stock feed at the path it is wired to in shop/api/urls.py."""

from django.urls import include, path

from catalog.api.stock_updates import StockUpdatesApi

urlpatterns = [
    path("api/v1/stock-updates", StockUpdatesApi.as_view(), name="test-stock-updates"),
    path("", include("shop.urls")),
]
