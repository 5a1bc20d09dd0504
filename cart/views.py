"""Storefront pages of the cart: the cart page and its forms (add, change a line, remove, clear).

Views parse a form, call a cart service, turn the cart's domain errors into a message (or the
JSON error of the one error shape for the add-to-cart script) and redirect after POST.
"""

from __future__ import annotations

import functools

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cart import selectors, services
from cart.exceptions import CartError, ProductNotAvailable
from cart.forms import AddToCartForm, LineQuantityForm, first_error
from cart.models import Cart
from catalog import selectors as catalog_selectors
from catalog import services as catalog_services
from shop.api.errors import error_body
from shop.guest import guest_token_from_request, new_guest_token, set_guest_cookie

NOTHING_TO_CHANGE = "Your cart is empty: there is nothing to change."


def _wants_json(request: HttpRequest) -> bool:
    """The add-to-cart script (X-Requested-With: fetch) or any client asking for JSON."""
    return request.headers.get("X-Requested-With") == "fetch" or "application/json" in request.headers.get("Accept", "")


def _open_cart(request: HttpRequest) -> Cart | None:
    return selectors.find_open_cart(user=request.user, guest_token=guest_token_from_request(request))


def _next_url(request: HttpRequest, candidate: str) -> str:
    """`candidate` when it stays on this site, else the cart page (no open redirect)."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("cart:cart")


def _cart_for_add(request: HttpRequest, *, token: str | None, product_id: int) -> Cart:
    """The shopper's open cart; a new one only for a product on sale, so a refused first add
    leaves no empty cart behind (add_item checks again under the cart's lock)."""
    cart = selectors.find_open_cart(user=request.user, guest_token=token)
    if cart is not None:
        return cart
    if product_id not in catalog_selectors.get_sellable_prices(product_ids=[product_id]):
        raise ProductNotAvailable()
    return services.get_or_create_cart(user=request.user, guest_token=token)


@never_cache  # one shopper's content: no shared cache may keep it
@require_GET
def cart_view(request: HttpRequest) -> HttpResponse:
    cart = _open_cart(request)
    view = selectors.get_cart_view(cart=cart)
    return render(
        request,
        "cart/cart.html",
        # The header's count from the cart found above (one query instead of two).
        {
            "cart": view,
            "cart_count": functools.partial(selectors.count_items, cart=cart),
            "recommended": selectors.get_cart_recommendations(view=view),
        },
    )


@require_POST
def add_view(request: HttpRequest) -> HttpResponse:
    """Add a product (quantity 1 unless given). A guest without a token gets one in a cookie.

    Answers a redirect to `next` (or the cart page) with a message, or JSON for the script.
    """
    as_json = _wants_json(request)
    next_url = _next_url(request, request.POST.get("next", ""))
    form = AddToCartForm(request.POST)
    if not form.is_valid():
        field, message = first_error(form)
        return _add_refused(request, as_json, next_url, error_body("invalid", message, {field: [message]}), 400)
    new_token = cart = None
    token = guest_token_from_request(request)
    if not request.user.is_authenticated and token is None:
        token = new_token = new_guest_token()
    product_id, quantity = form.cleaned_data["product_id"], form.cleaned_data["quantity"]
    try:
        cart = _cart_for_add(request, token=token, product_id=product_id)
        services.add_item(cart_id=cart.pk, product_id=product_id, quantity=quantity)
        catalog_services.count_cart_add(request, product_id=product_id, quantity=quantity)
    except CartError as exc:
        response = _add_refused(
            request, as_json, next_url, error_body(exc.code, exc.message, exc.fields), exc.status_code
        )
    else:
        message = "Added to your cart."
        if as_json:
            response = JsonResponse({"cart_count": selectors.count_items(cart=cart), "message": message})
        else:
            messages.success(request, message)
            response = redirect(next_url)
    if new_token is not None and cart is not None:  # a cart now exists under the new token
        set_guest_cookie(response, new_token)
    return response


def _add_refused(request: HttpRequest, as_json: bool, next_url: str, body: dict, status: int) -> HttpResponse:
    if as_json:
        return JsonResponse(body, status=status)
    messages.error(request, body["error"]["message"])
    return redirect(next_url)


@require_POST
def line_view(request: HttpRequest, product_id: int) -> HttpResponseRedirect:
    """Set a line's quantity; 0 removes the line."""
    form = LineQuantityForm(request.POST)
    cart = _open_cart(request)
    if not form.is_valid():
        messages.error(request, first_error(form)[1])
    elif cart is None:
        messages.error(request, NOTHING_TO_CHANGE)
    else:
        quantity = form.cleaned_data["quantity"]
        try:
            services.set_quantity(cart_id=cart.pk, product_id=product_id, quantity=quantity)
        except CartError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Removed from your cart." if quantity == 0 else "Quantity updated.")
    return redirect("cart:cart")


@require_POST
def remove_view(request: HttpRequest, product_id: int) -> HttpResponseRedirect:
    cart = _open_cart(request)
    if cart is None:
        messages.error(request, NOTHING_TO_CHANGE)
    else:
        try:
            services.remove_product(cart_id=cart.pk, product_id=product_id)
        except CartError as exc:  # merged at sign-in or checked out meanwhile
            messages.error(request, exc.message)
        else:
            messages.success(request, "Removed from your cart.")
    return redirect("cart:cart")


@never_cache
@require_http_methods(["GET", "POST"])
def clear_view(request: HttpRequest) -> HttpResponse:
    """GET asks first, listing what would go (as Django's delete does); POST empties the cart."""
    cart = _open_cart(request)
    if request.method == "GET":
        return render(request, "cart/clear_confirm.html", {"cart": selectors.get_cart_view(cart=cart)})
    try:
        if cart is not None:
            services.clear_cart(cart_id=cart.pk)
    except CartError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Your cart is empty now.")
    return redirect("cart:cart")
