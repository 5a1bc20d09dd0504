"""What every search backend shares: the request and result shapes, query words, price bands.

A backend answers `search(query=..., filters=..., sort=..., page=..., page_size=..., with_facets=...)`
with a `SearchResult` (ids, total, facets, suggestion), and keeps its index current with
`index(product_ids=...)` and `remove(product_ids=...)`. The storefront and the API only ever see
these shapes, never which backend answered.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Protocol

MAX_QUERY_LENGTH = 200  # characters: a longer query is cut, never refused
MAX_WORDS = 10
MAX_WORD_LENGTH = 40
DEFAULT_PAGE_SIZE = 24
MAX_RESULT_WINDOW = 10_000  # results past this are not paged to (Elasticsearch's default window)
MIN_SUGGESTION_SIMILARITY = 0.3  # pg_trgm's default threshold

SORTS = {
    "relevance": "Best match",
    "popularity": "Most popular",
    "price_asc": "Price: low to high",
    "price_desc": "Price: high to low",
    "newest": "Newest",
}

# Price bands of the facet: [low, high) in the shop currency; the last one is open-ended.
PRICE_BAND_EDGES = (0, 25, 50, 100, 250, 500, 1000)

_WORD = re.compile(r"[^\W_]+")  # letters and digits of any script; everything else separates words


class SearchUnavailable(Exception):
    """The search engine could not be reached or answered with an error worth retrying."""


@dataclass(frozen=True)
class SearchFilters:
    """Filters that narrow a search; every one given must hold (they combine with AND)."""

    category_ids: tuple[int, ...] | None = None  # a category and its descendants
    brands: tuple[str, ...] = ()  # brand slugs: any of them
    price_min: Decimal | None = None
    price_max: Decimal | None = None  # inclusive
    in_stock: bool = False
    attributes: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())  # (name, any of values)


@dataclass(frozen=True)
class SearchResult:
    """One page of results. `cards` holds ready-to-render product cards when the backend's index
    carries them (Elasticsearch's mini descriptions); otherwise None and the caller reads cards.
    A backend that bounds its work on very large result sets says so: `total_is_estimate` and
    `facets_sampled` (the counts are then scaled from a sample; below the bound they are exact)."""

    ids: list[int]
    total: int
    facets: dict
    suggestion: str | None
    page: int
    page_size: int
    cards: list[dict] | None = None
    total_is_estimate: bool = False  # `total` was estimated from a sample (more matches than are counted)
    facets_sampled: bool = False  # facet counts were scaled up from a sample of the matches
    degraded: bool = False  # Elasticsearch did not answer: PostgreSQL did (plainer ranking, no mini descriptions)

    @property
    def num_pages(self) -> int:
        return max(1, math.ceil(min(self.total, MAX_RESULT_WINDOW) / self.page_size))


class SearchBackend(Protocol):
    def search(
        self, *, query: str, filters: SearchFilters, sort: str, page: int, page_size: int, with_facets: bool
    ) -> SearchResult: ...

    def index(self, *, product_ids: list[int], fresh_vector_ids: Collection[int] = ()) -> None: ...

    def remove(self, *, product_ids: list[int]) -> None: ...

    def rebuild(self, *, batch_size: int, progress=None) -> int: ...

    def refresh(self) -> None: ...


def clean_query(text: str) -> str:
    """The query as searched: no NUL or control characters, single spaces, at most 200 characters."""
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(text.split())[:MAX_QUERY_LENGTH].strip()


def query_words(text: str) -> list[str]:
    """The words of a query, lower-case: letters and digits only, so no character is ever query syntax."""
    return [w[:MAX_WORD_LENGTH] for w in _WORD.findall(clean_query(text).lower())][:MAX_WORDS]


def empty_facets() -> dict:
    return {"categories": [], "brands": [], "price_bands": [], "attributes": []}


def price_band_index(price: Decimal | float) -> int:
    """Which band of PRICE_BAND_EDGES a price falls in."""
    for i in range(len(PRICE_BAND_EDGES) - 1, -1, -1):
        if price >= PRICE_BAND_EDGES[i]:
            return i
    return 0


def price_band(index: int, count: int) -> dict:
    """A price band facet entry: its filter values (price_min, price_max inclusive) and its count."""
    low = Decimal(PRICE_BAND_EDGES[index])
    high = Decimal(PRICE_BAND_EDGES[index + 1]) if index + 1 < len(PRICE_BAND_EDGES) else None
    label = f"{low:.0f} to {high:.0f}" if high is not None else f"{low:.0f} and more"
    return {
        "key": f"{low:.0f}-{high:.0f}" if high is not None else f"{low:.0f}-",
        "label": label,
        "min": f"{low:.2f}",
        "max": f"{high - Decimal('0.01'):.2f}" if high is not None else None,
        "count": count,
    }


def price_bands(counts: dict[int, int]) -> list[dict]:
    return [price_band(i, counts[i]) for i in sorted(counts) if counts[i]]


def attribute_facets(counts: dict[tuple[str, str], int], *, values_per_attribute: int = 30) -> list[dict]:
    """[{"name", "label", "values": [{"value", "count"}]}] sorted by name, then value."""
    by_name: dict[str, list[dict]] = {}
    for (name, value), count in sorted(counts.items()):
        by_name.setdefault(name, []).append({"value": value, "count": count})
    return [
        {"name": name, "label": name.replace("_", " ").capitalize(), "values": values[:values_per_attribute]}
        for name, values in by_name.items()
    ]


def category_facets(counts: dict[int, int], tree: dict) -> list[dict]:
    """Category facet entries (most results first), named from the cached category tree."""
    entries = []
    for category_id, count in counts.items():
        node = tree["nodes"].get(category_id)
        if node is not None:
            entries.append({"id": node["id"], "slug": node["slug"], "name": node["name"], "count": count})
    return sorted(entries, key=lambda e: (-e["count"], e["name"]))


def brand_facets(rows: list[tuple[str, str, int]]) -> list[dict]:
    return sorted(
        ({"slug": slug, "name": name, "count": count} for slug, name, count in rows),
        key=lambda e: (-e["count"], e["name"]),
    )


# --- Facet counts that describe the current selection -------------------------------------------
#
# Each facet is counted with every filter applied except its own choice (what shops call
# disjunctive faceting): with brand "acme" and 0-50 EUR chosen, the brands are counted at 0-50 EUR
# (any brand: choosing another one adds its products), the colours among acme's products at 0-50
# EUR. So no count ever leads to zero products. Categories are a drill-down: counted inside the
# chosen category, a count is what choosing that (sub)category gives. Stock is not a facet and
# always applies.


def relaxed_filters(
    filters, facets: tuple[str, ...] = ("brands", "price_bands", "attributes")
) -> list[tuple[str, object]]:
    """[(facet, the filters without that facet's own choice)] for each of these facets the
    customer chose in: "brands", "price_bands" (a price range), "attributes:<name>" per attribute.
    Works on any frozen dataclass with the filter fields (SearchFilters, ListingQuery)."""
    relaxed: list[tuple[str, object]] = []
    if "brands" in facets and filters.brands:
        relaxed.append(("brands", replace(filters, brands=())))
    if "price_bands" in facets and (filters.price_min is not None or filters.price_max is not None):
        relaxed.append(("price_bands", replace(filters, price_min=None, price_max=None)))
    if "attributes" in facets:
        for name, _ in filters.attributes:
            others = tuple(a for a in filters.attributes if a[0] != name)
            relaxed.append((f"attributes:{name}", replace(filters, attributes=others)))
    return relaxed


def merge_relaxed(facets: dict, facet: str, counted: dict) -> dict:
    """`facets` with one facet replaced by its entry in `counted` (counted without its own choice)."""
    if facet.startswith("attributes:"):
        name = facet.split(":", 1)[1]
        entries = [a for a in facets["attributes"] if a["name"] != name]
        entries += [a for a in counted.get("attributes", []) if a["name"] == name]
        return {**facets, "attributes": sorted(entries, key=lambda a: a["name"])}
    return {**facets, facet: counted[facet]}


def selection_facets(facets: dict, filters, count: Callable[[object, str], dict], *,
                     facet_names: tuple[str, ...] = ("brands", "price_bands", "attributes")) -> dict:  # fmt: skip
    """`facets` (counted with every filter) with each facet the customer chose in counted again
    without its own choice: `count(filters, facet)` counts (at least) that facet."""
    for facet, relaxed in relaxed_filters(filters, facet_names):
        facets = merge_relaxed(facets, facet, count(relaxed, facet))
    return facets
