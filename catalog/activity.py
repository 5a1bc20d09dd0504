"""What customers do, counted without a database write on the request path (issue 13).

Page views (storefront and API), units added to carts, units bought, searches (the query and
whether it found anything) and clicks from search results are counted per hour in Redis:

- **Keys.** One hash per hour (`activity:live:YYYYMMDDHH`), fields `v:<id>` (views; `vs:<slug>`
  when only the slug is known yet), `c:<id>` (cart units), `p:<id>` (units bought), `k:<id>` /
  `ks:<slug>` (clicks from search results), `q:<query>` (searches), `z:<query>` (searches that
  found nothing), `qk:<query>` (results opened from the query). The hourly hashes are listed in a
  set (`activity:hours`). None of these keys has a TTL: the cache Redis evicts only keys that
  have one (`volatile-lru`, docker-compose.yml), so counts are never evicted, and the flush
  empties them every minute.
- **No round trip of its own on a page.** A request's counts ride along with its next catalog
  cache lookup (`catalog.cache.ride`: the product page's one MGET carries them), or go in one
  pipeline at the end of a request that made no lookup after counting.
- **Once per visitor.** A view is counted by a small Lua script that first sets
  `activity:seen:<visitor>:<product>` with NX and ACTIVITY_DEDUPE_SECONDS: a visitor's repeated
  views of a product within the window count once. Visitors are the account, or the address and
  user agent. A user agent matching ACTIVITY_BOT_PATTERN is never counted.
- **Fails open.** Redis down: the page is served and the counts are lost, nothing else.
- **Embedded default** (no Redis): each count is added straight to the activity tables.

`flush_activity` moves the counts to the activity tables exactly once (see its docstring).
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from functools import cache as memoise
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db import DataError, IntegrityError, OperationalError, connection, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from redis.exceptions import RedisError
from rest_framework.throttling import BaseThrottle

from catalog import cache as catalog_cache
from catalog.models import ActivityFlush, Product
from catalog.search.base import clean_query

logger = logging.getLogger(__name__)

_THROTTLE = BaseThrottle()  # its get_ident: the client's address, NUM_PROXIES considered
HOURS_KEY = "activity:hours"
FLUSHING_KEY = "activity:flushing"
REFUSED_KEY = "activity:refused"  # batches the database refused, kept for a look (they would block none)
QUERY_MAX_LENGTH = 100
PRODUCT_COLUMNS = ("views", "carts", "purchases", "clicks")
SEARCH_COLUMNS = ("searches", "zero_results", "clicks")
# field prefix -> (table, column); a slug-keyed product field is resolved to its id at the flush
PRODUCT_FIELDS = {"v": "views", "vs": "views", "c": "carts", "p": "purchases", "k": "clicks", "ks": "clicks"}
SEARCH_FIELDS = {"q": "searches", "z": "zero_results", "qk": "clicks"}
UPSERT_BATCH = 2000

# KEYS: seen, hour hash, hours set. ARGV: dedupe seconds, then the fields. Counts once per visitor and window.
COUNT_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  for i = 2, #ARGV do redis.call('HINCRBY', KEYS[2], ARGV[i], 1) end
  redis.call('SADD', KEYS[3], KEYS[2])
  return 1
end
return 0
"""
# KEYS: hour hash, its flushing name, hours set, flushing set. ARGV: flushing entry.
# Takes an hour's counts away from the recorders atomically (a new hash starts at the next count);
# an hour with nothing left leaves the set.
CLAIM_HOUR = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RENAME', KEYS[1], KEYS[2])
  redis.call('SADD', KEYS[4], ARGV[1])
  return 1
