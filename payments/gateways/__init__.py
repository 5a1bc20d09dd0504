"""Payment gateways behind one interface (payments/gateways/base.py); `get_gateway()` picks the configured one."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from payments.gateways.base import Gateway

GATEWAYS = {
    "test": "payments.gateways.test.TestGateway",
    "stripe": "payments.gateways.stripe.StripeGateway",
}


def get_gateway(name: str | None = None) -> Gateway:
    return import_string(GATEWAYS[name or settings.PAYMENT_GATEWAY])()
