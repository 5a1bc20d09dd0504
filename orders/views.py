"""Storefront pages of orders: checkout in steps, the order page with its live status, "my orders",
cancelling, and a guest's look-up by number and e-mail.

Checkout keeps what the customer chose in the session under one key (CHECKOUT_KEY), as plain
JSON values: the address (a snapshot, and the saved address's id when one was picked), a guest's
e-mail, the delivery option, the payment method token, and the review form's one-time token.
Each step that is reached before the ones it needs redirects to the first missing step; an empty
cart sends the customer back to the cart. "Place order" calls orders.services.place_order with
the one-time token as its idempotency key, so a second submit of the same form gets the same
order, never a second one.

Who may see an order: its customer, the guest token that placed it, or a visitor whose session
holds its number (GRANTED_KEY: set by the signed link of the e-mails, the look-up by number and
e-mail, or placing it). Everyone else gets a 404, exactly as for a number that does not exist.
"""

from __future__ import annotations

import secrets
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import selectors as accounts_selectors
from accounts import services as accounts_services
from accounts.exceptions import AccountLimitReached, InvalidAddress
from accounts.models import country_name
from accounts.services import AddressData
from cart import selectors as cart_selectors
from cart.models import Cart
from orders import pricing, selectors, services
from orders.access import token_grants
from orders.exceptions import CheckoutRefused, EmptyCart, NotEnoughStock, OrderNotFound, ProductNoLongerSold
from orders.forms import (
    NEW_ADDRESS,
    CheckoutAddressForm,
    DeliveryForm,
    GuestEmailForm,
    OrderLookupForm,
    PaymentForm,
    PlaceOrderForm,
    ReturnRequestForm,
    SavedAddressForm,
)
from orders.models import Order
from orders.services import CheckoutInput
from orders.states import RETURNABLE, SETTLING, OrderState, can_transition
from payments import methods as payment_methods
from payments import selectors as payments_selectors
from shop.api.errors import json_error
from shop.api.throttling import throttle_post
from shop.exceptions import DomainError
from shop.guest import guest_key, guest_token_from_request
from shop.idempotency import IdempotencyKeyReused, IdempotencyRequest, fingerprint, scope_for
from shop.money import format_minor_units

CHECKOUT_KEY = "checkout"  # session: the checkout in progress (and the last order placed from it)
GRANTED_KEY = "orders_granted"  # session: order numbers this visitor opened by signed link or look-up
MAX_GRANTED = 50  # the most recent ones are kept; an old one needs its link again
ORDERS_PER_PAGE = 20
# The form's errors are shown with the form. 200 as the checkout issue asks for; the accounts
# pages answer 400, and changing this constant is all it takes to align them.
FORM_ERROR_STATUS = 200

EMPTY_CART_MESSAGE = "Your cart is empty: add something before checking out."
STALE_FORM_MESSAGE = "Your checkout changed since that page was shown: check it and place your order again."
# Refusals about the cart's content: the customer fixes them on the cart page.
CART_REFUSALS = (EmptyCart, NotEnoughStock, ProductNoLongerSold)
# Every other refusal of place_order is shown on the review page with its own status.
REVIEW_REFUSALS = (CheckoutRefused, InvalidAddress, payment_methods.InvalidPaymentMethod, IdempotencyKeyReused)


# --- Who is asking ---------------------------------------------------------------------------------


def _signed_in(request: HttpRequest) -> bool:
    return request.user.is_authenticated


def _guest_token(request: HttpRequest) -> str | None:
    """The guest token of an anonymous visitor (a signed-in customer's orders and cart are the account's)."""
    return None if _signed_in(request) else guest_token_from_request(request)


def _guest_key(request: HttpRequest) -> str:
    token = _guest_token(request)
    return guest_key(token) if token else ""


def _granted(request: HttpRequest) -> frozenset[str]:
    return frozenset(request.session.get(GRANTED_KEY, ()))


