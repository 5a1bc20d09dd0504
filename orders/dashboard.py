"""The orders blocks of the staff dashboard (shop.dashboard): orders, revenue, what sells.

Figures come from orders.selectors: aggregate queries over a bounded time range (the last 30
days) on the created_at and state indexes, read from a replica where one is configured. The
revenue block needs `orders.view_revenue` (no staff group has it by default: superusers, or
staff it is given to); the orders block needs `orders.view_order`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from orders import selectors
from orders.states import OrderState
from shop.dashboard import Block, register
from shop.money import format_money

DAYS = 30
CHART_WIDTH, CHART_HEIGHT = 600, 120


def _days(now: datetime):
    today = timezone.localdate(now)
    first = today - timedelta(days=DAYS - 1)
    week_start = today - timedelta(days=today.weekday())  # Monday
    return today, first, week_start


def _sales(now: datetime, memo: dict) -> list[selectors.DaySales]:
    """The 30 days' sales, read once per page: both blocks get them from the page's memo."""
    if "orders.sales" not in memo:
        today, first, _ = _days(now)
        memo["orders.sales"] = selectors.sales_by_day(first_day=first, last_day=today)
    return memo["orders.sales"]


def orders_figures(*, now: datetime, memo: dict) -> dict:
    _, first, week_start = _days(now)
    sales = _sales(now, memo)
    since = timezone.make_aware(datetime.combine(first, datetime.min.time()))
    changelist = reverse("admin:orders_order_changelist")
    by_state = selectors.count_by_state(since=since)
    return {
        "today": sales[-1].orders,
        "week": sum(day.orders for day in sales if day.day >= week_start),
        "month": sum(day.orders for day in sales),
        "states": [
            {
                "label": OrderState(state).label,
                "count": count,
                "url": f"{changelist}?state__exact={state}&created_at__gte={first.isoformat()}",
            }
            for state, count in by_state.items()
            if count
        ],
        "stuck": selectors.count_stuck(now=now),
        "stuck_url": f"{changelist}?state__exact={OrderState.PAYMENT_FAILED}",
        "top_products": selectors.top_products(since=since),
        "days": DAYS,
    }


def revenue_figures(*, now: datetime, memo: dict) -> dict:
    today, first, week_start = _days(now)
    sales = _sales(now, memo)
    money = lambda amount: format_money(amount)  # noqa: E731
    highest = max((day.revenue for day in sales), default=Decimal(0)) or Decimal(1)
    step = CHART_WIDTH / len(sales)
    bars = [
        {"x": round(n * step, 1), "width": round(step * 0.8, 1),
         "height": round(float(day.revenue / highest) * CHART_HEIGHT, 1),
         "y": round(CHART_HEIGHT - float(day.revenue / highest) * CHART_HEIGHT, 1),
         "title": f"{day.day.isoformat()}: {money(day.revenue)}, {day.orders} orders"}
        for n, day in enumerate(sales)
    ]  # fmt: skip
    return {
        "today": money(sales[-1].revenue),
        "week": money(sum((day.revenue for day in sales if day.day >= week_start), Decimal(0))),
        "month": money(sum((day.revenue for day in sales), Decimal(0))),
        "bars": bars,
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT,
        "first_day": first,
        "last_day": today,
        "days": DAYS,
    }


register(Block("orders", "Orders", "orders.view_order", "orders/dashboard/orders.html", orders_figures, order=10))
register(Block("revenue", "Revenue", "orders.view_revenue", "orders/dashboard/revenue.html", revenue_figures, order=20))
