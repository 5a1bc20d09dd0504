from django.conf import settings
from django.http import HttpRequest


def shop(request: HttpRequest) -> dict:
    """Values every storefront template may use: the shop's name and currency."""
    return {"SHOP_NAME": settings.SHOP_NAME, "SHOP_CURRENCY": settings.SHOP_CURRENCY}
