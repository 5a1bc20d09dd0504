"""The ranking job: each product's popularity from what customers did (issue 13, docs/popularity.md).

    score(p) = sum over the days d of the last POPULARITY_WINDOW_DAYS (today included) of
               (views * w_view + carts * w_cart + purchases * w_purchase + clicks * w_click)
               * 2 ** ((d - epoch) / POPULARITY_HALF_LIFE_DAYS)

The decay is anchored to a fixed day (`PopularityState.epoch`), not to today: a day's weight
never changes once it is past, so a product with no new activity keeps its score while newer
activity weighs more (a half-life of 7 days: a view a week old counts half a view of today). The
epoch moves, and every score is rescaled once, only when today's weight would pass
POPULARITY_RESCALE_FACTOR (every ~10 half-lives). A run rewrites only the products whose score
moved by more than POPULARITY_CHANGE_THRESHOLD of itself, so at a million products an hourly run
touches, re-indexes and re-caches what changed, not the catalog.

On PostgreSQL the scores are computed and written by one set-based statement that aggregates the
activity partitions of the window and writes the changed ids into a temporary table, read back in
batches (memory is bounded whatever the catalog's size); on SQLite the same formula streams in
Python. Deterministic (same activity, same scores) and idempotent (a rerun writes nothing).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from catalog import activity, ranking_steps, search
from catalog import cache as catalog_cache
from catalog.models import ActivityFlush, PopularityState, Product, ProductActivity

logger = logging.getLogger(__name__)

STATE_ROW = 1  # PopularityState has one row
FLUSH_LEDGER_DAYS = 7  # ActivityFlush rows kept (a dead flush's batch is finished within minutes)
CHANGED_BATCH = 1000  # changed ids read back, indexed and scheduled per batch
FUTURE_PARTITIONS = 7  # days of activity partitions made ahead
SCORE_FLOOR = 1e-9  # a change is relative to the larger score, and to at least this


@dataclass(frozen=True)
class RankingResult:
    scored: int  # products with activity in the window
    changed: int  # products whose score was rewritten
    rows: int  # activity rows read
    seconds: float
    rescaled: bool
    warmed: int
    flushed: int

    def as_line(self) -> str:
        rate = self.rows / self.seconds if self.seconds else 0
        return (f"{self.rows:,} activity rows, {self.scored:,} products scored, {self.changed:,} rewritten"
                f"{' (epoch moved: every score rescaled)' if self.rescaled else ''}, {self.warmed:,} warmed, "
                f"in {self.seconds:.2f} s ({rate:,.0f} rows/s)")  # fmt: skip


def day_weight(day: date, epoch: date) -> float:
    return 2.0 ** ((day - epoch).days / settings.POPULARITY_HALF_LIFE_DAYS)


def score_of(counts: dict[str, int], day: date, epoch: date) -> float:
    """One day's contribution (counts by column name), as the SQL computes it."""
    weights = settings.POPULARITY_WEIGHTS
    return sum(counts.get(column, 0) * weights[column] for column in weights) * day_weight(day, epoch)


def recompute_popularity(*, today: date | None = None, warm: bool = True) -> RankingResult:
    """Flush pending activity, keep the partitions (made ahead, old ones dropped whole), score the
    window and rewrite what changed; changed products go to search indexing (Elasticsearch keeps
    a copy of popularity; PostgreSQL reads it live) and the listings get a new generation; then the
    top CACHE_WARM_TOP products are warmed into the cache."""
    started = time.monotonic()
    today = today or timezone.now().date()
    flushed = activity.flush_activity()
    ActivityFlush.objects.filter(flushed_at__lt=timezone.now() - timedelta(days=FLUSH_LEDGER_DAYS)).delete()
    activity.ensure_partitions(today + timedelta(days=n) for n in range(-1, FUTURE_PARTITIONS + 1))
    activity.drop_partitions_before(today - timedelta(days=settings.ACTIVITY_RETENTION_DAYS))
    with transaction.atomic():
        state, rescaled = _state(today)
        start = today - timedelta(days=settings.POPULARITY_WINDOW_DAYS - 1)
        if connection.vendor == "postgresql":
            scored, changed, rows = _rank_in_sql(start, today, state.epoch)
        else:
            scored, changed, rows = _rank_in_python(start, today, state.epoch)
        if changed:
            transaction.on_commit(catalog_cache.invalidate_listings)
        state.last_run_at, state.last_changed = timezone.now(), changed
        state.last_seconds = time.monotonic() - started
        state.save()
    ranking_steps.run_all()  # registered by other apps (orders: "customers also bought")
    warmed = warm_cache(top=settings.CACHE_WARM_TOP) if warm else 0
    result = RankingResult(scored=scored, changed=changed, rows=rows, seconds=time.monotonic() - started,
                           rescaled=rescaled, warmed=warmed, flushed=flushed)  # fmt: skip
    logger.info("popularity: %s", result.as_line())
    return result


