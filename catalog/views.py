"""Storefront pages of the catalog: home, category listings, product pages, search."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from catalog import selectors
from catalog.filters import SORT_LABELS, ListingQuery, parse_listing_params
from shop.exceptions import NotFound

MAX_QUERY_LENGTH = 200


def home_view(request: HttpRequest) -> HttpResponse:
    tree = selectors.category_tree()
    return render(
        request,
        "catalog/home.html",
        {
            "popular": selectors.list_popular_products(limit=8),
            "new": selectors.list_new_products(limit=8),
            "top_categories": selectors.list_menu_categories(),
            "category_count": len(tree["nodes"]),
        },
    )


def category_view(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        category = selectors.get_category(slug=slug)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    values, errors = parse_listing_params(request.GET)  # bad parameters are dropped, never a 500
    query = ListingQuery(category_ids=selectors.descendant_ids(category_id=category["id"]), **values)
    try:
        listing = selectors.list_products(query=query)
    except NotFound:  # past the last page: show the last one
        last = selectors.list_products(query=replace(query, page=1)).num_pages
        query = replace(query, page=last)
        listing = selectors.list_products(query=query)
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "catalog/category.html",
        {
            "category": category,
            "listing": listing,
            "cards": selectors.with_availability(listing.cards),
            "listing_query": query,
            "filter_errors": errors,
            "sorts": SORT_LABELS,
            "chosen_attributes": {name: set(values) for name, values in query.attributes},
            "params": params.urlencode(),
            "canonical": request.build_absolute_uri(category["url"]),
        },
    )


def product_view(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        product = selectors.get_product_page(slug=slug)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    availability = selectors.get_availability(product_ids=[product["id"]]).get(product["id"])
    return render(
        request,
        "catalog/product.html",
        {"product": product, "availability": availability, "canonical": request.build_absolute_uri(product["url"])},
    )


def search_view(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").replace("\x00", "").strip()[:MAX_QUERY_LENGTH]
    page, cards = None, []
    if query:
        page = Paginator(selectors.search_products(query=query).values_list("pk", flat=True), 24).get_page(
            request.GET.get("page")
        )
        cards = selectors.with_availability(selectors.get_product_cards(product_ids=list(page.object_list)))
    return render(
        request,
        "catalog/search.html",
        {"query": query, "page": page, "cards": cards, "params": urlencode({"q": query})},
    )
