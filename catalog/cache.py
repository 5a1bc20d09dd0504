"""Cache-aside for catalog data (never rendered HTML): product pages, product cards, listings.

A fixed, small number of cache round trips per page (docs/read-path.md):

- **Product data follows `Product.version`** (a column every catalog service raises). A page
  blob (under its slug) and a card blob (under the product id) carry the version they were
  made from, and a small pointer key holds each product's current version. One MGET reads the
  pointers and the blobs together; a blob is used only when its version equals its pointer.
  On commit of a change, `invalidate_product()` sets the pointers to the version in the
  database and deletes the blobs, so a reader that loaded the old row before the change and
  stores it afterwards stores it under the old version, which nobody uses. A pointer evicted
  from Redis is set again from the database by the next fill (`SET NX`), never guessed.
- **Listings, search results, facets, the category tree** live under the catalog-wide listing
  generation, which any product or category change raises. The generation is read once per
  request (`request_scope()`, the middleware) and, when a lookup can carry it, in the same MGET.
- **The category tree** is also memoised per process, checked against the generation.
- **Hit and miss counts** are kept in process and flushed to Redis inside the next lookup's
  pipeline (at most once a second), so counting costs no round trip; `stats()` adds the
  process's unflushed counts to the flushed totals.
- **Riders**: other catalog reads and writes of this request (the visitor's recently viewed list)
  `ride()` in the next lookup's pipeline, so they cost no round trip of their own; a write that no
  lookup carried goes at the end of the request, in one pipeline. Cards read in a request are held
  for the rest of it, and ids `want_cards()` named are read with the next cards.

Availability is never cached here: it changes with every sale and is read separately. With Redis
down every lookup is a miss (logged once a minute) and pages render from the database.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.core.cache import cache

logger = logging.getLogger(__name__)

SCHEMA = "v2"  # bump when the shape of a cached blob changes
PRODUCT_TTL = 60 * 60
LISTING_TTL = 5 * 60
POINTER_TTL = 24 * 60 * 60  # an expired pointer is set again from the database by the next fill
GENERATION_KEY = f"catalog:{SCHEMA}:generation"
HITS_KEY = f"catalog:{SCHEMA}:stats:hits"
MISSES_KEY = f"catalog:{SCHEMA}:stats:misses"
STATS_FLUSH_SECONDS = 1.0
OUTAGE_LOG_SECONDS = 60.0

_request: contextvars.ContextVar[dict | None] = contextvars.ContextVar("catalog_cache_request", default=None)
_lock = threading.Lock()
_pending = {"hits": 0, "misses": 0}
_last_flush = [0.0]
_last_outage_log = [0.0]
_process_memo: dict[tuple, tuple[int, object]] = {}


# --- Keys ------------------------------------------------------------------------------------


def product_key(slug: str) -> str:
    """Where a product page's blob lives (it carries its version)."""
    return f"catalog:{SCHEMA}:page:{slug}"


def card_key(product_id: int) -> str:
    """Where a product's card blob lives (it carries its version)."""
    return f"catalog:{SCHEMA}:card:{product_id}"


def card_keys(product_ids: list[int]) -> dict[int, str]:
    return {i: card_key(i) for i in product_ids}


def version_key(product_id: int) -> str:
    """The pointer to a product's current version (Product.version)."""
    return f"catalog:{SCHEMA}:version:{product_id}"


def slug_version_key(slug: str) -> str:
    """The pointer to the current version of the product under this slug."""
    return f"catalog:{SCHEMA}:version:slug:{slug}"


def recommendations_key(slug: str) -> str:
    """Where the ids a product page recommends live ("customers also bought", then its category's
    popular products): under the slug, so the page reads them in its own MGET. Not versioned: the
    recommendations job drops the key of every product whose list it changed, and any change to
    the product drops it too (invalidate_products)."""
    return f"catalog:{SCHEMA}:recs:{slug}"


def listing_key(name: str, digest: str) -> str:
    return f"catalog:{SCHEMA}:{name}:{listing_generation()}:{digest}"


def search_key(digest: str) -> str:
    """Where the result of one search (its query, filters, sort and page, hashed) lives: under
    the listing generation, so any catalog change or search index write drops every result."""
    return listing_key("search", digest)


# --- Round trips -----------------------------------------------------------------------------


@contextlib.contextmanager
def request_scope() -> Iterator[None]:
    """One request: the listing generation is read at most once (catalog.middleware)."""
    token = _request.set({})
    try:
        yield
    finally:
        try:
            flush_riders(reads=False)  # writes no lookup carried: one round trip for all
        finally:
            _request.reset(token)


