"""The orders API: checkout, the customer's orders, one order, cancelling it.

The customer is the signed-in user, or the guest named by X-Guest-Token; another customer's
order number answers 404, exactly like a number that does not exist.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors as accounts_selectors
from accounts.services import AddressData
from cart.api.views import GUEST_TOKEN_PARAMETER
from orders import pricing, selectors, services
from orders.api.serializers import (
    CheckoutInputSerializer,
    CheckoutOptionsSerializer,
    OrderSerializer,
    OrderSummarySerializer,
    RefundInputSerializer,
    RefundOutputSerializer,
    ReturnInputSerializer,
    ReturnSerializer,
    units_of,
)
from orders.exceptions import OrderNotFound
from payments import methods as payment_methods
from payments import selectors as payments_selectors
from shop import money
from shop.api.idempotency import idempotency_from_request
from shop.api.pagination import PageNumberWithSize
from shop.api.schema import error_response, idempotency_key_header
from shop.api.throttling import AnonRateThrottle, UserRateThrottle
from shop.guest import guest_key, guest_token_from_request


class OrdersBaseApi(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [UserRateThrottle, AnonRateThrottle]

    def viewer(self, request: Request) -> dict:
        """Who is asking: {"customer": user} or {"guest_key": ...}; neither is a 404 for orders."""
        if request.user.is_authenticated:
            return {"customer": request.user}
        if token := guest_token_from_request(request._request):
            return {"guest_key": guest_key(token)}
        raise OrderNotFound("Sign in, or send the X-Guest-Token that placed the order.")

    def order(self, request: Request, number: str):
        return selectors.get_order(number=number, **self.viewer(request))


class CheckoutOptionsApi(APIView):
    """What checkout offers: the delivery options with their prices, and the test gateway's cards."""

    permission_classes = [AllowAny]

    @extend_schema(responses=CheckoutOptionsSerializer)
    def get(self, request: Request) -> Response:
        return Response(
            CheckoutOptionsSerializer(
                {"currency": settings.SHOP_CURRENCY, "delivery_options": pricing.delivery_options(),
                 "test_cards": payment_methods.test_cards()}
            ).data
        )  # fmt: skip