def _state(today: date) -> tuple[PopularityState, bool]:
    """The ranking's row, locked; its epoch moved (and every score rescaled) when today's weight
    would pass POPULARITY_RESCALE_FACTOR. (state, rescaled)."""
    fresh_epoch = today - timedelta(days=settings.POPULARITY_WINDOW_DAYS - 1)
    PopularityState.objects.get_or_create(pk=STATE_ROW, defaults={"epoch": fresh_epoch})  # two first runs: one row
    state = PopularityState.objects.select_for_update().get(pk=STATE_ROW)
    if day_weight(today, state.epoch) <= settings.POPULARITY_RESCALE_FACTOR * day_weight(today, fresh_epoch):
        return state, False  # today's weight is within the factor of what a fresh epoch gives it
    factor = 2.0 ** ((state.epoch - fresh_epoch).days / settings.POPULARITY_HALF_LIFE_DAYS)
    Product.objects.exclude(popularity=0).update(popularity=F("popularity") * factor)
    if search.popularity_is_copied():  # Elasticsearch keeps a copy of every rescaled score
        rescaled = Product.objects.exclude(popularity=0).order_by("pk").values_list("pk", flat=True)
        batch: list[int] = []
        for pk in rescaled.iterator(chunk_size=CHANGED_BATCH):
            batch.append(pk)
            if len(batch) == CHANGED_BATCH:
                search.schedule_ranking_update(product_ids=batch)
                batch = []
        if batch:
            search.schedule_ranking_update(product_ids=batch)
    state.epoch = fresh_epoch
    return state, True


RANK_SQL = """
WITH s AS (
    SELECT product_id,
           SUM((views * %(w_views)s + carts * %(w_carts)s + purchases * %(w_purchases)s + clicks * %(w_clicks)s)
               * power(2.0, (day - %(epoch)s::date)::float8 / %(half_life)s)) AS score,
           COUNT(*) AS days
    FROM catalog_productactivity
    WHERE day BETWEEN %(start)s AND %(today)s
    GROUP BY product_id
), changed AS (
    UPDATE catalog_product p SET popularity = s.score
    FROM s
    WHERE p.id = s.product_id
      AND abs(p.popularity - s.score) > %(threshold)s * greatest(abs(p.popularity), abs(s.score), %(floor)s)
    RETURNING p.id
), gone AS (
    UPDATE catalog_product p SET popularity = 0
    WHERE p.popularity <> 0 AND NOT EXISTS (SELECT 1 FROM s WHERE s.product_id = p.id)
    RETURNING p.id
), counted AS (
    INSERT INTO popularity_changed (id) SELECT id FROM changed UNION ALL SELECT id FROM gone
    RETURNING 1
)
SELECT (SELECT count(*) FROM s), (SELECT count(*) FROM counted), (SELECT coalesce(sum(days), 0) FROM s)
"""


