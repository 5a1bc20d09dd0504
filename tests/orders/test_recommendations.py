""""Customers also bought" computed from order lines (orders.services.compute_recommendations):
the Jaccard score and its order on a hand-made set of orders, the window, the states that count,
the minimum support, the cap per product, batches, reruns, and the ways it is run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from catalog import ranking_steps
from catalog.models import Category, Product, ProductRecommendation
from orders import services
from orders.models import Order
from orders.states import OrderState
from orders.tasks import compute_recommendations_task
from tests.catalog.factories import CategoryFactory, ProductFactory
from tests.orders.factories import placed_order

pytestmark = pytest.mark.django_db

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def bought(*products: Product, state: str = OrderState.DELIVERED, days_ago: int = 1) -> Order:
    """One order of these products (one unit each), in `state`, placed `days_ago` days before NOW."""
    order = placed_order(dict.fromkeys(products, 1), state=state)
    Order.objects.filter(pk=order.pk).update(created_at=NOW - timedelta(days=days_ago))
    return order


def stored(product: Product) -> list[tuple[int, float, int]]:
    """The product's list as stored: (recommended id, score, rank)."""
    rows = ProductRecommendation.objects.filter(product=product).order_by("rank")
    return [(r.recommended_id, r.score, r.rank) for r in rows]


@pytest.fixture
def category() -> Category:
    return CategoryFactory()


@pytest.fixture
def shop(category) -> dict[str, Product]:
    """X bought 3 times with S (S is bought with nothing else) and 4 times with E, a bestseller bought
    with every product: E is bought with X more often than S is, yet S says more about X."""
    products = {name: ProductFactory(title=name, category=category) for name in ("X", "S", "E")}
    products.update({f"F{n}": ProductFactory(title=f"F{n}", category=category) for n in range(6)})
    for _ in range(3):
        bought(products["X"], products["S"])
    for _ in range(4):
        bought(products["X"], products["E"])
    for n in range(6):
        for _ in range(2):
            bought(products[f"F{n}"], products["E"])
    return products


def test_a_product_bought_specifically_with_x_ranks_above_a_bestseller_bought_with_everything(shop):
    x, s, e = shop["X"], shop["S"], shop["E"]
    services.compute_recommendations(now=NOW)
    # X is in 7 orders, S in 3 (all with X), E in 16 (4 with X): Jaccard = together / either
    assert stored(x) == [(s.pk, 3 / 7, 1), (e.pk, 4 / 19, 2)]
    assert stored(s) == [(x.pk, 3 / 7, 1)]
    # E's list: X (4 of 19), then every F (2 of 16) in product id order, the tie broken by id
    assert stored(e) == [(x.pk, 4 / 19, 1), *[(shop[f"F{n}"].pk, 2 / 16, n + 2) for n in range(6)]]


def test_a_pair_bought_together_once_is_not_enough(category):
    a, b, c = ProductFactory.create_batch(3, category=category)
    bought(a, b)
    bought(a, c)
    bought(a, c)
    services.compute_recommendations(now=NOW)
    assert [r[0] for r in stored(a)] == [c.pk]
    assert stored(b) == []


@pytest.mark.parametrize(
    ("state", "days_ago", "counts"),
    [
        (OrderState.AUTHORIZED, 1, True),
        (OrderState.SHIPPED, 89, True),
        (OrderState.PARTIALLY_REFUNDED, 30, True),
        (OrderState.DELIVERED, 91, False),  # older than the window
        (OrderState.REJECTED, 1, False),
        (OrderState.CANCELLED, 1, False),
        (OrderState.PLACED, 1, False),  # not paid for yet
        (OrderState.PAYMENT_FAILED, 1, False),
    ],
)
def test_only_orders_paid_for_within_the_window_count(category, state, days_ago, counts):
    a, b = ProductFactory.create_batch(2, category=category)
    for _ in range(2):
        bought(a, b, state=state, days_ago=days_ago)
    services.compute_recommendations(now=NOW)
    assert [r[0] for r in stored(a)] == ([b.pk] if counts else [])


def test_the_window_is_a_setting(category, settings):
    settings.RECOMMENDATIONS_WINDOW_DAYS = 10
    a, b = ProductFactory.create_batch(2, category=category)
    for _ in range(2):
        bought(a, b, days_ago=11)
    services.compute_recommendations(now=NOW)
    assert stored(a) == []


def test_each_product_keeps_at_most_the_setting_s_number(shop, settings):
    settings.RECOMMENDATIONS_PER_PRODUCT = 3
    services.compute_recommendations(now=NOW)
    assert [r[2] for r in stored(shop["E"])] == [1, 2, 3]
    assert ProductRecommendation.objects.filter(product=shop["E"]).count() == 3


def test_a_rerun_over_the_same_orders_gives_the_same_rows_and_writes_nothing(shop):
    first = services.compute_recommendations(now=NOW)
    rows = list(ProductRecommendation.objects.order_by("pk").values_list("pk", "product", "recommended", "score", "rank"))
    again = services.compute_recommendations(now=NOW)
    assert list(ProductRecommendation.objects.order_by("pk").values_list("pk", "product", "recommended", "score", "rank")) == rows
    assert (first.products, first.rows, first.changed) == (9, 16, 9)
    assert (again.products, again.rows, again.changed) == (9, 16, 0)


def test_small_batches_give_the_same_lists_and_lists_that_lost_their_orders_go(shop, monkeypatch):
    services.compute_recommendations(now=NOW)
    whole = list(ProductRecommendation.objects.order_by("product", "rank").values_list("product", "recommended", "score", "rank"))
    ProductRecommendation.objects.all().delete()
    monkeypatch.setattr(services, "RECOMMENDATIONS_BATCH", 2)
    services.compute_recommendations(now=NOW)
    assert list(ProductRecommendation.objects.order_by("product", "rank").values_list("product", "recommended", "score", "rank")) == whole
    # 200 days later no order is in the window: every list goes, in every batch
    result = services.compute_recommendations(now=NOW + timedelta(days=200))
    assert ProductRecommendation.objects.count() == 0
    assert result.changed == 9


def test_the_catalog_ranking_job_runs_it_through_the_registered_step(category):
    a, b = ProductFactory.create_batch(2, category=category)
    for _ in range(2):
        placed_order({a: 1, b: 1}, state=OrderState.DELIVERED)  # placed now: in the window
    assert "orders.recommendations" in ranking_steps.registered()
    results = ranking_steps.run_all()
    assert results["orders.recommendations"] == services.RecommendationsResult(products=2, rows=2, changed=2)
    assert [r[0] for r in stored(a)] == [b.pk]


def test_the_command_and_the_task_compute_them(category):
    a, b = ProductFactory.create_batch(2, category=category)
    placed_order({a: 1, b: 1}, state=OrderState.AUTHORIZED)  # placed now: in the window
    placed_order({a: 1, b: 2}, state=OrderState.SHIPPED)
    out = StringIO()
    call_command("compute_recommendations", stdout=out)
    assert "2 products, 2 recommendations, 2 products changed" in out.getvalue()
    assert compute_recommendations_task.delay().get() == {"products": 2, "rows": 2, "changed": 0}
    assert [r[0] for r in stored(a)] == [b.pk] and [r[0] for r in stored(b)] == [a.pk]
