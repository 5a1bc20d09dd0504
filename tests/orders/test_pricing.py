"""Order totals: exact Decimal amounts, flat-rate delivery, one tax rate, half-up rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orders.pricing import UnknownDeliveryOption, compute_totals, delivery_options

D = Decimal


def test_tax_inclusive_totals_split_out_the_tax():
    totals = compute_totals(lines=[(1, 2, D("19.99")), (2, 1, D("5.00"))], delivery="standard")
    assert [line.subtotal for line in totals.lines] == [D("39.98"), D("5.00")]
    assert (totals.subtotal, totals.shipping, totals.total) == (D("44.98"), D("4.95"), D("49.93"))
    assert totals.tax == D("7.97")  # 49.93 * 0.19 / 1.19 = 7.972... half-up
    assert totals.currency == "EUR"


def test_net_prices_add_the_tax_on_top(settings):
    settings.ORDERS_PRICES_INCLUDE_TAX = False
    totals = compute_totals(lines=[(1, 1, D("100.00"))], delivery="express")
    assert (totals.subtotal, totals.shipping, totals.tax, totals.total) == (
        D("100.00"), D("9.95"), D("20.89"), D("130.84"),
    )  # fmt: skip


def test_delivery_options_come_from_settings_in_order(settings):
    settings.ORDERS_DELIVERY_OPTIONS = {"pickup": ("Pick up in store", "0"), "standard": ("Standard", "3.5")}
    assert [(o.code, o.price) for o in delivery_options()] == [("pickup", D("0.00")), ("standard", D("3.50"))]


def test_an_unknown_delivery_option_is_refused():
    with pytest.raises(UnknownDeliveryOption):
        compute_totals(lines=[(1, 1, D("1.00"))], delivery="teleport")


@given(
    st.lists(
        st.tuples(st.integers(1, 99), st.decimals(min_value=0, max_value=10000, places=2)), min_size=1, max_size=20
    )
)
def test_totals_add_up_exactly(raw_lines):
    lines = [(n, quantity, price) for n, (quantity, price) in enumerate(raw_lines)]
    totals = compute_totals(lines=lines, delivery="standard")
    assert totals.subtotal == sum(price * quantity for _, quantity, price in lines)
    assert totals.total == totals.subtotal + totals.shipping
    assert totals.tax.as_tuple().exponent == -2
    assert 0 <= totals.tax <= totals.total