def _grant(request: HttpRequest, number: str) -> None:
    numbers = [granted for granted in request.session.get(GRANTED_KEY, []) if granted != number]
    request.session[GRANTED_KEY] = [*numbers, number][-MAX_GRANTED:]


def _viewable_order(request: HttpRequest, number: str, *, select=selectors.get_order) -> Order:
    """The order if this visitor may see it (a valid ?access= token grants it for the session); else 404."""
    access = request.GET.get("access")
    if access and token_grants(number, access):
        _grant(request, number)
    try:
        return select(number=number, customer=request.user, guest_key=_guest_key(request), granted_numbers=_granted(request))
    except OrderNotFound as exc:
        raise Http404(exc.message) from exc


# --- Checkout state ----------------------------------------------------------------------------------


def _state(request: HttpRequest) -> dict:
    return dict(request.session.get(CHECKOUT_KEY) or {})


def _update_state(request: HttpRequest, **changes) -> None:
    """Record a step's choice; the review form's token goes with any change, so an old review
    page (another tab) can no longer place an order the customer did not see."""
    state = _state(request)
    state.update(changes)
    state.pop("token", None)
    request.session[CHECKOUT_KEY] = state


def _address_done(request: HttpRequest, state: dict) -> bool:
    return "address" in state and (_signed_in(request) or bool(state.get("email")))


def _first_missing_step(request: HttpRequest, state: dict, *, before: str) -> str | None:
    """The URL of the first step before `before` ("delivery", "payment", "review") still to do."""
    needed = {"delivery": 1, "payment": 2, "review": 3}[before]
    steps = (
        (_address_done(request, state), "orders:checkout"),
        (bool(state.get("delivery_option")), "orders:checkout-delivery"),
        (bool(state.get("payment_method")), "orders:checkout-payment"),
    )
    for done, url_name in steps[:needed]:
        if not done:
            return reverse(url_name)
    return None


def _open_cart(request: HttpRequest) -> Cart | None:
    return cart_selectors.find_open_cart(user=request.user, guest_token=_guest_token(request))


def _to_cart_when_empty(request: HttpRequest, cart: Cart | None) -> HttpResponse | None:
    if cart is None or cart_selectors.count_items(cart=cart) == 0:
        messages.info(request, EMPTY_CART_MESSAGE)
        return redirect("cart:cart")
    return None


def _step_context(request: HttpRequest, step: str, state: dict) -> dict:
    """What the steps bar needs: the current step and which earlier ones can be revisited."""
    return {"step": step, "state": state, "address_done": _address_done(request, state)}


# --- Checkout steps ----------------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def checkout_address_view(request: HttpRequest) -> HttpResponse:
    """Step 1: a saved address (the default preselected) or a new one; a guest also gives an e-mail."""
    if response := _to_cart_when_empty(request, _open_cart(request)):
        return response
    state = _state(request)
    signed_in = _signed_in(request)
    addresses = list(accounts_selectors.list_addresses_for_user(user=request.user)) if signed_in else []
    data = request.POST if request.method == "POST" else None
    choice_form = _saved_address_form(data, addresses, state)
    email_form = None if signed_in else GuestEmailForm(data, initial={"email": state.get("email", "")})
    # The new-address fields count only when the customer chose "a new address" (or has none saved).
    wants_new = choice_form is None or (data is not None and data.get("address") == NEW_ADDRESS)
    address_form = CheckoutAddressForm(
        data if wants_new else None,
        signed_in=signed_in,
        initial=state["address"] if state.get("address") and not state.get("address_id") else None,
        use_required_attribute=choice_form is None,
    )
    if data is not None:
        chosen = _chosen_address(request, choice_form, email_form, address_form)
        if chosen is not None:
            address, address_id = chosen
            email = email_form.cleaned_data["email"] if email_form else ""
            _update_state(request, address=address.__dict__, address_id=address_id, email=email)
            return redirect("orders:checkout-delivery")
    context = {
        **_step_context(request, "address", state),
        "choice_form": choice_form,
        "email_form": email_form,
        "address_form": address_form,
    }
    status = FORM_ERROR_STATUS if data is not None else 200
    return render(request, "orders/checkout_address.html", context, status=status)