def _redis_client():
    """django-redis's client when the cache is Redis (for pipelines), else None."""
    client = getattr(cache, "client", None)
    return client if hasattr(client, "get_client") and hasattr(client, "decode") else None


def pipelines():
    """django-redis's client when the cache is Redis (riders then share its pipelines), else None."""
    return _redis_client()


def _outage(exc: Exception) -> None:
    now = time.monotonic()
    if now - _last_outage_log[0] >= OUTAGE_LOG_SECONDS:
        _last_outage_log[0] = now
        logger.warning("catalog cache unavailable, reading the database: %s", exc)


def _take_pending(force: bool = False) -> dict[str, int]:
    with _lock:
        now = time.monotonic()
        if not (force or now - _last_flush[0] >= STATS_FLUSH_SECONDS) or not any(_pending.values()):
            return {}
        _last_flush[0] = now
        taken = dict(_pending)
        _pending.update(hits=0, misses=0)
    return taken


def _return_pending(taken: dict[str, int]) -> None:
    with _lock:
        for name, amount in taken.items():
            _pending[name] += amount


def mget(keys: list[str]) -> dict:
    """The cached values of these keys in ONE round trip (absent keys are left out), with the
    listing generation added when this request has not read it yet, and the pending hit and
    miss counts flushed in the same pipeline."""
    state = _request.get()
    want_generation = state is not None and "generation" not in state
    wanted = [*keys, GENERATION_KEY] if want_generation and GENERATION_KEY not in keys else list(keys)
    found = _mget(wanted)
    if want_generation and GENERATION_KEY in found:
        state["generation"] = found[GENERATION_KEY]
    return found


def _mget(keys: list[str]) -> dict:
    taken = _take_pending()
    riders = _take_riders()
    client = _redis_client()
    if client is None:  # the embedded local-memory cache: no round trips to save
        if taken:
            _flush_plain(taken)
        _ride_plain(riders)
        return cache.get_many(keys) if keys else {}
    spans: list[tuple[Rider, Callable, int, int]] = []
    try:
        pipe = client.get_client(write=True).pipeline(transaction=False)
        made = [client.make_key(k) for k in keys]
        if made:
            pipe.mget(made)
        for name, amount in taken.items():
            if amount:
                pipe.incrby(client.make_key(HITS_KEY if name == "hits" else MISSES_KEY), amount)
        spans = _add_riders(pipe, client, riders)
        results = pipe.execute(raise_on_error=False)  # a rider's error is its own, not the lookup's
        if failed := next((r for r in results[: spans[0][2] if spans else None] if isinstance(r, Exception)), None):
            raise failed
    except Exception as exc:  # any Redis trouble is a miss, never an error page
        _return_pending(taken)
        _outage(exc)
        _riders_failed(riders)
        return {}
    _riders_done(spans, results)
    values = results[0] if made else []
    return {key: client.decode(value) for key, value in zip(keys, values, strict=True) if value is not None}


# --- Riders: reads and writes carried by the next lookup's pipeline ------------------------------

FAILED = object()  # what a rider is told when Redis did not answer


@dataclass(eq=False)
class Rider:
    """Commands for the request's next catalog pipeline (see `ride`).

    `redis(pipe, client)` adds its commands to a django-redis pipeline and returns a function that
    turns their results into a value; `plain()` does the same through Django's cache API (the
    local-memory default) and returns the value; `then(value)` receives it, or FAILED. A `write`
    is carried out at the end of the request if no lookup carried it; a read is then dropped.
    """

    redis: Callable
    plain: Callable[[], object]
    then: Callable[[object], None] = lambda value: None
    write: bool = False


def ride(rider: Rider) -> None:
    """Carry this rider in the request's next lookup pipeline (at once outside a request)."""
    state = _request.get()
    if state is None:
        _run_riders([rider])
    else:
        state.setdefault("riders", []).append(rider)


def flush_riders(*, reads: bool = True) -> None:
    """Carry the riders no lookup carried now, in one pipeline (reads too unless reads=False)."""
    riders = _take_riders()
    if not reads:
        riders = [r for r in riders if r.write]
    if riders:
        _run_riders(riders)


def _take_riders() -> list[Rider]:
    state = _request.get()
    return state.pop("riders", []) if state else []


def _run_riders(riders: list[Rider]) -> None:
    client = _redis_client()
    if client is None:
        _ride_plain(riders)
        return
    try:
        pipe = client.get_client(write=True).pipeline(transaction=False)
        spans = _add_riders(pipe, client, riders)
        results = pipe.execute(raise_on_error=False)
    except Exception as exc:  # logged once a minute, never an error page
        _outage(exc)
        _riders_failed(riders)
        return
    _riders_done(spans, results)