end
redis.call('SREM', KEYS[3], KEYS[1])
return 0
"""


# --- Who and when --------------------------------------------------------------------------------


@memoise
def _bot_pattern(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


def is_bot(request: HttpRequest | None) -> bool:
    """Crawlers, link previews and monitors (and clients that do not say what they are) are not
    customers: nothing they do is counted."""
    if request is None:
        return False
    return not request.headers.get("User-Agent") or is_crawler(request)


def is_crawler(request: HttpRequest) -> bool:
    """The user agent says it is a crawler, a link preview or a monitor (ACTIVITY_BOT_PATTERN)."""
    return bool(_bot_pattern(settings.ACTIVITY_BOT_PATTERN).search(request.headers.get("User-Agent", "")))


def visitor_of(request: HttpRequest) -> str:
    """A short, stable, non-reversible name for who is looking: the account, else the address and
    user agent (not the guest token: a first product page hands one out, and the visitor's second
    view must still be the same visitor's)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        raw = f"u:{user.pk}"
    else:  # the client's address as the API throttles read it (X-Forwarded-For behind NUM_PROXIES)
        raw = f"a:{_THROTTLE.get_ident(request)}:{request.headers.get('User-Agent', '')}"
    return hashlib.sha256(raw.encode()).hexdigest()[:20]


def normalise_query(query: str) -> str:
    """As the analytics keep it: the search's own cleaning (no NUL or control character), lower case."""
    return clean_query(query).lower()[:QUERY_MAX_LENGTH].strip()


def _hour(now: datetime | None = None) -> str:
    return (now or timezone.now()).astimezone(UTC).strftime("%Y%m%d%H")


def _day_of_hour(hour: str) -> date:
    return datetime.strptime(hour[:8], "%Y%m%d").date()


# --- Counting ---------------------------------------------------------------------------------------


def count_view(request: HttpRequest, *, product_id: int | None = None, slug: str = "") -> None:
    """A product page (storefront, by slug) or the API's product detail (by id) was seen."""
    if is_bot(request):
        return
    field = f"v:{product_id}" if product_id is not None else f"vs:{slug}"
    _count_once(visitor_of(request), field)


def count_search_click(request: HttpRequest, *, slug: str) -> None:
    """A product page opened from a search results page (the Referer names the query): once per
    visitor, query and product within the dedupe window (a reload or a back-and-forth is one click)."""
    if is_bot(request) or (query := _query_from_referer(request)) is None:
        return
    _count_once(visitor_of(request), f"ks:{slug}", also=f"qk:{query}")


def count_cart_add(request: HttpRequest | None, *, product_id: int, quantity: int) -> None:
    if quantity > 0 and not is_bot(request):
        _add({f"c:{product_id}": quantity})


def count_search(request: HttpRequest | None, *, query: str, results: int | None, first_page: bool = True,
                 filtered: bool = False) -> None:  # fmt: skip
    """A search was made: counted on its first page only (another page, sort or filter of it is the
    same search), and "found nothing" only without filters (a filter that leaves nothing is not
    the query's fault). An empty query, or a bot's, is not counted."""
    query = normalise_query(query)
    if not query or not first_page or is_bot(request):
        return
    fields = {f"q:{query}": 1}
    if results == 0 and not filtered:
        fields[f"z:{query}"] = 1
    _add(fields)


def count_purchases(*, units: dict[int, int]) -> None:
    """Units bought, per product (orders calls it once an order's stock is allocated)."""
    _add({f"p:{product_id}": quantity for product_id, quantity in units.items() if quantity > 0})


def _query_from_referer(request: HttpRequest) -> str | None:
    try:
        referer = urlsplit(request.headers.get("Referer", ""))
    except ValueError:  # a malformed header is no click, never an error page
        return None
    if referer.netloc != request.get_host() or referer.path != reverse("catalog:search"):
        return None
    query = normalise_query((parse_qs(referer.query).get("q") or [""])[0])
    return query or None


def _count_once(visitor: str, field: str, *, also: str = "") -> None:
    """Add 1 to `field` (and to `also`) unless this visitor did within ACTIVITY_DEDUPE_SECONDS."""
    seen_key = f"activity:seen:{visitor}:{field}:{also}"
    fields = [f for f in (field, also) if f]
    if catalog_cache.pipelines() is None:  # the embedded default
        if cache.add(seen_key, 1, timeout=settings.ACTIVITY_DEDUPE_SECONDS):
            _add_now(dict.fromkeys(fields, 1))
        return
    hour_key = f"activity:live:{_hour()}"

    def command(pipe, client):
        keys = [client.make_key(seen_key), client.make_key(hour_key), client.make_key(HOURS_KEY)]
        pipe.eval(COUNT_ONCE, 3, *keys, settings.ACTIVITY_DEDUPE_SECONDS, *fields)
        return _nothing

    catalog_cache.ride(catalog_cache.Rider(redis=command, plain=_nothing_plain, write=True))


def _add(fields: dict[str, int]) -> None:
    if not fields:
        return
    if catalog_cache.pipelines() is None:
        _add_now(fields)
        return
    hour_key = f"activity:live:{_hour()}"

    def command(pipe, client):
        made = client.make_key(hour_key)
        for field, amount in fields.items():
            pipe.hincrby(made, field, amount)
        pipe.sadd(client.make_key(HOURS_KEY), made)
        return _nothing

    catalog_cache.ride(catalog_cache.Rider(redis=command, plain=_nothing_plain, write=True))


def _nothing(results: list) -> None:
    """A counting rider reads nothing back."""


def _nothing_plain() -> None:
    """Riders run through the cache API only without Redis, where counts never ride."""


def _add_now(fields: dict[str, int]) -> None:
    """The embedded default: straight into the activity tables (one small transaction)."""
    try:
        with transaction.atomic():
            _apply_counts(timezone.now().astimezone(UTC).date(), fields)
    except Exception:  # counting never breaks a page
        logger.exception("could not count activity %s", sorted(fields))


# --- From Redis to the tables, exactly once ---------------------------------------------------------


def flush_activity() -> int:
    """Move every counted hour from Redis to the activity tables; the number of batches applied.

    1. Each hour's hash is renamed, atomically, to a flushing name with a new batch id (the
       recorders start a new hash), and the batch is listed in `activity:flushing`.
    2. Each listed batch (this run's, and any a dead flush left) is read and added to the tables
       in one transaction that also records the batch id (`ActivityFlush`, unique): a batch
       applied already is skipped, so a flush that died after committing adds nothing twice,
       and two flushes at once apply a batch once (the second waits on the unique row).
    3. The batch's hash is deleted and it leaves the list.
    """
    client = catalog_cache.pipelines()
    if client is None:
        return 0
    try:
        return _flush(client)
    except RedisError as exc:  # Redis down: the counts wait there (or are lost with it); next run
        logger.warning("activity flush: Redis unavailable (%s); nothing flushed this time", exc)
        return 0


def _flush(client) -> int:
    redis = client.get_client(write=True)
    hours_set, flushing_set = client.make_key(HOURS_KEY), client.make_key(FLUSHING_KEY)
    for hour_key in sorted(_text(k) for k in redis.smembers(hours_set)):
        hour = hour_key.rsplit(":", 1)[1]
        entry = f"{hour}:{uuid.uuid4().hex}"
        redis.eval(CLAIM_HOUR, 4, hour_key, client.make_key(f"activity:flushing:{entry}"), hours_set, flushing_set,
                   entry)  # fmt: skip
    applied = 0
    for entry in sorted(_text(e) for e in redis.smembers(flushing_set)):
        key = client.make_key(f"activity:flushing:{entry}")
        counts = {_text(field): int(value) for field, value in redis.hgetall(key).items()}
        hour, batch = entry.split(":")
        try:
            if _apply_batch(_day_of_hour(hour), batch, counts):
                applied += 1
        except DataError:  # a count the tables refuse (a value no column can hold): set aside, never retried
            logger.exception("activity batch %s refused by the database; moved to %s", entry, REFUSED_KEY)
            redis.rename(key, client.make_key(f"{REFUSED_KEY}:{entry}"))
            redis.srem(flushing_set, entry)
            continue
        _forget_batch(redis, key, flushing_set, entry)
    return applied


def _forget_batch(redis, key: str, flushing_set: str, entry: str) -> None:
    """A batch applied (now or before): its hash goes, and it leaves the list."""
    redis.delete(key)
    redis.srem(flushing_set, entry)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _apply_batch(day: date, batch: str, counts: dict[str, int]) -> bool:
    """Add one batch's counts, once: False when it was applied before."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                ActivityFlush.objects.create(batch=batch)
        except IntegrityError:
            return False
        _apply_counts(day, counts)
    return True


def _apply_counts(day: date, fields: dict[str, int]) -> None:
    """Add {field: amount} (the Redis hash's fields) to the day's rows. In the caller's transaction."""
    products: dict[int, list[int]] = defaultdict(lambda: [0] * len(PRODUCT_COLUMNS))
    searches: dict[str, list[int]] = defaultdict(lambda: [0] * len(SEARCH_COLUMNS))
    by_slug: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for field, amount in fields.items():
        kind, _, name = field.partition(":")
        if kind in SEARCH_FIELDS and name:
            searches[name[:QUERY_MAX_LENGTH]][SEARCH_COLUMNS.index(SEARCH_FIELDS[kind])] += amount
        elif kind in ("vs", "ks"):
            by_slug[name].append((PRODUCT_FIELDS[kind], amount))
        elif kind in PRODUCT_FIELDS and name.isdigit():
            products[int(name)][PRODUCT_COLUMNS.index(PRODUCT_FIELDS[kind])] += amount
    if by_slug:
        for slug, product_id in Product.objects.filter(slug__in=list(by_slug)).values_list("slug", "pk"):
            for column, amount in by_slug[slug]:
                products[product_id][PRODUCT_COLUMNS.index(column)] += amount
    ensure_partitions([day])
    _upsert("catalog_productactivity", "product_id", PRODUCT_COLUMNS, day, products)
    _upsert("catalog_searchactivity", "query", SEARCH_COLUMNS, day, searches)


def _upsert(table: str, key: str, columns: tuple[str, ...], day: date, rows: dict) -> None:
    """INSERT ... ON CONFLICT DO UPDATE adding the counts (PostgreSQL and SQLite), in batches."""
    items = sorted(rows.items())
    names = ", ".join(columns)
    adding = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in columns)
    placeholders = "(" + ", ".join(["%s"] * (len(columns) + 2)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(items), UPSERT_BATCH):
            chunk = items[start : start + UPSERT_BATCH]
            values = [value for ident, counts in chunk for value in (day, ident, *counts)]
            cursor.execute(
                f"INSERT INTO {table} (day, {key}, {names}) VALUES {', '.join([placeholders] * len(chunk))} "  # noqa: S608 (constant SQL)
                f"ON CONFLICT (day, {key}) DO UPDATE SET {adding}",
                values,
            )


# --- Partitions (PostgreSQL): a day each, made ahead, dropped whole -----------------------------------

PARTITIONED_TABLES = ("catalog_productactivity", "catalog_searchactivity")


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def ensure_partitions(days: Iterable[date]) -> None:
    """The day partitions of both activity tables exist (PostgreSQL; nothing on SQLite): one read of
    the partitions there are, and one statement creating the missing ones."""
    if connection.vendor != "postgresql":
        return
    existing = _partitions()
    missing = [
        f"CREATE TABLE IF NOT EXISTS {partition_name(table, day)} PARTITION OF {table} "
        f"FOR VALUES FROM ('{day.isoformat()}') TO ('{(day + timedelta(days=1)).isoformat()}')"
        for day in sorted(set(days)) for table in PARTITIONED_TABLES
        if partition_name(table, day) not in existing
    ]  # fmt: skip
    if missing:
        with connection.cursor() as cursor:
            cursor.execute("; ".join(missing))


def _partitions() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ANY(%s)",
            [list(PARTITIONED_TABLES)],
        )
        return {row[0] for row in cursor.fetchall()}


def drop_partitions_before(day: date) -> int:
    """Drop whole day partitions older than `day` (never a row-by-row delete); on SQLite, delete
    the old rows. The number of partitions (or days) dropped."""
    if connection.vendor != "postgresql":
        from catalog.models import ProductActivity, SearchActivity

        ProductActivity.objects.filter(day__lt=day).delete()
        SearchActivity.objects.filter(day__lt=day).delete()
        return 0
    dropped = 0
    for name in sorted(_partitions()):
        suffix = name.rsplit("_p", 1)[-1]
        if not (suffix.isdigit() and datetime.strptime(suffix, "%Y%m%d").date() < day):
            continue
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")  # never queue the flush's inserts for long
                cursor.execute(f"DROP TABLE IF EXISTS {name}")
        except OperationalError as exc:  # a long read holds the table: the next run drops it
            logger.warning("activity partition %s not dropped this time: %s", name, exc)
            continue
        dropped += 1
    return dropped
