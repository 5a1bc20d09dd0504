"""Storefront pages of the catalog: home, category listings, product pages, search."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from catalog import activity, recently_viewed, search, selectors, services
from catalog.filters import SORT_LABELS, ListingQuery, parse_listing_params
from catalog.recently_viewed import RecentlyViewed
from catalog.search.params import parse_search_params
from catalog.services import stock_alerts
from shop.api.errors import error_body
from shop.email_addresses import EmailAddressFormField
from shop.exceptions import NotFound


def home_view(request: HttpRequest) -> HttpResponse:
    recent = RecentlyViewed.for_request(request)  # read with the first lookup, its cards with the others
    tree = selectors.category_tree()
    popular, new = selectors.list_home_products(limit=8)
    return render(
        request,
        "catalog/home.html",
        {
            "popular": popular,
            "new": new,
            "top_categories": selectors.list_menu_categories(),
            "category_count": len(tree["nodes"]),
            "recently_viewed": recent.cards(),
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
    # Counted and read before the page is: they ride in the page's cache round trip.
    activity.count_view(request, slug=slug)
    activity.count_search_click(request, slug=slug)
    recent = RecentlyViewed.for_request(request, give_guest_token=True)
    try:
        product, availability, recommended = selectors.get_product_page_with_recommendations(
            slug=slug, also_available=recent.ids, on_product=recent.viewed
        )  # the view is written with the cards' round trip
    except NotFound as exc:
        raise Http404(exc.message) from exc
    recent_cards = recent.cards(exclude=product["id"])  # read with the recommended cards
    context = {
        "product": product,
        "availability": availability.get(product["id"]),
        "recommended": recommended,
        "canonical": request.build_absolute_uri(product["url"]),
        "recently_viewed": selectors.with_availability(recent_cards, availability=availability),
    }
    if context["availability"] is not None and context["availability"].status == "out_of_stock":
        context["stock_alert_form"] = StockAlertForm()
    return recent.finish(render(request, "catalog/product.html", context))


@require_POST
def recently_viewed_clear_view(request: HttpRequest) -> HttpResponse:
    """The "Clear" button of the "Recently viewed" row (CSRF-checked), back to the page it was on."""
    if (visitor := RecentlyViewed.for_request(request).visitor) is not None:
        recently_viewed.clear(visitor=visitor)
    back = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    return redirect(back if safe else "catalog:home")


class StockAlertForm(forms.Form):
    """The product page's "tell me when it is back": an address for guests; empty for a signed-in
    customer (one click: the account's address)."""

    email = EmailAddressFormField(required=False, label="E-mail address")


@require_POST
def stock_alert_subscribe_view(request: HttpRequest, slug: str) -> HttpResponse:
    """Subscribe to a sold-out product's return (throttled in urls.py with the API's scope), then
    back to the product page with a message."""
    try:
        product = selectors.get_product_page(slug=slug)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    form = StockAlertForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors["email"]))
        return redirect(product["url"])
    try:
        subscription = stock_alerts.subscribe_to_stock_alert(
            product_id=product["id"], email=form.cleaned_data["email"], user=request.user
        )
    except (stock_alerts.StockAlertRefused, stock_alerts.ProductInStock) as exc:
        messages.error(request, " ".join([exc.message, *(r for rs in exc.fields.values() for r in rs)]))
        return redirect(product["url"])
    email = subscription.alert.email
    if subscription.confirmed:
        messages.success(request, f"We will e-mail {email} once when {product['title']} is back in stock.")
    else:
        messages.success(request, f"We sent a link to {email}: open it to confirm the alert.")
    return redirect(product["url"])


