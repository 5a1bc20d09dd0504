from django.urls import path

from orders import views

app_name = "orders"

# An order number is SO-XXXXX-XXXXX; anything else is a 404 before a view runs.
NUMBER = "<str:number>"

urlpatterns = [
    path("checkout/", views.checkout_address_view, name="checkout"),
    path("checkout/delivery/", views.checkout_delivery_view, name="checkout-delivery"),
    path("checkout/payment/", views.checkout_payment_view, name="checkout-payment"),
    path("checkout/review/", views.checkout_review_view, name="checkout-review"),
    path("orders/", views.order_list_view, name="list"),
    path("orders/find/", views.order_find_view, name="find"),
    path(f"orders/{NUMBER}/", views.order_detail_view, name="detail"),
    path(f"orders/{NUMBER}/status/", views.order_status_view, name="status"),
    path(f"orders/{NUMBER}/cancel/", views.order_cancel_view, name="cancel"),
    path(f"orders/{NUMBER}/returns/", views.order_return_view, name="return"),
    path(f"orders/{NUMBER}/payment/", views.order_payment_view, name="payment"),
    path(f"orders/{NUMBER}/payment/complete/", views.order_payment_complete_view, name="payment-complete"),
]