def _saved_address_form(data, addresses: list, state: dict) -> SavedAddressForm | None:
    if not addresses:
        return None
    if state.get("address") and not state.get("address_id"):
        initial = NEW_ADDRESS  # they typed a new one before: show it again
    elif state.get("address_id") in {address.pk for address in addresses}:
        initial = str(state["address_id"])
    else:
        initial = str(addresses[0].pk)  # the default comes first (list_addresses_for_user's order)
    return SavedAddressForm(data, addresses=addresses, initial={"address": initial})


def _chosen_address(
    request: HttpRequest,
    choice_form: SavedAddressForm | None,
    email_form: GuestEmailForm | None,
    address_form: CheckoutAddressForm,
) -> tuple[AddressData, int | None] | None:
    """The address the step's forms describe, or None with the errors on the forms.

    Every form is validated, so all errors show at once. "Save to my addresses" saves it only
    when everything else is valid: a refused step writes nothing.
    """
    valid = email_form.is_valid() if email_form is not None else True
    if choice_form is not None:
        if not choice_form.is_valid():
            return None
        if saved := choice_form.chosen():
            return (_address_data(saved), saved.pk) if valid else None
    if not address_form.is_valid() or not valid:
        return None
    data = address_form.address_data()
    if not address_form.cleaned_data.get("save_address"):
        return data, None
    try:
        created = accounts_services.add_address(
            user=request.user, data=data, make_default=address_form.cleaned_data["make_default"]
        )
    except AccountLimitReached as exc:
        address_form.add_error("save_address", exc.message)
        return None
    messages.success(request, "Address saved to your account.")
    return data, created.value.pk


def _address_data(address) -> AddressData:
    return AddressData.of(address)


@never_cache
@require_http_methods(["GET", "POST"])
def checkout_delivery_view(request: HttpRequest) -> HttpResponse:
    """Step 2: a delivery option with its price."""
    return _choice_step(
        request, step="delivery", field="delivery_option", form_class=DeliveryForm, next_step="orders:checkout-payment"
    )


@never_cache
@require_http_methods(["GET", "POST"])
def checkout_payment_view(request: HttpRequest) -> HttpResponse:
    """Step 3: a payment method token (a test card; with Stripe, the pm_... id)."""
    return _choice_step(
        request, step="payment", field="payment_method", form_class=PaymentForm, next_step="orders:checkout-review"
    )


