from django.urls import path

from cart.api import views

urlpatterns = [
    path("cart", views.CartApi.as_view(), name="cart"),
    path("cart/operations", views.CartOperationsApi.as_view(), name="cart-operations"),
    path("cart/lines", views.CartLinesApi.as_view(), name="cart-lines"),
    path("cart/lines/<int:product_id>", views.CartLineApi.as_view(), name="cart-line"),
]
