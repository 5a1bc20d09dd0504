from django.urls import path

from catalog import views

app_name = "catalog"

urlpatterns = [
    path("", views.home_view, name="home"),
    path("search/", views.search_view, name="search"),
    path("search/suggest/", views.search_suggest_view, name="search-suggest"),
    path("c/<slug:slug>/", views.category_view, name="category"),
    path("p/<slug:slug>/", views.product_view, name="product"),
    path("recently-viewed/clear/", views.recently_viewed_clear_view, name="recently-viewed-clear"),
    path("uploads/<uuid:upload_id>/", views.direct_upload_view, name="direct-upload"),
]