def _choice_step(request: HttpRequest, *, step: str, field: str, form_class, next_step: str) -> HttpResponse:
    """A one-field step: gated on the steps before it, its value kept in the checkout state."""
    if response := _to_cart_when_empty(request, _open_cart(request)):
        return response
    state = _state(request)
    if missing := _first_missing_step(request, state, before=step):
        return redirect(missing)
    initial = state.get(field) or (pricing.delivery_options()[0].code if step == "delivery" else None)
    # Nothing chosen yet: the form's own default stays preselected (the first test card).
    form = form_class(request.POST if request.method == "POST" else None, initial={field: initial} if initial else {})
    if request.method == "POST":
        if form.is_valid():
            _update_state(request, **{field: form.cleaned_data[field]})
            return redirect(next_step)
        status = FORM_ERROR_STATUS
    else:
        status = 200
    context = {**_step_context(request, step, state), "form": form}
    return render(request, f"orders/checkout_{step}.html", context, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def checkout_review_view(request: HttpRequest) -> HttpResponse:
    """Step 4: everything the order will be, and "Place order" (POST, one-time token, expected total)."""
    state = _state(request)
    form = PlaceOrderForm(request.POST) if request.method == "POST" else None
    if form is not None and form.is_valid():
        placed = state.get("placed") or {}
        if placed.get("token") == form.cleaned_data["token"]:  # the same form again, after it was placed
            return redirect("orders:detail", number=placed["number"])
    if request.method == "GET" and (response := _to_cart_when_empty(request, _open_cart(request))):
        return response
    if missing := _first_missing_step(request, state, before="review"):
        return redirect(missing)
    if request.method == "GET":
        return _render_review(request, state)
    if not form.is_valid():
        messages.error(request, "Something was missing from the order form: check your order and place it again.")
        return _render_review(request, state, status=400)
    if form.cleaned_data["token"] != state.get("token"):
        messages.error(request, STALE_FORM_MESSAGE)
        return _render_review(request, state, status=409)
    return _place_order(request, state, expected_total=form.cleaned_data["expected_total"])


def _place_order(request: HttpRequest, state: dict, *, expected_total: Decimal) -> HttpResponse:
    signed_in = _signed_in(request)
    guest_token = _guest_token(request)
    if not signed_in and guest_token is None:  # no guest token, so no cart either
        messages.error(request, EMPTY_CART_MESSAGE)
        return redirect("cart:cart")
    checkout = CheckoutInput(
        address=AddressData(**state["address"]),
        delivery_option=state["delivery_option"],
        payment_method=state["payment_method"],
        email="" if signed_in else state.get("email", ""),
        expected_total=expected_total,
    )
    body = {
        "address": state["address"],
        "email": checkout.email,
        "delivery_option": checkout.delivery_option,
        "payment_method": checkout.payment_method,
        "expected_total": str(expected_total),
    }
    scope = scope_for(user=request.user if signed_in else None, guest_token=guest_token)
    idempotency = IdempotencyRequest(
        scope=f"checkout-form:{scope}",
        key=state["token"],
        fingerprint=fingerprint(method="POST", path=request.path, body=body),
    )
    try:
        result = services.place_order(
            checkout=checkout,
            customer=request.user if signed_in else None,
            guest_token=guest_token,
            idempotency=idempotency,
        )
    except CART_REFUSALS as exc:
        # Post/Redirect/Get: the cart page (with the reason, and a warning on each line above
        # stock) is a page the customer can refresh without posting the order again.
        messages.error(request, exc.message)
        return _see_other(reverse("cart:cart"))
    except REVIEW_REFUSALS as exc:
        messages.error(request, exc.message)
        return _render_review(request, state, status=exc.status_code)
    order = result.value
    _grant(request, order.number)
    request.session[CHECKOUT_KEY] = {"placed": {"token": state["token"], "number": order.number}}
    if result.created:
        messages.success(request, f"Thank you! We received your order {order.number}.")
    return redirect(order)


def _see_other(url: str) -> HttpResponseRedirect:
    """A 303: the browser fetches `url` with GET, whatever the method of the request answered."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def _render_review(request: HttpRequest, state: dict, *, status: int = 200) -> HttpResponse:
    """The review page from the current cart and prices; makes the one-time token on first sight."""
    cart_view = cart_selectors.get_cart_view(cart=_open_cart(request))
    sold = [line for line in cart_view.lines if line.unit_price is not None and line.product is not None]
    try:
        delivery = pricing.delivery_option(state["delivery_option"])
    except pricing.UnknownDeliveryOption:  # the options were reconfigured meanwhile
        return redirect("orders:checkout-delivery")
    totals = pricing.compute_totals(
        lines=[(line.product_id, line.quantity, line.unit_price) for line in sold], delivery=delivery.code
    )
    if not state.get("token"):
        state["token"] = secrets.token_urlsafe(24)
        request.session[CHECKOUT_KEY] = state
    form = PlaceOrderForm(initial={"token": state["token"], "expected_total": totals.total})
    context = {
        **_step_context(request, "review", state),
        "cart": cart_view,
        "totals": totals,
        "address_lines": _address_lines(state["address"]),
        "email": request.user.email if _signed_in(request) else state.get("email", ""),
        "delivery": delivery,
        "payment_label": _payment_label(state["payment_method"]),
        "form": form,
        "can_place": bool(sold),
        "prices_include_tax": settings.ORDERS_PRICES_INCLUDE_TAX,
    }
    return render(request, "orders/checkout_review.html", context, status=status)


def _address_lines(address: dict) -> list[str]:
    lines = [
        address.get("full_name", ""),
        address.get("line1", ""),
        address.get("line2", ""),
        f"{address.get('postal_code', '')} {address.get('city', '')}".strip(),
        country_name(address.get("country", "")),
        address.get("phone", ""),
    ]
    return [line for line in lines if line]


def _payment_label(token: str) -> str:
    labels = {card.token: card.label for card in payment_methods.test_cards()}
    return labels.get(token, token)


# --- Orders --------------------------------------------------------------------------------------------


@never_cache
@require_GET
def order_list_view(request: HttpRequest) -> HttpResponse:
    """The customer's (or this guest token's) orders, newest first, 20 a page; three queries a page
    (four signed in: orders placed as a guest with the account's address are pointed out)."""
    orders = selectors.list_orders(customer=request.user, guest_key=_guest_key(request))
    page = Paginator(orders, ORDERS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [(order, sum(line.quantity for line in order.lines.all())) for order in page]
    context = {"page": page, "rows": rows, "page_number": page.number, "num_pages": page.paginator.num_pages}
    if _signed_in(request):
        context["guest_orders_found"] = len(selectors.list_guest_order_ids_for_email(email=request.user.email))
    return render(request, "orders/list.html", context)


@never_cache
@require_GET
def order_detail_view(request: HttpRequest, number: str) -> HttpResponse:
    return _render_order(request, _viewable_order(request, number))


def _render_order(
    request: HttpRequest, order: Order, *, status: int = 200, payment_form=None, return_form=None
) -> HttpResponse:
    context = {
        "order": order,
        "lines": order.lines.all(),
        "history": [event for event in order.events.all() if event.to_state],
        "settling": order.state in SETTLING,
        "can_cancel": can_transition(order.state, OrderState.CANCELLED),
        "payment_label": _payment_label(order.payment_method),
        "refunds": _refunds(order),
    }
    if order.delivered_at is not None:  # only a delivered order has returns, or may have one
        context |= _returns_context(order, return_form=return_form)
    if order.state == OrderState.PAYMENT_FAILED:
        payment = payments_selectors.latest_payment(order_id=order.pk)
        context |= {
            "payment": payment,
            "payment_problem": services.PAYMENT_PROBLEMS.get(
                (payment.decline_code or payment.state) if payment else "", "Your payment could not be completed."
            ),
            "needs_action": payment is not None and payment.state == "requires_action",
            "payment_deadline": services.payment_deadline(order),
            "payment_form": payment_form or PaymentForm(),
        }
    return render(request, "orders/detail.html", context, status=status)


def _returns_context(order: Order, *, return_form: ReturnRequestForm | None = None) -> dict:
    """The order's returns, and the "Return items" form while units may be asked back."""
    deadline = services.return_deadline(order)
    window_open = timezone.now() <= deadline
    context = {"returns": selectors.returns_of(order_id=order.pk), "return_deadline": deadline,
               "return_window_open": window_open}  # fmt: skip
    if order.state in RETURNABLE and window_open:
        form = return_form or ReturnRequestForm(lines=list(order.lines.all()),
                                                open_units=selectors.units_open_to_return(order_id=order.pk))  # fmt: skip
        context["return_form"] = form if form.returnable else None
    return context


@require_POST
def order_return_view(request: HttpRequest, number: str) -> HttpResponse:
    """The customer asks to return some units of a delivered order (the order page's form)."""
    order = _viewable_order(request, number)
    form = ReturnRequestForm(request.POST, lines=list(order.lines.all()),
                             open_units=selectors.units_open_to_return(order_id=order.pk))  # fmt: skip
    if not form.is_valid():
        return _render_order(request, order, status=400, return_form=form)
    try:
        created = services.request_return(
            order_id=order.pk, units=form.units(), reason=form.cleaned_data["reason"],
            comment=form.cleaned_data["comment"], actor=request.user if _signed_in(request) else None,
        )  # fmt: skip
    except DomainError as exc:
        messages.error(request, exc.message)
        return _render_order(request, order, status=exc.status_code)
    messages.success(request, f"Thank you: we received your return request {created.number} and e-mailed you.")
    return redirect(order)


def _refunds(order: Order) -> list[dict]:
    """What was refunded, when and why (only refunds that succeeded), as money."""
    if not order.refunded_amount:
        return []
    return [
        {"created_at": refund.created_at, "amount": format_minor_units(refund.amount, order.currency),
         "reason": refund.reason}
        for refund in payments_selectors.refunds_of(order_id=order.pk)
    ]  # fmt: skip


@require_POST
def order_payment_view(request: HttpRequest, number: str) -> HttpResponse:
    """The customer gives another payment method for an order whose payment failed."""
    order = _viewable_order(request, number)
    form = PaymentForm(request.POST)
    if not form.is_valid():
        return _render_order(request, order, status=400, payment_form=form)
    try:
        services.replace_payment_method(order_id=order.pk, payment_method=form.cleaned_data["payment_method"],
                                        actor=request.user if _signed_in(request) else None)  # fmt: skip
    except DomainError as exc:
        messages.error(request, exc.message)
        return _render_order(request, order, status=exc.status_code, payment_form=form)
    messages.success(request, "Thank you: we are trying your new payment method now.")
    return redirect(order)


@require_POST
def order_payment_complete_view(request: HttpRequest, number: str) -> HttpResponse:
    """The customer confirmed the payment with their bank (3-D Secure)."""
    order = _viewable_order(request, number)
    try:
        services.complete_payment_action(order_id=order.pk)
    except DomainError as exc:
        messages.error(request, exc.message)
        return _render_order(request, order, status=exc.status_code)
    messages.success(request, "Thank you: your payment is being confirmed.")
    return redirect(order)


@never_cache
@require_GET
def order_status_view(request: HttpRequest, number: str) -> JsonResponse:
    """The order's state for the order page's script, which reloads the page when it changes."""
    try:
        order = _viewable_order(request, number, select=selectors.get_order_state)  # polled every 2 s: one query
    except Http404:
        return json_error("order_not_found", OrderNotFound.default_message, 404)
    return JsonResponse({"number": order.number, "state": order.state, "state_label": order.state_label})


@require_POST
def order_cancel_view(request: HttpRequest, number: str) -> HttpResponse:
    order = _viewable_order(request, number)
    try:
        services.cancel_order(order_id=order.pk, actor=request.user if _signed_in(request) else None)
    except DomainError as exc:  # not cancellable now, or stock busy (503: try again)
        messages.error(request, exc.message)
        return _render_order(request, order, status=exc.status_code)
    messages.success(request, f"Your order {order.number} is cancelled.")
    return redirect(order)


@never_cache
@require_http_methods(["GET", "POST"])
@throttle_post("order_lookup")
def order_find_view(request: HttpRequest) -> HttpResponse:
    """A guest finds an order by its number and e-mail; a wrong pair never says which field was wrong."""
    form = OrderLookupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            order = selectors.find_order_by_email(number=form.cleaned_data["number"], email=form.cleaned_data["email"])
        except OrderNotFound as exc:
            form.add_error(None, exc.message)
        else:
            _grant(request, order.number)
            return redirect(order)
    status = FORM_ERROR_STATUS if form.errors else 200
    return render(request, "orders/find.html", {"form": form}, status=status)
