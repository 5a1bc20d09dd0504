"""Every read of the catalog that pages, the API and other apps need.

Caching (catalog.cache): product pages, product cards, listing results and the category tree are
cached data, filled from the primary (a lagging replica must not be frozen into the cache for an
hour). What is read on every request and never cached, availability, comes from inventory under
``replica_ok``: a second of lag on an "only 3 left" label is harmless, and stock decisions are
made elsewhere on the primary. Search (until the search issue) reads the replica too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal

from django.conf import settings
from django.db import connections
from django.db.models import Count, F, Prefetch, QuerySet, Window
from django.db.models.functions import RowNumber

from catalog import cache as catalog_cache
from catalog.filters import SORTS, ListingQuery
from catalog.models import Category, ImageStatus, Product, ProductImage, ProductRecommendation
from catalog.search.base import selection_facets
from catalog.search.queryset import filtered_products
from inventory import selectors as inventory_selectors
from shop.db_router import PRIMARY, choose_read_alias, replica_ok
from shop.exceptions import NotFound

MENU_SIZE = 12


class ProductNotFound(NotFound):
    code = "product_not_found"
    default_message = "This product does not exist or is no longer sold."


class CategoryNotFound(NotFound):
    code = "category_not_found"
    default_message = "This category does not exist."


class PageNotFound(NotFound):
    code = "not_found"
    default_message = "This page number is past the last page."


# --- The category tree ------------------------------------------------------------------------


def category_tree() -> dict:
    """{"nodes": {id: {...}}, "slugs": {slug: id}, "roots": [ids]}: one cached query for menus,
    breadcrumbs and "this category and its descendants"."""

    def fill() -> dict:
        nodes = {
            c["id"]: {**c, "children": []}
            for c in Category.objects.using(PRIMARY)
            .order_by("position", "name")
            .values("id", "name", "slug", "parent_id")
        }
        roots = []
        for node in nodes.values():
            (nodes[node["parent_id"]]["children"] if node["parent_id"] in nodes else roots).append(node["id"])
        return {"nodes": nodes, "slugs": {n["slug"]: i for i, n in nodes.items()}, "roots": roots}

    return catalog_cache.memoised("tree", fill, catalog_cache.LISTING_TTL)  # per process, per generation


def get_category(*, slug: str) -> dict:
    """A category as a plain dict with its breadcrumbs and children. Raises CategoryNotFound."""
    tree = category_tree()
    category_id = tree["slugs"].get(slug)
    if category_id is None:
        raise CategoryNotFound()
    node = tree["nodes"][category_id]
    return {**node, "url": _category_url(node), "breadcrumbs": breadcrumbs(category_id=category_id),
            "subcategories": [_link(tree["nodes"][c]) for c in node["children"]]}  # fmt: skip


def descendant_ids(*, category_id: int) -> tuple[int, ...]:
    tree = category_tree()
    found, todo = [], [category_id]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(tree["nodes"][current]["children"])
    return tuple(sorted(found))


def breadcrumbs(*, category_id: int) -> list[dict]:
    nodes = category_tree()["nodes"]
    trail, current = [], nodes.get(category_id)
    while current is not None and len(trail) < 10:
        trail.append(_link(current))
        current = nodes.get(current["parent_id"])
    return trail[::-1]


def list_menu_categories() -> list[dict]:
    """Top-level categories for the header menu (from the cached tree)."""
    tree = category_tree()
    return [_link(tree["nodes"][i]) for i in tree["roots"][:MENU_SIZE]]


def _category_url(node: dict) -> str:
    return f"/c/{node['slug']}/"


def _link(node: dict) -> dict:
    return {"id": node["id"], "name": node["name"], "slug": node["slug"], "url": _category_url(node)}


# --- Product cards and pages ------------------------------------------------------------------


def _image_urls(image: ProductImage) -> dict:
    from catalog.services.images import image_urls  # the images module owns storage naming

    return image_urls(image)


def _images_prefetch() -> Prefetch:
    return Prefetch(
        "images", queryset=ProductImage.objects.exclude(status=ImageStatus.FAILED).order_by("position", "id")
    )


def _card(product: Product) -> dict:
    images = list(product.images.all())
    return {
        "id": product.pk,
        "version": product.version,
        "slug": product.slug,
        "title": product.title,
        "url": product.get_absolute_url(),
        "price": str(product.price),
        "compare_at_price": str(product.compare_at_price) if product.is_discounted else None,
        "brand": product.brand.name if product.brand_id else None,
        "category": product.category.name,
        "image": {**_image_urls(images[0]), "alt": images[0].alt_text or product.title} if images else None,
    }


def get_product_cards(*, product_ids: list[int]) -> list[dict]:
    """Cards (title, price, brand, first image) for these products, in this order; cached per
    product version: one cache round trip for the versions and the cards together. Inactive or
    unknown products are left out.

    Misses are read from the primary in one query plus one for images, whatever their number.
    Within a request, cards already read are not read again, and the ids another part of the page
    asked for (`catalog_cache.want_cards`) are read in the same round trip.
    """
    held = catalog_cache.held_cards()
    asked = [i for i in dict.fromkeys(product_ids) if i not in held]
    extra = [i for i in dict.fromkeys(catalog_cache.take_wanted_cards()) if i not in held and i not in asked]
    if asked or extra:
        held.update(_read_cards(asked, cached_only=extra))
    return [held[i] for i in product_ids if i in held]


def _read_cards(product_ids: list[int], *, cached_only: list[int] = ()) -> dict[int, dict]:
    """Cards of `product_ids` (misses read from the primary) and of `cached_only` where the cache
    has them (cards another part of the page may ask for: a miss among them is read only if asked)."""
    ids = [*product_ids, *cached_only]
    fresh, missing = catalog_cache.get_versioned(catalog_cache.card_keys(ids), {i: catalog_cache.version_key(i) for i in ids})
    missing = [i for i in missing if i not in set(cached_only)]
    if missing:
        filled = {
            p.pk: _card(p)
            for p in Product.objects.using(PRIMARY)
            .filter(pk__in=missing, is_active=True)
            .select_related("brand", "category")
            .prefetch_related(_images_prefetch())
        }
        catalog_cache.store_versioned(
            {catalog_cache.card_key(i): card for i, card in filled.items()},
            {catalog_cache.version_key(i): card["version"] for i, card in filled.items()},
            catalog_cache.PRODUCT_TTL,
        )
        fresh.update(filled)
    return fresh


def get_product_page(*, slug: str) -> dict:
    """Everything the product page shows except availability, cached under the slug and the
    product's version (one cache round trip warm, with the request's listing generation).

    Cold: the product with its brand and category, its images (the tree is cached apart).
    Warm: no query. Raises ProductNotFound for an unknown or inactive product.
    """
    return _product_page_from(catalog_cache.mget(_page_keys(slug)), slug)


def _page_keys(slug: str) -> list[str]:
    return [catalog_cache.product_key(slug), catalog_cache.slug_version_key(slug)]


def _product_page_from(found: dict, slug: str) -> dict:
    fresh, _ = catalog_cache.pick_versioned(
        found, {slug: catalog_cache.product_key(slug)}, {slug: catalog_cache.slug_version_key(slug)}
    )
    page = fresh.get(slug)
    if page is None:
        page = _product_page(slug)
        if page is None:
            raise ProductNotFound()
        catalog_cache.store_versioned(
            {catalog_cache.product_key(slug): page},
            {catalog_cache.slug_version_key(slug): page["version"]},
            catalog_cache.PRODUCT_TTL,
        )
    return {**page, "breadcrumbs": breadcrumbs(category_id=page["category_id"])}


def _product_page(slug: str) -> dict | None:
    product = (
        Product.objects.using(PRIMARY)
        .filter(slug=slug, is_active=True)
        .select_related("brand", "category")
        .prefetch_related(_images_prefetch())
        .first()
    )
    return None if product is None else _page_of(product)


WARM_BATCH = 200  # products warmed per batch: four queries and one cache round trip


def warm_products(*, product_ids: list[int]) -> int:
    """Put these active products' pages, cards and recommended ids into the cache, read from the
    primary (the ranking job's warm-up): four queries and one cache pipeline whatever their number.
    How many were warmed."""
    products = list(
        Product.objects.using(PRIMARY).filter(pk__in=product_ids, is_active=True)
        .select_related("brand", "category").prefetch_related(_images_prefetch())
    )  # fmt: skip
    blobs, pointers = {}, {}
    for product in products:
        page, card = _page_of(product), _card(product)
        blobs[catalog_cache.product_key(product.slug)], blobs[catalog_cache.card_key(product.pk)] = page, card
        pointers[catalog_cache.slug_version_key(product.slug)] = product.version
        pointers[catalog_cache.version_key(product.pk)] = product.version
    known = {product.slug: (product.pk, product.category_id) for product in products}
    for slug, entry in _fill_recommendation_lists(list(known), known=known).items():  # two more queries
        blobs[catalog_cache.recommendations_key(slug)] = entry
    catalog_cache.store_versioned(blobs, pointers, catalog_cache.PRODUCT_TTL)
    return len(products)


def _page_of(product: Product) -> dict:
    card = _card(product)
    return {
        **card,
        "sku": product.sku,
        "description": product.description,
        "attributes": sorted((str(k).replace("_", " ").capitalize(), str(v)) for k, v in product.attributes.items()),
        "images": [{**_image_urls(i), "alt": i.alt_text or product.title} for i in product.images.all()],
        "category_id": product.category_id,
        "meta_description": (product.description or product.title).replace("\n", " ")[:155],
    }


def product_versions(*, product_ids: list[int]) -> dict[int, int]:
    """{product_id: version} of these products (primary; deleted ones are absent)."""
    return dict(Product.objects.using(PRIMARY).filter(pk__in=product_ids).values_list("pk", "version"))


def lock_product(*, product_id: int) -> Product:
    """The product row, locked for update until the caller's transaction ends. Raises ProductNotFound."""
    assert connections[PRIMARY].in_atomic_block, "lock_* needs an open transaction"
    product = Product.objects.select_for_update(of=("self",)).filter(pk=product_id).first()
    if product is None:
        raise ProductNotFound()
    return product


def lock_products_by_sku(*, skus: list[str]) -> dict[str, Product]:
    """{sku: product} of the existing ones among these SKUs, locked in primary-key order until the
    caller's transaction ends (so two imports of overlapping files cannot deadlock)."""
    assert connections[PRIMARY].in_atomic_block, "lock_* needs an open transaction"
    products = Product.objects.select_for_update(of=("self",)).filter(sku__in=skus).order_by("pk")
    return {p.sku: p for p in products}


def lock_names_shared(*, category_ids: list[int], brand_ids: list[int]) -> None:
    """Share-lock these categories and brands (in id order) until the caller's transaction ends.

    Their names are part of the search vectors the caller computes in its own statement, so a
    rename, which re-indexes the products it can see, waits until the caller's rows are committed
    rather than missing them. Take it before locking any product (a rename locks its own row,
    then its products). PostgreSQL only (Django has no FOR SHARE)."""
    connection = connections[PRIMARY]
    assert connection.in_atomic_block, "lock_* needs an open transaction"
    with connection.cursor() as cursor:
        for table, ids in (("catalog_category", category_ids), ("catalog_brand", brand_ids)):
            if ids:
                cursor.execute(f"SELECT id FROM {table} WHERE id = ANY(%s::bigint[]) ORDER BY id FOR SHARE",  # noqa: S608
                               [sorted(set(ids))])  # fmt: skip


def get_product_for_staff(*, product_id: int) -> Product:
    """A product by id, active or not, from the primary (the write API reads its own writes).
    Raises ProductNotFound."""
    product = Product.objects.using(PRIMARY).select_related("category", "brand").filter(pk=product_id).first()
    if product is None:
        raise ProductNotFound()
    return product


def iter_products_for_export(*, chunk_size: int = 2000) -> Iterator[tuple]:
    """Every product as (sku, slug, title, description, price, compare_at_price, category slug,
    brand slug, attributes, is_active), in id order, streamed in chunks (a server-side cursor on
    PostgreSQL): memory stays flat whatever the catalog's size."""
    return (
        Product.objects.order_by("pk")
        .values_list("sku", "slug", "title", "description", "price", "compare_at_price", "category__slug",
                     "brand__slug", "attributes", "is_active")
        .iterator(chunk_size=chunk_size)
    )


def get_product_id(*, product_id: int) -> str:
    """The slug of an active product by id (the API's /products/{id}). Raises ProductNotFound."""
    slug = Product.objects.using(PRIMARY).filter(pk=product_id, is_active=True).values_list("slug", flat=True).first()
    if slug is None:
        raise ProductNotFound()
    return slug


@replica_ok
def get_availability(*, product_ids: list[int]) -> dict:
    """Availability labels for display (may read a replica; one query)."""
    return inventory_selectors.get_availability(product_ids=product_ids)


def with_availability(cards: list[dict], *, availability: dict | None = None) -> list[dict]:
    """The cards with each product's Availability under "availability" (one query, none when the
    page read `availability` for them already)."""
    if availability is None:
        availability = get_availability(product_ids=[c["id"] for c in cards])
    return [{**card, "availability": availability.get(card["id"])} for card in cards]


# --- "Customers also bought" -------------------------------------------------------------------

RECOMMENDATIONS_SHOWN = 8  # on the product and cart pages (the API takes up to 20)
RECOMMENDATION_SOURCES = ("bought_together", "category_popular")
CART_LINES_RECOMMENDED_FOR = 10  # the cart's first lines; their lists are merged


@dataclass(frozen=True)
class Recommendations:
    """Cards (with availability) to show, and where they came from: "bought_together" (the
    stored lists), "category_popular" (the fallback) or None (nothing to show)."""

    cards: list[dict]
    source: str | None


# What this process last showed on each product page: {slug: (product id, ids of the cards
# recommended beside it)}. A guess read ahead in the page's first round trip, never an answer:
# the page's lists and availability still decide which cards show (a card not guessed is read
# as before), and a slug that names another product now is put right in the same request.
_shown: dict[str, tuple[int, tuple[int, ...]]] = {}
SHOWN_MAX = 50_000  # slugs remembered per process (then forgotten all at once: a guess is only a guess)


def forget_shown() -> None:
    _shown.clear()


def get_product_page_with_recommendations(
    *, slug: str, limit: int = RECOMMENDATIONS_SHOWN, also_available: Callable[[], list[int]] = list,
    on_product: Callable[..., None] | None = None,
):  # fmt: skip
    """(page, availability, Recommendations) for the product page: the page blob, its version and
    its recommended ids in ONE cache round trip (with whatever rides it), availability of the
    product, of every candidate and of `also_available()` (ids the first round trip told another
    part of the page: "Recently viewed") in one query, the recommended cards in one more round
    trip, whatever their number. `availability` is {product_id: Availability}. Raises
    ProductNotFound.

    Once this process has shown the page, the cards it recommended then are read in the first
    round trip too (with their versions), so a visitor without a "Recently viewed" row costs
    that one round trip: the second is left only for cards the guess missed.

    `on_product(product_id)` is told the product's id as soon as it is known: before the first
    round trip when this process has shown the slug (what it asks to ride goes with it), else
    once the page is read, before the cards are. Should the slug name another product now,
    `on_product(product_id, instead_of=the id told before)` follows."""
    recs_key = catalog_cache.recommendations_key(slug)
    guessed_id, guessed_cards = _shown.get(slug, (None, ()))
    if guessed_id is not None and on_product is not None:
        on_product(guessed_id)
    card_keys = catalog_cache.card_keys(list(guessed_cards))
    pointer_keys = {i: catalog_cache.version_key(i) for i in guessed_cards}
    found = catalog_cache.mget([*_page_keys(slug), recs_key, *card_keys.values(), *pointer_keys.values()])
    if guessed_cards:
        catalog_cache.held_cards().update(catalog_cache.pick_versioned(found, card_keys, pointer_keys)[0])
    try:
        page = _product_page_from(found, slug)
    except ProductNotFound:
        _shown.pop(slug, None)  # a view told ahead stays in the visitor's list until it is shown (and dropped)
        raise
    if on_product is not None and guessed_id != page["id"]:
        on_product(page["id"], **({} if guessed_id is None else {"instead_of": guessed_id}))
    recommendations, availability = _recommend(
        _recommendation_lists([slug], found=found, known={slug: (page["id"], page["category_id"])}),
        exclude={page["id"]}, limit=limit, availability_of=[page["id"], *also_available()],
    )  # fmt: skip
    if len(_shown) >= SHOWN_MAX:
        _shown.clear()
    _shown[slug] = (page["id"], tuple(card["id"] for card in recommendations.cards))
    return page, availability, recommendations


def get_recommendations(*, slugs: list[str], exclude: Collection[int] = (), limit: int = RECOMMENDATIONS_SHOWN) -> Recommendations:
    """What to recommend beside these products (a product page, an API call, a cart's lines):
    their "customers also bought" lists merged rank by rank, else their categories' popular
    products; never an inactive or out-of-stock product, nor one in `exclude` or in `slugs`' own.
    Two cache round trips (the lists, the cards) and one query (availability) when warm."""
    return _recommend(_recommendation_lists(slugs), exclude=exclude, limit=limit)[0]


def _recommend(lists: list[dict], *, exclude: Collection[int], limit: int, availability_of: list[int] = ()):
    excluded = {*exclude, *(entry["product_id"] for entry in lists)}
    candidates = {i for entry in lists for source in RECOMMENDATION_SOURCES for i in entry[source]} - excluded
    availability = get_availability(product_ids=[*availability_of, *sorted(candidates)])
    for source in RECOMMENDATION_SOURCES:
        showable = [[i for i in entry[source] if i in candidates and availability[i].status != "out_of_stock"]
                    for entry in lists]  # fmt: skip
        if wanted := _rank_by_rank(showable)[:limit]:
            cards = get_product_cards(product_ids=wanted)  # an inactive one has no card
            return Recommendations([{**c, "availability": availability[c["id"]]} for c in cards], source), availability
    return Recommendations([], None), availability


def _rank_by_rank(lists: list[list[int]]) -> list[int]:
    """Every list's first, then every list's second, ... without repeats (one list: itself)."""
    merged: dict[int, None] = {}
    for place in range(max(map(len, lists), default=0)):
        for ids in lists:
            if place < len(ids):
                merged.setdefault(ids[place], None)
    return list(merged)


def _recommendation_lists(
    slugs: list[str], *, found: dict | None = None, known: dict[str, tuple[int, int]] | None = None
) -> list[dict]:
    """{"product_id", "bought_together": [ids], "category_popular": [ids]} of each active product
    among these slugs, in their order: one MGET (skipped when `found` holds what the caller read),
    the misses filled from the primary and stored for PRODUCT_TTL. `known`: {slug: (product id,
    category id)} the caller read already (the product page), so the fill need not read them."""
    keys = {slug: catalog_cache.recommendations_key(slug) for slug in dict.fromkeys(slugs)}
    if found is None:
        found = catalog_cache.mget(list(keys.values()))
    lists = {slug: found[key] for slug, key in keys.items() if isinstance(found.get(key), dict)}
    missing = [slug for slug in keys if slug not in lists]
    catalog_cache.count(hits=len(lists), misses=len(missing))
    if missing:
        filled = _fill_recommendation_lists(missing, known=known or {})
        catalog_cache.store({keys[s]: entry for s, entry in filled.items()}, catalog_cache.PRODUCT_TTL)
        lists.update(filled)
    return [lists[slug] for slug in keys if slug in lists]


def _fill_recommendation_lists(slugs: list[str], *, known: dict[str, tuple[int, int]]) -> dict[str, dict]:
    """From the primary: the products not `known` (one query), their stored lists (one query) and
    the popular products of their categories (one query)."""
    limit = settings.RECOMMENDATIONS_PER_PRODUCT
    products = {slug: known[slug] for slug in slugs if slug in known}
    if unknown := [slug for slug in slugs if slug not in known]:
        rows = Product.objects.using(PRIMARY).filter(slug__in=unknown, is_active=True)
        products.update({slug: (pk, category_id) for pk, slug, category_id in rows.values_list("pk", "slug", "category_id")})
    together: dict[int, list[int]] = {}
    stored = (
        ProductRecommendation.objects.using(PRIMARY)
        .filter(product_id__in=[pk for pk, _ in products.values()], recommended__is_active=True)
        .order_by("product_id", "rank")
        .values_list("product_id", "recommended_id")
    )
    for product_id, recommended_id in stored:
        together.setdefault(product_id, []).append(recommended_id)
    popular = _category_popular_ids(sorted({category_id for _, category_id in products.values()}), limit + 1)
    return {
        slug: {
            "product_id": pk,
            "bought_together": together.get(pk, []),
            "category_popular": [i for i in popular.get(category_id, []) if i != pk][:limit],
        }
        for slug, (pk, category_id) in products.items()
    }


CATEGORY_POPULAR_SQL = """
    SELECT c.id, p.id FROM unnest(%s::bigint[]) WITH ORDINALITY AS c(id, n)
    CROSS JOIN LATERAL (
        SELECT id FROM catalog_product
        WHERE category_id = c.id AND is_active ORDER BY popularity DESC, id DESC LIMIT %s
    ) p
    ORDER BY c.n
"""


def _category_popular_ids(category_ids: list[int], limit: int) -> dict[int, list[int]]:
    """{category_id: its `limit` most popular active products} in one query, in the category
    page's popularity order, whatever the number of categories. On PostgreSQL a LATERAL top-N per
    category on product_popular_idx (a category of a million products reads `limit` rows of the
    index); elsewhere a row number per category."""
    popular: dict[int, list[int]] = {}
    if connections[PRIMARY].vendor == "postgresql":
        with connections[PRIMARY].cursor() as cursor:
            cursor.execute(CATEGORY_POPULAR_SQL, [list(category_ids), limit])
            rows = cursor.fetchall()
    else:
        place = Window(RowNumber(), partition_by=[F("category_id")], order_by=list(SORTS["popularity"]))
        rows = (
            Product.objects.using(PRIMARY).filter(category_id__in=category_ids, is_active=True)
            .annotate(place=place).filter(place__lte=limit).order_by("category_id", "place")
            .values_list("category_id", "pk")
        )  # fmt: skip
    for category_id, pk in rows:
        popular.setdefault(category_id, []).append(pk)
    return popular


# --- Listings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListingPage:
    cards: list[dict]
    count: int
    page: int
    num_pages: int
    page_size: int
    facets: dict

    @property
    def has_next(self) -> bool:
        return self.page < self.num_pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def _filtered(query: ListingQuery, *, alias: str) -> QuerySet[Product]:
    """Listings filter exactly as search does (a ListingQuery has the same filter fields)."""
    return filtered_products(query, alias=alias)


def list_products(*, query: ListingQuery) -> ListingPage:
    """One page of a listing (category page, products API) with facets; cached by its parameters.

    A fixed number of queries whatever the page size: count, ids, cards (cached per product),
    facets (cached by the filters, see list_facets). Listings filtered by stock are not cached (stock changes with
    every sale). Raises PageNotFound past the last page.
    """

    def fill() -> dict:
        products = _filtered(query, alias=PRIMARY)
        total = products.count()
        start = (query.page - 1) * query.page_size
        ids = list(products.order_by(*SORTS[query.sort]).values_list("pk", flat=True)[start : start + query.page_size])
        return {"count": total, "ids": ids}

    if query.in_stock:  # stock changes with every sale: never cached
        result, facets = fill(), list_facets(query=query)
    else:  # the page and its facets in one round trip
        listing_key, facets_key = catalog_cache.listing_key("listing", query.digest()), _facets_key(query)
        found = catalog_cache.get_or_fill_many(
            {listing_key: fill, facets_key: lambda: list_facets(query=query, cached=False)}, catalog_cache.LISTING_TTL
        )
        result, facets = found[listing_key], found[facets_key]
    num_pages = max(1, math.ceil(result["count"] / query.page_size))
    if query.page > num_pages:
        raise PageNotFound()
    return ListingPage(
        cards=get_product_cards(product_ids=result["ids"]),
        count=result["count"],
        page=query.page,
        num_pages=num_pages,
        page_size=query.page_size,
        facets=facets,
    )


def _facet_filters(query: ListingQuery) -> ListingQuery:
    return replace(query, sort="popularity", page=1, page_size=1)  # what the counts depend on


def _facets_key(query: ListingQuery) -> str:
    return catalog_cache.listing_key("facets", _facet_filters(query).digest())


def list_facets(*, query: ListingQuery, cached: bool = True) -> dict:
    """Brands and attribute values (with product counts) of a listing's categories, each counted
    with every other filter applied (catalog.search.base.selection_facets: a count never leads to
    zero products); cached with the listings, except when filtered by stock.

    Two queries for a listing without brand or attribute choices, one more per attribute chosen.
    The attribute values come from the products' JSON attributes (jsonb_each_text on PostgreSQL,
    json_each on SQLite), so each category's filters follow what its products actually have.
    """
    if query.category_ids is None:
        return {"brands": [], "attributes": []}
    filters = _facet_filters(query)

    def count(wanted: ListingQuery, facet: str | None = None) -> dict:
        products = _filtered(wanted, alias=PRIMARY)
        facets: dict = {}
        if facet in (None, "brands"):
            facets["brands"] = [
                {"slug": b["brand__slug"], "name": b["brand__name"], "count": b["count"]}
                for b in products.exclude(brand=None).values("brand__slug", "brand__name").annotate(count=Count("pk"))
                .order_by("brand__name")
            ]  # fmt: skip
        if facet is None or facet.startswith("attributes:"):
            facets["attributes"] = _attribute_facets(products, name=facet.split(":", 1)[1] if facet else None)
        return facets

    def fill() -> dict:
        return selection_facets(count(filters), filters, count, facet_names=("brands", "attributes"))

    if query.in_stock or not cached:  # stock changes with every sale: never cached
        return fill()
    return catalog_cache.get_or_fill(_facets_key(query), fill, catalog_cache.LISTING_TTL)


def _attribute_facets(products: QuerySet[Product], *, name: str | None = None) -> list[dict]:
    """Attribute values with counts over these products (only the attribute `name` when given)."""
    connection = connections[PRIMARY]
    each = "jsonb_each_text(p.attributes)" if connection.vendor == "postgresql" else "json_each(p.attributes)"
    ids_sql, params = products.order_by().values("pk").query.sql_with_params()
    only = " AND a.key = %s" if name is not None else ""
    sql = (
        f"SELECT a.key, a.value, COUNT(*) FROM catalog_product p, {each} a "  # noqa: S608 (no user input in the SQL)
        f"WHERE p.id IN ({ids_sql}){only} GROUP BY a.key, a.value ORDER BY a.key, a.value"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *([name] if name is not None else [])])
        rows = cursor.fetchall()
    facets: dict[str, list] = {}
    for key, value, count in rows:
        facets.setdefault(str(key), []).append({"value": str(value), "count": count})
    return [{"name": key, "label": key.replace("_", " ").capitalize(), "values": values[:30]}
            for key, values in facets.items()]  # fmt: skip


