"""Guest access to an order: a signed link in its e-mails (no account needed to follow an order)."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "orders.access"
LINK_MAX_AGE = 60 * 60 * 24 * 365  # a year: long enough to follow a delivery and ask for a refund


def access_token(number: str) -> str:
    return signing.dumps(number, salt=SALT)


def token_grants(number: str, token: str) -> bool:
    """True when `token` was signed by us for this order number and is less than a year old."""
    try:
        return signing.loads(token, salt=SALT, max_age=LINK_MAX_AGE) == number
    except signing.BadSignature:
        return False


def signed_order_url(order) -> str:
    """The absolute link to the order's page that opens it for whoever holds the e-mail."""
    path = reverse("orders:detail", args=[order.number])
    return f"{settings.SHOP_BASE_URL}{path}?access={access_token(order.number)}"
