from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone


def shop(request: HttpRequest) -> dict:
    """Values every storefront template may use: the shop's name and currency, and the year for
    the footer (in the shop's time zone; `{% now "Y" %}` formats a date for it on every page)."""
    return {"SHOP_NAME": settings.SHOP_NAME, "SHOP_CURRENCY": settings.SHOP_CURRENCY,
            "YEAR": timezone.localdate().year}  # fmt: skip
