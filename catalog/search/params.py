"""Search parameters (storefront page and API) parsed once for both doors.

The filters are the category page's (catalog.filters), plus `q`, a category slug and the search
sorts. Like the listings, the API answers 400 naming each bad parameter and the storefront drops
the bad ones and shows a sane page.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from catalog import selectors
from catalog.filters import parse_listing_params
from catalog.search.base import DEFAULT_PAGE_SIZE, MAX_RESULT_WINDOW, SORTS, SearchFilters, clean_query


@dataclass(frozen=True)
class SearchRequest:
    query: str = ""
    filters: SearchFilters = field(default_factory=SearchFilters)
    sort: str = "relevance"
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    category: dict | None = None  # the chosen category (name, slug, url) when one was given


def parse_search_params(params, *, strict_unknown: bool = False) -> tuple[SearchRequest, dict[str, list[str]]]:
    """The search request these query parameters describe, and {parameter: [reason]} errors."""
    rest = params.copy()
    raw_sort = rest.pop("sort", [""])[-1].strip()
    rest.pop("q", None)  # the query is text: control characters (NUL too) become spaces, never an error
    values, errors = parse_listing_params(rest, strict_unknown=strict_unknown)
    if errors and all("NUL" in reason for reasons in errors.values() for reason in reasons):
        return SearchRequest(), errors  # nothing else is read from such a request
    request: dict = {"query": clean_query(params.get("q", ""))}
    if raw_sort and raw_sort not in SORTS:
        errors["sort"] = [f"Choose one of: {', '.join(SORTS)}."]
    elif raw_sort:
        request["sort"] = raw_sort
    filters = {k: values[k] for k in ("brands", "price_min", "price_max", "in_stock", "attributes") if k in values}
    if slug := params.get("category", "").strip():
        try:
            category = selectors.get_category(slug=slug[:140])
        except selectors.CategoryNotFound:
            errors["category"] = ["No category has this slug."]
        else:
            filters["category_ids"] = selectors.descendant_ids(category_id=category["id"])
            request["category"] = {"name": category["name"], "slug": category["slug"], "url": category["url"]}
    page, page_size = values.get("page", 1), values.get("page_size", DEFAULT_PAGE_SIZE)
    if (page - 1) * page_size >= MAX_RESULT_WINDOW:
        errors["page"] = [f"Only the first {MAX_RESULT_WINDOW} results can be paged through; narrow the search."]
        page = 1
    return SearchRequest(**request, filters=SearchFilters(**filters), page=page, page_size=page_size), errors
