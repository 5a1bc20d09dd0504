"""/api/v1/: the platform's own endpoints, then each app's api/urls.py (included by name)."""

from django.urls import include, path

from shop.api.views import GuestTokenCreateApi

urlpatterns = [
    path("guest-tokens", GuestTokenCreateApi.as_view(), name="guest-token-create"),
    path("", include("accounts.api.urls")),
    path("", include("catalog.api.urls")),
    path("", include("cart.api.urls")),
    path("", include("orders.api.urls")),
]
