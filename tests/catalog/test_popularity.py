"""Issue 13: popularity from what customers do. Activity is counted without a database write on the
request path (Redis, riding in the page's one cache round trip), once per visitor and window,
never for a crawler; flushed to the activity tables exactly once; scored by the ranking job with
a decay anchored to a fixed epoch, rewriting only what changed; the cache warmed afterwards."""

from __future__ import annotations

import os
import threading
from datetime import UTC, date, datetime, timedelta
from unittest import mock

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog import activity
from catalog import cache as catalog_cache
from catalog.models import ActivityFlush, PopularityState, Product, ProductActivity, SearchActivity
from catalog.services import popularity
from tests.cache_helpers import count_cache_calls
from tests.catalog.factories import CategoryFactory, ProductFactory
from tests.shop.test_health import redis_down  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
CRAWLER = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
NOW = datetime(2030, 3, 14, 10, 30, tzinfo=UTC)  # fixed: a test never depends on today's date
TODAY = NOW.date()


@pytest.fixture
def fixed_now():
    with mock.patch.object(timezone, "now", return_value=NOW):
        yield NOW


@pytest.fixture
def embedded(settings):
    """The embedded default: the local-memory cache, no Redis (counts go straight to the tables)."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "pop"}}
    yield
    caches["default"].clear()


def counts(product: Product) -> tuple[int, int, int, int]:
    row = ProductActivity.objects.filter(product_id=product.pk, day=TODAY).first()
    return (row.views, row.carts, row.purchases, row.clicks) if row else (0, 0, 0, 0)


def visit(client, product: Product, agent: str = BROWSER, **headers):
    response = client.get(product.get_absolute_url(), HTTP_USER_AGENT=agent, **headers)
    assert response.status_code == 200
    return response


# --- Counting: once per visitor and window, never for a crawler ---------------------------------------


@pytest.mark.redis
def test_a_view_is_counted_once_per_visitor_and_window_and_never_for_a_crawler(client, fixed_now):
    shoe = ProductFactory(title="Trail shoe")
    visit(client, shoe)
    visit(client, shoe)  # the same visitor again within ACTIVITY_DEDUPE_SECONDS
    visit(client, shoe, agent=CRAWLER)
    visit(client, shoe, agent="Mozilla/5.0 (iPhone) Mobile Safari", REMOTE_ADDR="203.0.113.9")  # someone else
    activity.flush_activity()
    assert counts(shoe) == (2, 0, 0, 0)


@pytest.mark.redis
def test_the_view_rides_in_the_product_pages_cache_round_trips(client, fixed_now):
    shoe = ProductFactory(title="Trail shoe")
    visit(client, shoe)  # fills the cache
    visit(client, shoe, REMOTE_ADDR="203.0.113.1")  # the warm page, once more (its generation read)
    with count_cache_calls() as calls, CaptureQueriesContext(connection) as queries:
        visit(client, shoe, REMOTE_ADDR="203.0.113.2")
    assert calls.total == 1, calls.commands  # the page's own (docs/read-path.md): counting adds none
    assert not [q for q in queries.captured_queries if "activity" in q["sql"]]  # no write on the request path
    activity.flush_activity()
    assert counts(shoe)[0] == 3


def test_on_the_embedded_default_counts_go_straight_to_the_table(client, embedded, fixed_now):
    shoe = ProductFactory(title="Trail shoe")
    visit(client, shoe)
    visit(client, shoe)
    visit(client, shoe, agent=CRAWLER)
    assert counts(shoe) == (1, 0, 0, 0)


def test_with_redis_down_pages_render_and_nothing_raises(client, redis_down, fixed_now):  # noqa: F811
    shoe = ProductFactory(title="Trail shoe")
    page = visit(client, shoe)
    assert "Trail shoe" in page.content.decode()
    assert client.get("/search/?q=trail", HTTP_USER_AGENT=BROWSER).status_code == 200
    assert activity.flush_activity() == 0
    assert not ProductActivity.objects.exists()  # the counts are lost, nothing else


@pytest.mark.redis
def test_searches_zero_results_and_clicks_from_results_are_counted(client, fixed_now):
    lamp = ProductFactory(title="Brass desk lamp")
    client.get("/search/?q=Brass  LAMP", HTTP_USER_AGENT=BROWSER)
    client.get("/search/?q=unicorn", HTTP_USER_AGENT=BROWSER)
    visit(client, lamp, HTTP_REFERER="http://testserver/search/?q=brass+lamp")
    visit(client, lamp, REMOTE_ADDR="203.0.113.7", HTTP_REFERER="http://elsewhere.example/search/?q=brass+lamp")
    activity.flush_activity()
    rows = {r.query: (r.searches, r.zero_results, r.clicks) for r in SearchActivity.objects.filter(day=TODAY)}
    assert rows == {"brass lamp": (1, 0, 1), "unicorn": (1, 1, 0)}
    assert counts(lamp) == (2, 0, 0, 1)


def test_cart_adds_and_purchases_are_counted_per_unit(client, embedded, fixed_now, django_capture_on_commit_callbacks):
    from orders import services as order_services
    from tests.accounts.factories import UserFactory
    from tests.cart.factories import stocked_product
    from tests.orders.conftest import checkout_input, fill_cart

    shoe = stocked_product(title="Trail shoe", price="50.00", available=10)
    response = client.post("/cart/add/", {"product_id": shoe.pk, "quantity": 2}, HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 302
    customer = UserFactory()
    fill_cart(user=customer, lines={shoe: 3})
    with django_capture_on_commit_callbacks(execute=True):
        order_services.place_order(checkout=checkout_input(), customer=customer)
    assert counts(shoe) == (0, 2, 3, 0)


# --- The flush: exactly once --------------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)  # each flush thread commits on its own connection
def test_flushed_counts_match_the_increments_also_with_two_flushes_at_once(fixed_now):
    products = ProductFactory.create_batch(5)
    expected = {}
    for n, product in enumerate(products, start=1):
        activity.count_purchases(units={product.pk: n})
        expected[product.pk] = n
    results = []
    barrier = threading.Barrier(2)

    def flush() -> None:
        barrier.wait(timeout=10)
        results.append(activity.flush_activity())
        connection.close()

    threads = [threading.Thread(target=flush) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    got = dict(ProductActivity.objects.filter(day=TODAY).values_list("product_id", "purchases"))
    assert got == expected
    assert sum(results) == 1 and ActivityFlush.objects.count() == 1


@pytest.mark.redis
def test_a_flush_that_died_after_committing_is_not_applied_twice(fixed_now):
    shoe = ProductFactory()
    activity.count_purchases(units={shoe.pk: 4})
    # a flush that committed its counts, then died before taking its batch out of Redis
    with mock.patch.object(activity, "_forget_batch", side_effect=RuntimeError("killed")), pytest.raises(RuntimeError):
        activity.flush_activity()
    assert counts(shoe) == (0, 0, 4, 0)
    activity.count_purchases(units={shoe.pk: 1})  # a new count meanwhile
    assert activity.flush_activity() == 1  # the leftover batch is skipped (its id is recorded), the new one applied
    assert counts(shoe) == (0, 0, 5, 0)
    assert activity.flush_activity() == 0


@pytest.mark.redis
def test_a_flush_that_died_before_committing_is_finished_by_the_next(fixed_now):
    shoe = ProductFactory()
    activity.count_purchases(units={shoe.pk: 4})
    with mock.patch.object(activity, "_apply_counts", side_effect=RuntimeError("killed")), pytest.raises(RuntimeError):
        activity.flush_activity()
    assert counts(shoe) == (0, 0, 0, 0) and not ActivityFlush.objects.exists()  # rolled back
    assert activity.flush_activity() == 1
    assert counts(shoe) == (0, 0, 4, 0)


# --- The ranking job -----------------------------------------------------------------------------------


def _history(rows: list[tuple[Product, date, int, int, int, int]]) -> None:
    activity.ensure_partitions({day for _, day, *_ in rows})
    ProductActivity.objects.bulk_create(
        [ProductActivity(product_id=p.pk, day=d, views=v, carts=c, purchases=b, clicks=k) for p, d, v, c, b, k in rows]
    )


def test_scores_follow_the_formula_and_a_rerun_or_an_hour_later_writes_nothing(settings, embedded):
    settings.POPULARITY_WINDOW_DAYS, settings.POPULARITY_HALF_LIFE_DAYS = 10, 5
    settings.POPULARITY_WEIGHTS = {"views": 1.0, "carts": 3.0, "purchases": 10.0, "clicks": 2.0}
    old, new, idle = ProductFactory(), ProductFactory(), ProductFactory(popularity=7.0)
    _history([
        (old, TODAY - timedelta(days=9), 100, 0, 0, 0),  # the window's first day
        (old, TODAY - timedelta(days=20), 1000, 0, 0, 0),  # outside the window: ignored
        (new, TODAY, 10, 2, 1, 3),
    ])  # fmt: skip
    first = popularity.recompute_popularity(today=TODAY, warm=False)
    epoch = PopularityState.objects.get().epoch
    assert epoch == TODAY - timedelta(days=9)
    old.refresh_from_db()
    new.refresh_from_db()
    idle.refresh_from_db()
    assert old.popularity == pytest.approx(100 * 2 ** (0 / 5))
    assert new.popularity == pytest.approx((10 + 2 * 3 + 10 + 3 * 2) * 2 ** (9 / 5))
    assert idle.popularity == 0  # no activity in the window
    assert (first.scored, first.changed) == (2, 3)
    assert popularity.recompute_popularity(today=TODAY, warm=False).changed == 0  # a rerun
    with mock.patch.object(timezone, "now", return_value=NOW + timedelta(hours=1)):
        assert popularity.recompute_popularity(today=TODAY, warm=False).changed == 0  # an hour later


def test_a_product_without_new_activity_keeps_its_score_while_new_activity_weighs_more(settings, embedded):
    settings.POPULARITY_WINDOW_DAYS, settings.POPULARITY_HALF_LIFE_DAYS = 30, 7
    before, after = ProductFactory(), ProductFactory()
    _history([(before, TODAY - timedelta(days=7), 10, 0, 0, 0)])
    popularity.recompute_popularity(today=TODAY - timedelta(days=7), warm=False)
    kept = Product.objects.get(pk=before.pk).popularity
    _history([(after, TODAY, 10, 0, 0, 0)])
    run = popularity.recompute_popularity(today=TODAY, warm=False)
    assert run.changed == 1  # only the product with new activity
    assert Product.objects.get(pk=before.pk).popularity == kept
    assert Product.objects.get(pk=after.pk).popularity == pytest.approx(2 * kept)  # a week newer: twice the weight


def test_the_epoch_moves_and_scores_rescale_only_past_the_factor(settings, embedded):
    settings.POPULARITY_WINDOW_DAYS, settings.POPULARITY_HALF_LIFE_DAYS, settings.POPULARITY_RESCALE_FACTOR = 5, 1, 8
    shoe = ProductFactory()
    _history([(shoe, TODAY, 1, 0, 0, 0)])
    popularity.recompute_popularity(today=TODAY, warm=False)
    assert Product.objects.get(pk=shoe.pk).popularity == pytest.approx(16)  # epoch TODAY - 4: 2 ** 4
    three_later = popularity.recompute_popularity(today=TODAY + timedelta(days=3), warm=False)
    assert not three_later.rescaled and PopularityState.objects.get().epoch == TODAY - timedelta(days=4)
    four_later = popularity.recompute_popularity(today=TODAY + timedelta(days=4), warm=False)
    assert four_later.rescaled and PopularityState.objects.get().epoch == TODAY  # today's weight passed 8x
    assert Product.objects.get(pk=shoe.pk).popularity == pytest.approx(1)  # 16 rescaled by 2 ** -4


def test_changed_products_are_reindexed_and_get_a_new_listing_generation(settings, embedded,
                                                                        django_capture_on_commit_callbacks):  # fmt: skip
    settings.SEARCH_BACKEND = "elasticsearch"  # Elasticsearch keeps a copy of popularity
    hot, cold = ProductFactory(), ProductFactory()
    _history([(hot, TODAY, 5, 0, 0, 0)])
    generation = catalog_cache.listing_generation()
    with mock.patch("catalog.search.schedule_index") as schedule, django_capture_on_commit_callbacks(execute=True):
        popularity.recompute_popularity(today=TODAY, warm=False)
    assert [call.kwargs["product_ids"] for call in schedule.call_args_list] == [[hot.pk]]
    assert catalog_cache.listing_generation() != generation
    with mock.patch("catalog.search.schedule_index") as schedule:
        popularity.recompute_popularity(today=TODAY, warm=False)
    assert schedule.call_count == 0 and cold.pk  # nothing changed: nothing re-indexed


@pytest.mark.postgres
def test_partitions_are_made_ahead_and_old_ones_dropped_whole(settings):
    settings.ACTIVITY_RETENTION_DAYS = 10
    shoe = ProductFactory()
    _history([(shoe, TODAY - timedelta(days=20), 1, 0, 0, 0), (shoe, TODAY, 1, 0, 0, 0)])
    popularity.recompute_popularity(today=TODAY, warm=False)
    with connection.cursor() as cursor:
        cursor.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                       "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'catalog_productactivity'")  # fmt: skip
        names = {row[0] for row in cursor.fetchall()}
    assert activity.partition_name("catalog_productactivity", TODAY + timedelta(days=7)) in names
    assert activity.partition_name("catalog_productactivity", TODAY - timedelta(days=20)) not in names
    assert list(ProductActivity.objects.values_list("day", flat=True)) == [TODAY]


# --- Warm-up -------------------------------------------------------------------------------------------


def test_a_warmed_product_page_is_served_with_no_catalog_query(client, settings, fixed_now):
    top, other = ProductFactory(title="Top seller", popularity=50), ProductFactory(popularity=1)
    assert popularity.warm_cache(top=1) == 1
    with CaptureQueriesContext(connection) as queries:
        page = client.get(top.get_absolute_url())
    assert page.status_code == 200 and "Top seller" in page.content.decode()
    catalog_reads = [q["sql"] for q in queries.captured_queries if '"catalog_product"' in q["sql"]]
    assert catalog_reads == []
    with CaptureQueriesContext(connection) as queries:
        client.get(other.get_absolute_url())
    assert any('"catalog_product"' in q["sql"] for q in queries.captured_queries)  # not warmed: read


# --- End to end on the embedded default ----------------------------------------------------------------


def test_viewed_and_bought_together_rank_higher_and_recommend_each_other(client, embedded,
                                                                        django_capture_on_commit_callbacks):  # fmt: skip
    from orders import services as order_services
    from tests.accounts.factories import UserFactory
    from tests.cart.factories import stocked_product
    from tests.orders.conftest import checkout_input, fill_cart

    lamps = CategoryFactory(name="Lamps", slug="lamps")
    first = stocked_product(title="Aaa lamp", price="10.00", available=50, category=lamps, popularity=5)
    second = stocked_product(title="Bbb lamp", price="10.00", available=50, category=lamps, popularity=1)
    bulb = stocked_product(title="Warm bulb", price="3.00", available=50, popularity=0)
    page = client.get("/c/lamps/?sort=popularity").content.decode()
    assert page.index("Aaa lamp") < page.index("Bbb lamp")
    for n in range(3):  # viewed, and bought together with a bulb, three times
        visit(client, second, REMOTE_ADDR=f"198.51.100.{n}")
        customer = UserFactory()
        fill_cart(user=customer, lines={second: 1, bulb: 1})
        with django_capture_on_commit_callbacks(execute=True):
            order_services.place_order(checkout=checkout_input(), customer=customer)
    with django_capture_on_commit_callbacks(execute=True):  # the listings' new generation
        popularity.recompute_popularity()
    page = client.get("/c/lamps/?sort=popularity").content.decode()
    assert page.index("Bbb lamp") < page.index("Aaa lamp")
    assert Product.objects.get(pk=first.pk).popularity == 0  # the demo value gave way to what customers did
    product_page = client.get(second.get_absolute_url()).content.decode()
    assert "Customers also bought" in product_page and "Warm bulb" in product_page
    api = client.get(f"/api/v1/products/{second.pk}/recommendations").json()
    assert api["source"] == "bought_together" and [c["id"] for c in api["results"]] == [bulb.pk]


# --- For staff: top products and search analytics ------------------------------------------------------


def test_top_products_shows_the_ranking_with_each_products_last_14_days(client, fixed_now):
    from tests.accounts.factories import UserFactory

    best = ProductFactory(title="Best lamp", popularity=90)
    ProductFactory(title="Second lamp", popularity=10)
    _history([(best, TODAY, 12, 0, 3, 0), (best, TODAY - timedelta(days=13), 4, 0, 0, 0),
              (best, TODAY - timedelta(days=14), 1000, 0, 0, 0)])  # fmt: skip  (a day outside the chart)
    client.force_login(UserFactory(superuser=True))
    page = client.get("/admin/catalog/product/top/").content.decode()
    assert page.index("Best lamp") < page.index("Second lamp")
    assert 'aria-label="Best lamp: 16 views and 3 units bought in 14 days"' in page
    assert page.count("<polyline") >= 2 and "<rect" in page
    assert "hit rate" in page


def test_search_analytics_lists_top_queries_no_results_and_click_through(client, fixed_now):
    from django.contrib.auth.models import Group

    from tests.accounts.factories import UserFactory

    activity.ensure_partitions([TODAY, TODAY - timedelta(days=3), TODAY - timedelta(days=40)])
    SearchActivity.objects.bulk_create([
        SearchActivity(day=TODAY, query="lamp", searches=40, zero_results=0, clicks=10),
        SearchActivity(day=TODAY - timedelta(days=3), query="lamp", searches=10, zero_results=0, clicks=5),
        SearchActivity(day=TODAY, query="unicorn lamp", searches=7, zero_results=7, clicks=0),
        SearchActivity(day=TODAY - timedelta(days=40), query="old", searches=500, zero_results=500, clicks=0),
    ])  # fmt: skip
    manager = UserFactory(is_staff=True)
    manager.groups.add(Group.objects.get(name="Catalog managers"))
    client.force_login(manager)
    page = client.get("/admin/catalog/product/search-analytics/").content.decode()
    flat = " ".join(page.split())
    assert "<td>lamp</td><td>50</td><td>0</td><td>15</td><td>30 %</td>" in flat.replace("> <", "><")
    assert "<td>unicorn lamp</td><td>7</td><td>7</td>" in flat.replace("> <", "><")
    assert "<td>old</td>" not in flat  # older than 30 days
    client.force_login(UserFactory(is_staff=True))  # staff without the catalog's view permission
    assert client.get("/admin/catalog/product/search-analytics/").status_code == 403


def test_a_new_demo_shop_has_a_ranking_the_job_reproduces(embedded):
    from django.core.management import call_command

    call_command("load_demo_catalog", products=40, no_images=True, stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert ProductActivity.objects.exists()
    scores = dict(Product.objects.values_list("pk", "popularity"))
    assert len({round(score, 6) for score in scores.values()}) > 5  # a ranking, not a flat line
    assert popularity.recompute_popularity(warm=False).changed == 0
    call_command("load_demo_catalog", products=40, no_images=True, stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert dict(Product.objects.values_list("pk", "popularity")) == scores  # a top-up keeps the history


def test_a_malformed_referer_is_no_click_and_never_an_error_page(client, embedded, fixed_now):
    lamp = ProductFactory(title="Brass desk lamp")
    assert visit(client, lamp, HTTP_REFERER="http://[x").status_code == 200
    assert counts(lamp) == (1, 0, 0, 0)


@pytest.mark.redis
def test_a_query_with_control_characters_is_kept_clean_and_a_reload_is_one_click(client, fixed_now):
    lamp = ProductFactory(title="Brass desk lamp")
    for _ in range(2):  # the result opened, then the page reloaded
        visit(client, lamp, HTTP_REFERER="http://testserver/search/?q=brass%00lamp%07")
    assert activity.flush_activity() == 1  # the database took the batch (no NUL reached it)
    assert list(SearchActivity.objects.values_list("query", "clicks")) == [("brass lamp", 1)]
    assert counts(lamp) == (1, 0, 0, 1)
