from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

from shop import health

admin.site.site_header = f"{settings.SHOP_NAME} back office"
admin.site.site_title = f"{settings.SHOP_NAME} admin"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("accounts/", include("accounts.urls")),
    path("", include("catalog.urls")),
    path("admin/", admin.site.urls),
]

if settings.DEBUG and settings.STORAGES["default"]["BACKEND"].endswith("FileSystemStorage"):
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

handler404 = "shop.views.page_not_found"
handler500 = "shop.views.server_error"