def _rank_in_sql(start: date, today: date, epoch: date) -> tuple[int, int, int]:
    weights = {f"w_{column}": float(weight) for column, weight in settings.POPULARITY_WEIGHTS.items()}
    params = {**weights, "epoch": epoch, "half_life": float(settings.POPULARITY_HALF_LIFE_DAYS), "start": start,
              "today": today, "threshold": settings.POPULARITY_CHANGE_THRESHOLD, "floor": SCORE_FLOOR}  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS pg_temp.popularity_changed")  # a run inside an outer transaction
        cursor.execute("CREATE TEMPORARY TABLE popularity_changed (id bigint) ON COMMIT DROP")
        cursor.execute(RANK_SQL, params)
        scored, changed, rows = cursor.fetchone()
        if changed:
            cursor.execute("SELECT id FROM popularity_changed ORDER BY id")
            while batch := cursor.fetchmany(CHANGED_BATCH):
                search.schedule_ranking_update(product_ids=[row[0] for row in batch])
    return int(scored), int(changed), int(rows)


def _rank_in_python(start: date, today: date, epoch: date) -> tuple[int, int, int]:
    """The same formula streamed in Python (SQLite, the embedded default): scores per product in id
    order, compared and written CHANGED_BATCH products at a time (memory bounded by the batch)."""
    threshold, scored, changed = settings.POPULARITY_CHANGE_THRESHOLD, 0, 0
    batch: list[tuple[int, float]] = []

    def write(batch: list[tuple[int, float]]) -> int:
        current = dict(Product.objects.filter(pk__in=[pk for pk, _ in batch]).values_list("pk", "popularity"))
        moved = [Product(pk=pk, popularity=score) for pk, score in batch if pk in current
                 and abs(current[pk] - score) > threshold * max(abs(current[pk]), abs(score), SCORE_FLOOR)]  # fmt: skip
        if moved:
            Product.objects.bulk_update(moved, ["popularity"])
            search.schedule_ranking_update(product_ids=[p.pk for p in moved])
        return len(moved)

    for entry in _scores(start, today, epoch):
        scored += 1
        batch.append(entry)
        if len(batch) == CHANGED_BATCH:
            changed, batch = changed + write(batch), []
    if batch:
        changed += write(batch)
    in_window = ProductActivity.objects.filter(day__range=(start, today), product_id=OuterRef("pk"))
    gone = Product.objects.exclude(popularity=0).filter(~Exists(in_window))
    gone_ids = list(gone.values_list("pk", flat=True)[:CHANGED_BATCH])
    while gone_ids:  # products whose activity left the window, CHANGED_BATCH at a time
        Product.objects.filter(pk__in=gone_ids).update(popularity=0)
        search.schedule_ranking_update(product_ids=gone_ids)
        changed += len(gone_ids)
        gone_ids = list(gone.values_list("pk", flat=True)[:CHANGED_BATCH])
    rows = ProductActivity.objects.filter(day__range=(start, today)).count()
    return scored, changed, rows


def _scores(start: date, today: date, epoch: date) -> Iterator[tuple[int, float]]:
    rows = (
        ProductActivity.objects.filter(day__range=(start, today))
        .order_by("product_id", "day")
        .values_list("product_id", "day", "views", "carts", "purchases", "clicks")
        .iterator(chunk_size=2000)
    )
    current, total = None, 0.0
    for product_id, day, views, carts, purchases, clicks in rows:
        if product_id != current:
            if current is not None:
                yield current, total
            current, total = product_id, 0.0
        total += score_of({"views": views, "carts": carts, "purchases": purchases, "clicks": clicks}, day, epoch)
    if current is not None:
        yield current, total


# --- Cache warm-up -----------------------------------------------------------------------------------


def warm_cache(*, top: int, progress: Callable[[int, int], None] | None = None) -> int:
    """Fill the product pages and cards of the `top` most popular active products into the cache
    from the primary (a deploy or a Redis restart does not send the first customers to the
    database); `progress(done, total)` after each batch. The number of products warmed."""
    from catalog import selectors  # selectors import services' neighbours; read at call time

    ids = list(Product.objects.filter(is_active=True).order_by("-popularity", "-id").values_list("pk", flat=True)[:top])
    done = 0
    for offset in range(0, len(ids), selectors.WARM_BATCH):
        done += selectors.warm_products(product_ids=ids[offset : offset + selectors.WARM_BATCH])
        if progress is not None:
            progress(done, len(ids))
    return done
