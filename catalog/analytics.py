"""What staff read about what customers do (issue 13): the top products with their last days of
activity, and search analytics. Read-only selectors over the activity tables, each a fixed number
of aggregate queries on the day-bounded partitions (a replica where one is configured)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import F, Sum

from catalog.models import Product, ProductActivity, SearchActivity
from shop.db_router import replica_ok

CHART_WIDTH, CHART_HEIGHT = 140, 32


@dataclass(frozen=True)
class TopProduct:
    id: int
    title: str
    score: float
    views: list[int]  # per day, oldest first
    purchases: list[int]

    @property
    def total_views(self) -> int:
        return sum(self.views)

    @property
    def total_purchases(self) -> int:
        return sum(self.purchases)

    @property
    def view_points(self) -> str:
        """The views as an SVG polyline's points (the chart's full height is the product's busiest day)."""
        return _points(self.views)

    @property
    def purchase_bars(self) -> list[tuple[float, float, float]]:
        """(x, y, height) of a bar per day with units bought, scaled like the views."""
        top = max(self.views + self.purchases) or 1
        step = CHART_WIDTH / max(len(self.purchases), 1)
        bars = []
        for n, units in enumerate(self.purchases):
            if units:
                height = max(2.0, CHART_HEIGHT * units / top)
                bars.append((round(n * step, 1), round(CHART_HEIGHT - height, 1), round(height, 1)))
        return bars


def _points(values: list[int]) -> str:
    top = max(values) or 1
    step = CHART_WIDTH / max(len(values) - 1, 1)
    return " ".join(f"{round(n * step, 1)},{round(CHART_HEIGHT - CHART_HEIGHT * v / top, 1)}" for n, v in enumerate(values))


@replica_ok
def top_products(*, today: date, limit: int = 50, days: int = 14) -> list[TopProduct]:
    """The `limit` active products with the highest popularity, each with its views and units
    bought per day over the last `days` days (today included). Two queries."""
    products = list(Product.objects.filter(is_active=True).order_by("-popularity", "-id")
                    .values_list("pk", "title", "popularity")[:limit])  # fmt: skip
    first = today - timedelta(days=days - 1)
    series = {pk: ([0] * days, [0] * days) for pk, _, _ in products}
    rows = ProductActivity.objects.filter(product_id__in=list(series), day__range=(first, today))
    for product_id, day, views, purchases in rows.values_list("product_id", "day", "views", "purchases"):
        series[product_id][0][(day - first).days] = views
        series[product_id][1][(day - first).days] = purchases
    return [TopProduct(id=pk, title=title, score=score, views=series[pk][0], purchases=series[pk][1])
            for pk, title, score in products]  # fmt: skip


@dataclass(frozen=True)
class QueryFigures:
    query: str
    searches: int
    zero_results: int
    clicks: int

    @property
    def click_through(self) -> float | None:
        """Results opened per search (None when it was never searched here)."""
        return self.clicks / self.searches if self.searches else None


@replica_ok
def search_analytics(*, today: date, days: int = 30, limit: int = 50) -> dict[str, list[QueryFigures]]:
    """Over the last `days` days: the most searched queries (with their click-through), and the
    queries that most often found nothing. Two aggregate queries."""
    recent = SearchActivity.objects.filter(day__range=(today - timedelta(days=days - 1), today)).values("query")
    totals = recent.annotate(s=Sum("searches"), z=Sum("zero_results"), c=Sum("clicks"))

    def figures(rows) -> list[QueryFigures]:
        return [QueryFigures(r["query"], r["s"], r["z"], r["c"]) for r in rows]

    return {
        "top": figures(totals.order_by(F("s").desc(), "query")[:limit]),
        "no_results": figures(totals.filter(z__gt=0).order_by(F("z").desc(), "query")[:limit]),
    }