class CheckoutApi(OrdersBaseApi):
    """Place an order from the customer's open cart. Idempotency-Key is required: a retry with the
    same key and body returns the same order with 200. Stock is allocated right after (the
    order's state moves from placed to allocated or rejected: poll GET /orders/{number})."""

    @extend_schema(
        parameters=[GUEST_TOKEN_PARAMETER, idempotency_key_header(required=True)],
        request=CheckoutInputSerializer,
        responses={
            201: OrderSerializer, 200: OrderSerializer,
            404: error_response("address_id is not one of yours, or no guest token and not signed in."),
            409: error_response("Empty cart, a product no longer sold, plainly out of stock, or the total changed."),
            422: error_response("The Idempotency-Key was used with another body."),
        },
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        idempotency = idempotency_from_request(request, required=True)
        data = CheckoutInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        token = guest_token_from_request(request._request)
        if not request.user.is_authenticated and not token:
            raise OrderNotFound("Sign in, or send X-Guest-Token (POST /api/v1/guest-tokens gives one).")
        if "address_id" in values:
            if not request.user.is_authenticated:
                raise OrderNotFound("Guests send the address itself, not an address_id.")
            saved = accounts_selectors.get_address_for_user(user=request.user, address_id=values["address_id"])
            address = AddressData.of(saved)
        else:
            address = AddressData(**values["address"])
        outcome = services.place_order(
            checkout=services.CheckoutInput(
                address=address,
                delivery_option=values["delivery_option"],
                payment_method=values["payment_method"],
                email=values.get("email", ""),
                expected_total=values.get("expected_total"),
            ),
            customer=request.user,
            guest_token=token,
            idempotency=idempotency,
        )
        order = outcome.value  # a new order comes with its lines and history; a replay is read again
        if not outcome.created:
            order = selectors.get_order(number=order.number, granted_numbers=frozenset({order.number}))
        return Response(OrderSerializer(order).data, status=201 if outcome.created else 200)


class OrderListApi(OrdersBaseApi, GenericAPIView):
    """The customer's orders (or the guest token's), newest first."""

    pagination_class = PageNumberWithSize
    serializer_class = OrderSummarySerializer

    @extend_schema(parameters=[GUEST_TOKEN_PARAMETER], responses=OrderSummarySerializer(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.list_orders(**self.viewer(request)))
        return self.get_paginated_response(OrderSummarySerializer(page, many=True).data)


class OrderDetailApi(OrdersBaseApi):
    """One order with its lines, totals, address and state history."""

    @extend_schema(
        parameters=[GUEST_TOKEN_PARAMETER],
        responses={200: OrderSerializer, 404: error_response("No such order of yours.")},
    )
    def get(self, request: Request, number: str) -> Response:
        return Response(OrderSerializer(self.order(request, number)).data)


class IsRefundStaff(BasePermission):
    message = "Only staff with the refund permission may refund orders."

    def has_permission(self, request: Request, view) -> bool:
        return bool(request.user and request.user.is_staff and request.user.has_perm("orders.refund_order"))


class OrderRefundApi(APIView):
    """Staff: refund a shipped order, fully (no amount) or partly, and put returned units back in
    stock. Idempotency-Key required: a retry returns the same refund. Never more than was captured."""

    permission_classes = [IsRefundStaff]

    @extend_schema(
        parameters=[idempotency_key_header(required=True)], request=RefundInputSerializer,
        responses={201: RefundOutputSerializer, 200: RefundOutputSerializer,
                   403: error_response("Not staff with the refund permission."),
                   404: error_response("No such order."),
                   409: error_response("Not shipped, or more than is left to refund."),
                   422: error_response("The Idempotency-Key was used for another order or amount."),
                   503: error_response("The payment gateway is not answering; nothing changed.")},
    )  # fmt: skip
    def post(self, request: Request, number: str) -> Response:
        idempotency = idempotency_from_request(request, required=True)
        data = RefundInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        order = selectors.get_order(number=number, granted_numbers=frozenset({number}))
        reference = "api-" + hashlib.sha256(f"{idempotency.scope}:{idempotency.key}".encode()).hexdigest()[:40]
        restock = units_of(values["restock"])
        existed = payments_selectors.find_refund(reference=reference) is not None
        order = services.refund_order(order_id=order.pk, amount=values.get("amount"), reference=reference,
                                      restock=restock, reason=values["reason"], actor=request.user)  # fmt: skip
        refund = payments_selectors.find_refund(reference=reference)
        body = {"reference": refund.reference, "amount": money.from_minor_units(refund.amount, order.currency),
                "state": refund.state, "order_state": order.state}  # fmt: skip
        return Response(RefundOutputSerializer(body).data, status=200 if existed else 201)


class OrderCancelApi(OrdersBaseApi):
    """Cancel the order while nothing has shipped; its stock goes back. 409 when it cannot be cancelled."""

    @extend_schema(
        parameters=[GUEST_TOKEN_PARAMETER], request=None,
        responses={200: OrderSerializer, 404: error_response("No such order of yours."),
                   409: error_response("The order cannot be cancelled in its state (order_state_conflict).")},
    )  # fmt: skip
    def post(self, request: Request, number: str) -> Response:
        order = self.order(request, number)
        services.cancel_order(order_id=order.pk, actor=request.user if request.user.is_authenticated else None,
                              reason="Cancelled by the customer")  # fmt: skip
        return Response(OrderSerializer(self.order(request, number)).data)


class OrderReturnApi(OrdersBaseApi):
    """The customer's returns of an order: list them, or ask to return units of a delivered order
    within the return window (ORDERS_RETURN_WINDOW_DAYS). Staff approve or refuse in admin; the
    warehouse receiving the items refunds and restocks them."""

    @extend_schema(
        parameters=[GUEST_TOKEN_PARAMETER],
        responses={200: ReturnSerializer(many=True), 404: error_response("No such order of yours.")},
    )
    def get(self, request: Request, number: str) -> Response:
        order = self.order(request, number)
        return Response(ReturnSerializer(selectors.returns_of(order_id=order.pk), many=True).data)

    @extend_schema(
        parameters=[GUEST_TOKEN_PARAMETER], request=ReturnInputSerializer,
        responses={201: ReturnSerializer,
                   400: error_response("A line names a product not in the order, or more units than were "
                                       "delivered and not returned yet; no reason."),
                   404: error_response("No such order of yours."),
                   409: error_response("Not delivered, or its return window has closed (return_refused).")},
    )  # fmt: skip
    def post(self, request: Request, number: str) -> Response:
        order = self.order(request, number)
        data = ReturnInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        created = services.request_return(
            order_id=order.pk, units=units_of(values["lines"]), reason=values["reason"], comment=values["comment"],
            actor=request.user if request.user.is_authenticated else None,
        )  # fmt: skip
        return Response(ReturnSerializer(selectors.get_return_by_number(number=created.number)).data, status=201)
