from django.urls import path

from cart import urls as cart_urls  # noqa: F401  (registers the product_id converter)
from cart.api import views

urlpatterns = [
    path("cart", views.CartApi.as_view(), name="cart"),
    path("cart/operations", views.CartOperationsApi.as_view(), name="cart-operations"),
    path("cart/lines", views.CartLinesApi.as_view(), name="cart-lines"),
    path("cart/lines/<product_id:product_id>", views.CartLineApi.as_view(), name="cart-line"),
]