def _add_riders(pipe, client, riders: list[Rider]) -> list[tuple[Rider, Callable, int, int]]:
    spans = []
    for rider in riders:
        start = len(pipe)
        spans.append((rider, rider.redis(pipe, client), start, len(pipe)))
    return spans


def _riders_done(spans, results: list) -> None:
    for rider, parse, start, end in spans:
        own = results[start:end]
        try:
            value = FAILED if any(isinstance(r, Exception) for r in own) else parse(own)
        except Exception as exc:  # a value it cannot read: as if Redis had not answered
            _outage(exc)
            value = FAILED
        rider.then(value)


def _riders_failed(riders: list[Rider]) -> None:
    for rider in riders:
        rider.then(FAILED)


def _ride_plain(riders: list[Rider]) -> None:
    for rider in riders:
        try:
            value = rider.plain()
        except Exception as exc:  # never an error page
            _outage(exc)
            value = FAILED
        rider.then(value)


def want_cards(product_ids: list[int]) -> None:
    """Read these products' cards with the next cards this request reads (no round trip of their own)."""
    state = _request.get()
    if state is not None:
        state.setdefault("want_cards", []).extend(product_ids)


def take_wanted_cards() -> list[int]:
    state = _request.get()
    return state.pop("want_cards", []) if state else []


def held_cards() -> dict[int, dict]:
    """The cards this request has read so far ({} outside a request): read once per request."""
    state = _request.get()
    return state.setdefault("cards", {}) if state is not None else {}


def _flush_plain(taken: dict[str, int]) -> None:
    for name, amount in taken.items():
        key = HITS_KEY if name == "hits" else MISSES_KEY
        if amount and not cache.add(key, amount, timeout=None):
            try:
                cache.incr(key, amount)
            except ValueError:
                cache.add(key, amount, timeout=None)


def store(values: dict[str, object], timeout: int, *, only_new: dict[str, object] | None = None) -> None:
    """Set these keys, and add the `only_new` ones where absent (SET NX), in one round trip."""
    only_new = only_new or {}
    client = _redis_client()
    if client is None:
        if values:
            cache.set_many(values, timeout)
        for key, value in only_new.items():
            cache.add(key, value, timeout=POINTER_TTL)
        return
    try:
        pipe = client.get_client(write=True).pipeline(transaction=False)
        for key, value in values.items():
            pipe.set(client.make_key(key), client.encode(value), ex=timeout)
        for key, value in only_new.items():
            pipe.set(client.make_key(key), client.encode(value), nx=True, ex=POINTER_TTL)
        pipe.execute()
    except Exception as exc:  # logged once a minute, never an error page
        _outage(exc)


def count(*, hits: int = 0, misses: int = 0) -> None:
    """Count lookups in process; they reach Redis with a later lookup (no round trip of their own)."""
    with _lock:
        _pending["hits"] += hits
        _pending["misses"] += misses


def flush_stats() -> None:
    """Send this process's pending counts now (one round trip; `stats()` does it)."""
    taken = _take_pending(force=True)
    if not taken:
        return
    client = _redis_client()
    if client is None:
        _flush_plain(taken)
        return
    try:
        pipe = client.get_client(write=True).pipeline(transaction=False)
        for name, amount in taken.items():
            pipe.incrby(client.make_key(HITS_KEY if name == "hits" else MISSES_KEY), amount)
        pipe.execute()
    except Exception as exc:  # logged once a minute, never an error page
        _return_pending(taken)
        _outage(exc)


def stats() -> dict:
    """Catalog cache lookups of every process: {"hits", "misses", "hit_rate"} (the metrics read it)."""
    flush_stats()
    found = cache.get_many([HITS_KEY, MISSES_KEY])
    with _lock:
        hits = int(found.get(HITS_KEY) or 0) + _pending["hits"]
        misses = int(found.get(MISSES_KEY) or 0) + _pending["misses"]
    total = hits + misses
    return {"hits": hits, "misses": misses, "hit_rate": round(hits / total, 4) if total else None}


# --- The listing generation and what depends on it ----------------------------------------------


def listing_generation() -> int:
    state = _request.get()
    if state is not None and "generation" in state:
        return state["generation"]
    generation = _mget([GENERATION_KEY]).get(GENERATION_KEY)
    if generation is None:  # never set, or evicted: restart above every generation used before
        cache.add(GENERATION_KEY, _fresh_version(), timeout=None)
        generation = cache.get(GENERATION_KEY) or 0
    if state is not None:
        state["generation"] = generation
    return generation


def _fresh_version() -> int:
    return time.time_ns() // 1000


