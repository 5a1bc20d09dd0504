"""What an order costs: line subtotals, flat-rate delivery, one tax rate, the total (issue 6).

Prices are shown tax-inclusive by default (ORDERS_PRICES_INCLUDE_TAX): the tax is then the part
of the gross amount that is tax, gross * rate / (1 + rate). With net prices the tax is added on
top. Every amount is quantized once, per line and per total, with shop.money (half-up).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from shop import money


@dataclass(frozen=True)
class DeliveryOption:
    code: str
    label: str
    price: Decimal


@dataclass(frozen=True)
class PricedLine:
    product_id: int
    quantity: int
    unit_price: Decimal
    subtotal: Decimal


@dataclass(frozen=True)
class Totals:
    lines: tuple[PricedLine, ...]
    subtotal: Decimal
    shipping: Decimal
    tax: Decimal
    total: Decimal
    currency: str


class UnknownDeliveryOption(LookupError):
    pass


def delivery_options() -> list[DeliveryOption]:
    """The flat-rate delivery options of ORDERS_DELIVERY_OPTIONS, in their configured order."""
    return [
        DeliveryOption(code=code, label=label, price=money.quantize(price))
        for code, (label, price) in settings.ORDERS_DELIVERY_OPTIONS.items()
    ]


def delivery_option(code: str) -> DeliveryOption:
    for option in delivery_options():
        if option.code == code:
            return option
    raise UnknownDeliveryOption(code)


def compute_totals(*, lines: list[tuple[int, int, Decimal]], delivery: str) -> Totals:
    """Totals for (product_id, quantity, unit_price) lines and a delivery option code."""
    rate = Decimal(str(settings.ORDERS_TAX_RATE))
    priced = tuple(
        PricedLine(product_id, quantity, money.quantize(price), money.quantize(money.quantize(price) * quantity))
        for product_id, quantity, price in lines
    )
    subtotal = money.quantize(sum((line.subtotal for line in priced), Decimal(0)))
    shipping = delivery_option(delivery).price
    taxable = subtotal + shipping
    if settings.ORDERS_PRICES_INCLUDE_TAX:
        tax = money.quantize(taxable * rate / (1 + rate))
        total = taxable
    else:
        tax = money.quantize(taxable * rate)
        total = taxable + tax
    return Totals(priced, subtotal, shipping, tax, money.quantize(total), money.currency())
