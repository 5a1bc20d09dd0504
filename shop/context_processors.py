from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone


def shop(request: HttpRequest) -> dict:
    """Values every storefront template may use: the shop's name and currency, the year for the
    footer (in the shop's time zone; `{% now "Y" %}` formats a date for it on every page), and
    `viewer`, what the page parts show of the visitor."""
    return {"SHOP_NAME": settings.SHOP_NAME, "SHOP_CURRENCY": settings.SHOP_CURRENCY,
            "YEAR": timezone.localdate().year, "viewer": viewer(request)}  # fmt: skip


def viewer(request: HttpRequest) -> dict:
    """What the storefront shows of the visitor (the header's name and links, the stock alert's
    address): plain values, read once per page. The page parts are keyed by them
    (shop/fragments.py): through `user`, each look-up went through the lazy user and a failed
    item look-up, some 6 microseconds apiece and a dozen per page."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"pk": None, "is_authenticated": False, "short_name": "", "email": "", "is_staff": False}
    return {"pk": user.pk, "is_authenticated": True, "short_name": user.get_short_name(), "email": user.email,
            "is_staff": user.is_staff}  # fmt: skip