@require_http_methods(["GET", "POST"])
def stock_alert_confirm_view(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows what the link confirms, with a button; the POST confirms (a mail scanner that
    prefetches the link confirms nothing). A forged, expired or ended link is a 400 page."""
    return _stock_alert_link_view(request, token, unsubscribe=False)


@require_http_methods(["GET", "POST"])
def stock_alert_unsubscribe_view(request: HttpRequest, token: str) -> HttpResponse:
    """The unsubscribe link of every stock alert e-mail: GET asks, POST ends the subscription (no login)."""
    return _stock_alert_link_view(request, token, unsubscribe=True)


def _stock_alert_link_view(request: HttpRequest, token: str, *, unsubscribe: bool) -> HttpResponse:
    try:
        if request.method == "GET":
            alert = stock_alerts.check_stock_alert_link(token=token, unsubscribe=unsubscribe)
        elif unsubscribe:
            alert = stock_alerts.unsubscribe_from_stock_alert(token=token)
        else:
            alert = stock_alerts.confirm_stock_alert(token=token)
    except stock_alerts.InvalidStockAlertLink as exc:
        return render(request, "catalog/stock_alert.html", {"error": exc.message}, status=400)
    context = {"alert": alert, "unsubscribe": unsubscribe, "done": request.method == "POST"}
    return render(request, "catalog/stock_alert.html", context)


def search_view(request: HttpRequest) -> HttpResponse:
    """Search results with facets as filters, sorts, pages, "did you mean" and a helpful empty
    state. Bad parameters are dropped (never a 500); an unreachable engine is a 503 page."""
    wanted, errors = parse_search_params(request.GET)
    status, result = 200, None
    try:
        result = search.search(query=wanted.query, filters=wanted.filters, sort=wanted.sort, page=wanted.page,
                               page_size=wanted.page_size)  # fmt: skip
        if wanted.page > result.num_pages:  # past the last page: show the last one
            wanted = replace(wanted, page=result.num_pages)
            result = search.search(query=wanted.query, filters=wanted.filters, sort=wanted.sort, page=wanted.page,
                                   page_size=wanted.page_size)  # fmt: skip
    except search.SearchUnavailable:
        status = 503
    activity.count_search(request, query=wanted.query, results=result.total if result is not None else None,
                          first_page=wanted.page == 1, filtered=wanted.filters != search.SearchFilters())  # fmt: skip
    cards = selectors.with_availability(search.result_cards(result)) if result and result.ids else []
    filtered = wanted.filters != search.SearchFilters()
    context = {
        "query": wanted.query,
        "wanted": wanted,
        "result": result,
        "cards": cards,
        "filter_errors": errors,
        "filtered": filtered,
        "sorts": search.SORTS,
        "chosen_attributes": {name: set(values) for name, values in wanted.filters.attributes},
        "params": _params_without(request, "page"),
        "unavailable": status == 503,
        "popular": selectors.list_popular_products(limit=8) if result is not None and not result.total else [],
        "max_query_length": search.MAX_QUERY_LENGTH,
    }
    if result is not None:
        context["facet_links"] = _facet_links(request, result.facets)
    return render(request, "catalog/search.html", context, status=status)


def search_suggest_view(request: HttpRequest) -> JsonResponse:
    """The header search box's suggestions as you type (JSON; plain JS in static/js/search.js)."""
    try:
        return JsonResponse(search.suggest(query=request.GET.get("q", "")))
    except search.SearchUnavailable:
        return JsonResponse({"query": "", "suggestion": None, "products": []}, status=503)


def _params_without(request: HttpRequest, *names: str, **replacements: str) -> str:
    params = request.GET.copy()
    for name in (*names, *replacements):
        params.pop(name, None)
    for name, value in replacements.items():
        if value:
            params[name] = value
    return params.urlencode()


def _facet_links(request: HttpRequest, facets: dict) -> dict:
    """Links that narrow the results to one category or one price band (and drop the page)."""
    return {
        "categories": [
            {**c, "href": "?" + _params_without(request, "page", category=c["slug"])} for c in facets["categories"]
        ],
        "price_bands": [
            {**b, "href": "?" + _params_without(request, "page", price_min=b["min"], price_max=b["max"] or "")}
            for b in facets["price_bands"]
        ],
        "any_category": "?" + _params_without(request, "page", "category"),
        "any_price": "?" + _params_without(request, "page", "price_min", "price_max"),
        "clear": "?" + urlencode({"q": request.GET.get("q", "")}),
    }


@csrf_exempt  # a machine POST authorised by its signed field, as S3's presigned POST is by its policy
@require_POST
def direct_upload_view(request: HttpRequest, upload_id) -> HttpResponse:
    """The embedded default's upload URL (local media, no S3): the same multipart POST a client
    sends to S3, answered as S3 answers it (204, or 400 naming the refused field)."""
    file = request.FILES.get("file")
    if file is None:
        return JsonResponse(error_body("invalid", "Send the picture as the form field `file`.",
                                       {"file": ["This field is required."]}), status=400)  # fmt: skip
    try:
        services.store_direct_upload(upload_id=upload_id, fields=request.POST.dict(), file=file)
    except ValidationError as exc:
        return JsonResponse(error_body("invalid", "The upload was refused.", exc.message_dict), status=400)
    except NotFound as exc:
        return JsonResponse(error_body(exc.code, exc.message), status=404)
    return HttpResponse(status=204)
