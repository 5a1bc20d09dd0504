"""Storefront pages of the catalog."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from catalog import selectors
from shop.exceptions import NotFound

PAGE_SIZE = 24
MAX_QUERY_LENGTH = 200


def home_view(request: HttpRequest) -> HttpResponse:
    return render(request, "catalog/home.html", {"products": selectors.list_new_products(limit=12)})


def category_view(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        category = selectors.get_category(slug=slug)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    page = Paginator(selectors.list_products_in_category(category=category), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "catalog/category.html", {"category": category, "page": page})


def product_view(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        product = selectors.get_product(slug=slug)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    return render(request, "catalog/product.html", {"product": product})


def search_view(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:MAX_QUERY_LENGTH]
    page = None
    if query:
        page = Paginator(selectors.search_products(query=query), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "catalog/search.html", {"query": query, "page": page})
