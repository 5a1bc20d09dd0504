from django.urls import path, register_converter

from cart import views


class ProductIdConverter:
    """A product id that fits the database's 64-bit ids: a longer number is a 404, not an overflow."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(ProductIdConverter, "product_id")

app_name = "cart"

urlpatterns = [
    path("", views.cart_view, name="cart"),
    path("add/", views.add_view, name="add"),
    path("lines/<product_id:product_id>/", views.line_view, name="line"),
    path("lines/<product_id:product_id>/remove/", views.remove_view, name="remove"),
    path("clear/", views.clear_view, name="clear"),
]