def list_popular_products(*, limit: int = 8) -> list[dict]:
    return list_home_products(limit=limit)[0]


def list_new_products(*, limit: int = 8) -> list[dict]:
    return list_home_products(limit=limit)[1]


HOME_ORDERS = {"popular": ("-popularity", "-id"), "new": ("-created_at", "-id")}


def list_home_products(*, limit: int = 8) -> tuple[list[dict], list[dict]]:
    """(the most popular, the newest) products' cards: both id lists in one cache round trip, all
    their cards in one more."""

    def ids(order: tuple[str, ...]):
        return lambda: list(
            Product.objects.using(PRIMARY).filter(is_active=True).order_by(*order).values_list("pk", flat=True)[:limit]
        )

    keys = {name: catalog_cache.listing_key(name, str(limit)) for name in HOME_ORDERS}
    found = catalog_cache.get_or_fill_many({keys[n]: ids(o) for n, o in HOME_ORDERS.items()}, catalog_cache.LISTING_TTL)
    popular, new = found[keys["popular"]], found[keys["new"]]
    cards = {c["id"]: c for c in get_product_cards(product_ids=list(dict.fromkeys([*popular, *new])))}
    return [cards[i] for i in popular if i in cards], [cards[i] for i in new if i in cards]


@replica_ok
def search_products(*, query: str) -> QuerySet[Product]:
    """The embedded search: title contains every word. The search issue replaces this backend.

    May read a replica: the queryset carries the alias chosen now.
    """
    products = Product.objects.filter(is_active=True).select_related("category", "brand")
    for word in query.split()[:8]:
        products = products.filter(title__icontains=word[:50])
    return products.order_by("title", "id").using(choose_read_alias())


