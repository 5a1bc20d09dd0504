"""Money: one shop currency, Decimal amounts quantized to its minor unit, half-up (ARCHITECTURE.md).

Never a float. Gateways get integer minor units (`to_minor_units`).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

# ISO 4217 minor units for the currencies we may sell in; anything else is refused loudly.
MINOR_UNITS = {"EUR": 2, "GBP": 2, "USD": 2, "CHF": 2, "SEK": 2, "DKK": 2, "NOK": 2, "PLN": 2, "CZK": 2, "JPY": 0}


def currency() -> str:
    return settings.SHOP_CURRENCY


def minor_unit(code: str | None = None) -> int:
    code = code or currency()
    if code not in MINOR_UNITS:
        raise ValueError(f"Unknown currency {code!r}: add its minor unit to shop.money.MINOR_UNITS")
    return MINOR_UNITS[code]


def quantize(amount: Decimal | int | str, code: str | None = None) -> Decimal:
    """`amount` rounded half-up to the currency's minor unit. Refuses floats (they are not exact)."""
    if isinstance(amount, float):
        raise TypeError("Money is never a float: pass a Decimal, an int or a string")
    return Decimal(amount).quantize(Decimal(1).scaleb(-minor_unit(code)), rounding=ROUND_HALF_UP)


def to_minor_units(amount: Decimal | int | str, code: str | None = None) -> int:
    """The integer a payment gateway wants: 12.34 EUR -> 1234."""
    return int(quantize(amount, code).scaleb(minor_unit(code)))


def from_minor_units(units: int, code: str | None = None) -> Decimal:
    return quantize(Decimal(units).scaleb(-minor_unit(code)), code)


def format_money(amount: Decimal | int | str, code: str | None = None) -> str:
    """Money as people read it, for staff screens and messages: 1,544.87 EUR (never minor units)."""
    code = code or currency()
    places = minor_unit(code)
    return f"{quantize(amount, code):,.{places}f} {code}"


def format_minor_units(units: int, code: str | None = None) -> str:
    """A gateway amount (integer minor units) as money: 154487 EUR -> "1,544.87 EUR"."""
    return format_money(from_minor_units(units, code), code)
