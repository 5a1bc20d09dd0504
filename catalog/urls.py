from django.urls import path

from catalog import views
from shop.api.throttling import throttle_post

app_name = "catalog"

urlpatterns = [
    path("", views.home_view, name="home"),
    path("search/", views.search_view, name="search"),
    path("search/suggest/", views.search_suggest_view, name="search-suggest"),
    path("c/<slug:slug>/", views.category_view, name="category"),
    path("p/<slug:slug>/", views.product_view, name="product"),
    path(
        "p/<slug:slug>/stock-alert/",
        throttle_post("stock_alerts")(views.stock_alert_subscribe_view),
        name="stock-alert-subscribe",
    ),
    path("stock-alerts/confirm/<str:token>/", views.stock_alert_confirm_view, name="stock-alert-confirm"),
    path("stock-alerts/unsubscribe/<str:token>/", views.stock_alert_unsubscribe_view, name="stock-alert-unsubscribe"),
    path("recently-viewed/clear/", views.recently_viewed_clear_view, name="recently-viewed-clear"),
    path("uploads/<uuid:upload_id>/", views.direct_upload_view, name="direct-upload"),
]
