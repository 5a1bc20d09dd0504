from django.urls import path

from orders.api import fulfilment, views

urlpatterns = [
    path("checkout", views.CheckoutApi.as_view(), name="checkout"),
    path("checkout/options", views.CheckoutOptionsApi.as_view(), name="checkout-options"),
    path("orders", views.OrderListApi.as_view(), name="order-list"),
    path("orders/<str:number>", views.OrderDetailApi.as_view(), name="order-detail"),
    path("orders/<str:number>/cancel", views.OrderCancelApi.as_view(), name="order-cancel"),
    path("orders/<str:number>/returns", views.OrderReturnApi.as_view(), name="order-returns"),
    path("orders/<str:number>/refunds", views.OrderRefundApi.as_view(), name="order-refund"),
    path("fulfilment/orders", fulfilment.FulfilmentOrderListApi.as_view(), name="fulfilment-order-list"),
    path("fulfilment/orders/<str:number>/ship", fulfilment.FulfilmentShipApi.as_view(), name="fulfilment-ship"),
    path("fulfilment/orders/<str:number>/deliver", fulfilment.FulfilmentDeliverApi.as_view(),
         name="fulfilment-deliver"),
    path("fulfilment/carriers/<str:carrier>/events", fulfilment.CarrierEventApi.as_view(), name="carrier-events"),
]
