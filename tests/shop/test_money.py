"""Money is exact: Decimal quantized half-up to the currency's minor unit, never a float."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shop import money


@pytest.mark.parametrize(
    ("amount", "code", "expected"),
    [("1.005", "EUR", "1.01"), ("1.004", "EUR", "1.00"), ("-1.005", "EUR", "-1.01"), ("2.5", "JPY", "3"),
     ("19.999", "EUR", "20.00"), (7, "EUR", "7.00")],
)  # fmt: skip
def test_amounts_round_half_up_to_the_minor_unit(amount, code, expected):
    assert money.quantize(amount, code) == Decimal(expected)
    assert str(money.quantize(amount, code)) == expected


def test_the_shop_currency_comes_from_settings(settings):
    settings.SHOP_CURRENCY = "JPY"
    assert money.quantize("10.5") == Decimal("11")
    assert money.to_minor_units("10.5") == 11


def test_gateways_get_integer_minor_units():
    assert money.to_minor_units(Decimal("12.34"), "EUR") == 1234
    assert money.to_minor_units("0.005", "EUR") == 1
    assert money.from_minor_units(1234, "EUR") == Decimal("12.34")


def test_floats_and_unknown_currencies_are_refused():
    with pytest.raises(TypeError):
        money.quantize(0.1, "EUR")
    with pytest.raises(ValueError, match="XYZ"):
        money.quantize("1", "XYZ")


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_minor_units_round_trip(units):
    assert money.to_minor_units(money.from_minor_units(units, "EUR"), "EUR") == units