def get_or_fill(key: str, fill: Callable[[], object], timeout: int):
    """The cached value, or fill() stored for `timeout` seconds; counts the hit or miss."""
    value = mget([key]).get(key)
    if value is not None:
        count(hits=1)
        return value
    count(misses=1)
    value = fill()
    if value is not None:
        store({key: value}, timeout)
    return value


def get_or_fill_many(fills: dict[str, Callable[[], object]], timeout: int) -> dict:
    """{key: value} for these keys in one round trip; each missing one is fill()ed and stored
    (all in one more round trip). Counts the hits and misses."""
    found = mget(list(fills))
    values, filled = {}, {}
    for key, fill in fills.items():
        if found.get(key) is not None:
            values[key] = found[key]
        else:
            values[key] = filled[key] = fill()
    count(hits=len(fills) - len(filled), misses=len(filled))
    if stored := {k: v for k, v in filled.items() if v is not None}:
        store(stored, timeout)
    return values


def memoised(name: str, fill: Callable[[], object], timeout: int):
    """A listing-generation value (the category tree) kept in this process while the generation
    holds, else read from the cache (filled by `fill`): no round trip of its own when warm."""
    generation = listing_generation()
    memo_key = (cache.key_prefix, name)
    held = _process_memo.get(memo_key)
    if held is not None and held[0] == generation:
        return held[1]
    value = get_or_fill(listing_key(name, "all"), fill, timeout)
    if generation:  # 0: Redis did not answer, so no change would ever be seen: read again next time
        _process_memo[memo_key] = (generation, value)
    return value


# --- Versioned product data --------------------------------------------------------------------


def get_versioned(blob_keys: dict, pointer_keys: dict) -> tuple[dict, list]:
    """({ident: blob} for the blobs whose version equals their pointer, [idents missed]) in one MGET."""
    return pick_versioned(mget([*blob_keys.values(), *pointer_keys.values()]), blob_keys, pointer_keys)


def pick_versioned(found: dict, blob_keys: dict, pointer_keys: dict) -> tuple[dict, list]:
    """get_versioned() over values already read (a caller that reads other keys in the same MGET)."""
    fresh, missing = {}, []
    for ident, key in blob_keys.items():
        blob, pointer = found.get(key), found.get(pointer_keys[ident])
        if blob is not None and pointer is not None and isinstance(blob, dict) and blob.get("version") == pointer:
            fresh[ident] = blob
        else:
            missing.append(ident)
    count(hits=len(fresh), misses=len(missing))
    return fresh, missing


def store_versioned(blobs: dict[str, dict], pointers: dict[str, int], timeout: int) -> None:
    """Store blobs read from the primary, and each pointer where none is (never over a newer one)."""
    store(blobs, timeout, only_new=pointers)


def invalidate_product(*, product_id: int, slugs: list[str]) -> None:
    """After a change committed: point the product (and each slug it had) at its version in the
    database, drop its blobs, and start a new listing generation. A deleted product's pointers go."""
    invalidate_products({product_id: slugs})


FIRST_VERSION = 1  # Product.version of a product no service has changed since it was created


def invalidate_products(slugs_by_id: dict[int, list[str]]) -> None:
    from catalog.selectors import product_versions  # selectors import this module

    versions = product_versions(product_ids=list(slugs_by_id))
    pointers, gone = {}, []
    for product_id, slugs in slugs_by_id.items():
        keys = [version_key(product_id), *(slug_version_key(s) for s in slugs)]
        if versions.get(product_id) == FIRST_VERSION:
            # A new product: no reader can hold an older version of it, so dropping its pointers
            # is as safe as setting them (the next fill adds them) and costs one DEL for a whole
            # import batch instead of a SET per key.
            gone += keys
        elif product_id in versions:
            pointers.update(dict.fromkeys(keys, versions[product_id]))
        else:
            gone += keys
        gone += [card_key(product_id), *(product_key(s) for s in slugs), *(recommendations_key(s) for s in slugs)]
    if pointers:
        cache.set_many(pointers, timeout=POINTER_TTL)
    if gone:
        cache.delete_many(gone)
    invalidate_listings()
    logger.debug("catalog cache invalidated for products %s", sorted(slugs_by_id))


def invalidate_recommendations(*, slugs: list[str]) -> None:
    """After new recommendations committed: drop these products' recommended ids (one DEL)."""
    if slugs:
        cache.delete_many([recommendations_key(s) for s in slugs])


def invalidate_listings() -> None:
    """Start a new listing generation: listings, facets, the category tree and menus refill."""
    try:
        cache.incr(GENERATION_KEY)
    except ValueError:  # never read, or evicted: any new generation is above the old ones
        cache.add(GENERATION_KEY, _fresh_version(), timeout=None)
    state = _request.get()
    if state is not None:
        state.pop("generation", None)  # this request reads the new generation next