def product_slugs(*, product_ids: list[int]) -> dict[int, str]:
    """Slugs by product id (for cache invalidation after a write)."""
    return dict(Product.objects.using(PRIMARY).filter(pk__in=product_ids).values_list("pk", "slug"))


@dataclass(frozen=True)
class SellableProduct:
    """What an order line copies from the catalog when it is placed."""

    id: int
    title: str
    sku: str
    price: Decimal


def get_sellable_products(*, product_ids: list[int]) -> dict[int, SellableProduct]:
    """{product_id: title, SKU and current price} for the active products among these; primary, one query."""
    rows = Product.objects.using(PRIMARY).filter(pk__in=product_ids, is_active=True).values_list("pk", "title", "sku", "price")
    return {pk: SellableProduct(pk, title, sku, price) for pk, title, sku, price in rows}


def get_sellable_prices(*, product_ids: list[int]) -> dict[int, Decimal]:
    """{product_id: current price} for the active products among these (others are absent); primary."""
    return dict(Product.objects.using(PRIMARY).filter(pk__in=product_ids, is_active=True).values_list("pk", "price"))


@replica_ok
def list_low_stock_products(*, limit: int | None = None) -> list[dict]:
    """The products at or below their low-stock threshold, fewest units first (inventory's
    list_low_stock), each {"id", "title", "sku", "available", "threshold"}: the staff dashboard's
    "Running out" and the daily digest. Two queries."""
    levels = inventory_selectors.list_low_stock(limit=limit)
    products = Product.objects.filter(pk__in=[level.product_id for level in levels]).values("id", "title", "sku")
    by_id = {product["id"]: product for product in products}
    return [
        {**by_id[level.product_id], "available": level.available, "threshold": level.threshold}
        for level in levels
        if level.product_id in by_id
    ]
