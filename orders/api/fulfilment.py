"""The fulfilment API for warehouse systems (`Authorization: Api-Key <key>`; issue 18).

- `GET /api/v1/fulfilment/orders` (scope orders:read): orders to ship (authorized), or with
  `?state=shipped` those on their way, oldest first, by cursor.
- `POST /api/v1/fulfilment/orders/{number}/ship` (scope orders:fulfil): carrier and tracking
  number; captures the payment as the admin's "Mark shipped" does (the same service). Once only:
  Idempotency-Key required, a replay answers the same order with 200; another call for a shipped
  order is a 409.
- `POST /api/v1/fulfilment/orders/{number}/deliver` (scope orders:fulfil): the carrier handed the
  parcel over; delivering again changes nothing.
- `POST /api/v1/fulfilment/carriers/{carrier}/events`: the same, reported by the carrier itself,
  signed with the carrier's secret (ORDERS_CARRIER_WEBHOOK_SECRETS; shop.signatures); a forged or
  old signature is a 400 and changes nothing, a replay changes nothing either.

Thin doors: the services decide, and their refusals reach the client in the API's error shape.
"""

from __future__ import annotations

import json

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orders import selectors, services
from orders.api.serializers import OrderAddressSerializer
from orders.exceptions import CarrierWebhookRefused
from orders.models import Order, OrderLine
from orders.states import OrderState
from shop import signatures
from shop.api.idempotency import idempotency_from_request
from shop.api.pagination import OldestFirstCursorPagination
from shop.api.permissions import HasScopedAPIKey
from shop.api.schema import error_response, idempotency_key_header
from shop.api.throttling import ApiKeyScopedRateThrottle, ScopedRateThrottle
from shop.exceptions import NotFound

LISTED_STATES = [OrderState.AUTHORIZED, OrderState.SHIPPED]


class FulfilmentLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = ["product_id", "sku", "title", "quantity"]
        read_only_fields = fields


class FulfilmentOrderSerializer(serializers.ModelSerializer):
    """What a warehouse needs to pick, pack and label an order, and where it stands."""

    state = serializers.ChoiceField(choices=OrderState.choices, read_only=True)
    address = OrderAddressSerializer(source="*", read_only=True)
    lines = FulfilmentLineSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = ["number", "state", "created_at", "delivery_option", "delivery_label", "address", "lines",
                  "carrier", "tracking_number", "shipped_at", "delivered_at"]  # fmt: skip
        read_only_fields = fields


class FulfilmentListQuerySerializer(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=[(state.value, state.label) for state in LISTED_STATES], required=False,
        default=OrderState.AUTHORIZED.value,
        help_text="authorized: paid for, ready to ship (default); shipped: on their way, not delivered yet.",
    )  # fmt: skip


class ShipInputSerializer(serializers.Serializer):
    carrier = serializers.CharField(max_length=Order._meta.get_field("carrier").max_length, help_text="e.g. DHL")
    tracking_number = serializers.CharField(max_length=Order._meta.get_field("tracking_number").max_length)


class FulfilmentBaseApi(APIView):
    authentication_classes: list = []  # machine clients: the API key is the credential
    permission_classes = [HasScopedAPIKey]
    throttle_classes = [ApiKeyScopedRateThrottle]
    throttle_scope = "fulfilment"

    def client(self, request: Request) -> str:
        """The key's name and prefix, written to the order's history."""
        return f"{request.api_key.name} ({request.api_key.prefix})"


class FulfilmentOrderListApi(FulfilmentBaseApi, GenericAPIView):
    """Orders to ship, oldest first (scope orders:read); `?state=shipped` lists those on their way."""

    api_key_scope = "orders:read"
    pagination_class = OldestFirstCursorPagination
    serializer_class = FulfilmentOrderSerializer

    @extend_schema(
        parameters=[OpenApiParameter("state", str, enum=[state.value for state in LISTED_STATES],
                                     description="authorized (default) or shipped")],
        responses={200: FulfilmentOrderSerializer(many=True),
                   400: error_response("`state` is not authorized or shipped.")},
    )  # fmt: skip
    def get(self, request: Request) -> Response:
        query = FulfilmentListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = self.paginate_queryset(selectors.list_orders_to_fulfil(state=query.validated_data["state"]))
        return self.get_paginated_response(FulfilmentOrderSerializer(page, many=True).data)


class FulfilmentShipApi(FulfilmentBaseApi):
    """The parcel left the warehouse: the payment is captured and the order becomes shipped, with its
    carrier and tracking number (scope orders:fulfil). Once only; a replayed Idempotency-Key answers
    the same order."""

    api_key_scope = "orders:fulfil"

    @extend_schema(
        parameters=[idempotency_key_header(required=True)], request=ShipInputSerializer,
        responses={200: FulfilmentOrderSerializer,
                   409: error_response("Not ready to ship (order_state_conflict: not authorized, or shipped "
                                       "already), or the payment could not be captured (capture_failed)."),
                   422: error_response("The Idempotency-Key was used with another request."),
                   503: error_response("The payment gateway is not answering; nothing shipped, try again.")},
    )  # fmt: skip
    def post(self, request: Request, number: str) -> Response:
        idempotency = idempotency_from_request(request, required=True)
        data = ShipInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = selectors.get_order_by_number(number=number)
        services.mark_shipped(order_id=order.pk, client=self.client(request), idempotency=idempotency,
                              **data.validated_data)  # fmt: skip
        return Response(FulfilmentOrderSerializer(selectors.get_order_by_number(number=number)).data)


class FulfilmentDeliverApi(FulfilmentBaseApi):
    """The carrier handed the parcel over (scope orders:fulfil). Delivering again changes nothing."""

    api_key_scope = "orders:fulfil"

    @extend_schema(
        request=None,
        responses={200: FulfilmentOrderSerializer,
                   409: error_response("The order never shipped (order_state_conflict).")},
    )  # fmt: skip
    def post(self, request: Request, number: str) -> Response:
        order = selectors.get_order_by_number(number=number)
        services.mark_delivered(order_id=order.pk, client=self.client(request))
        return Response(FulfilmentOrderSerializer(selectors.get_order_by_number(number=number)).data)


CARRIER_SIGNATURE_HEADER = "Carrier-Signature"


class CarrierEventInputSerializer(serializers.Serializer):
    event_id = serializers.CharField(max_length=100, help_text="The carrier's id of this event.")
    type = serializers.ChoiceField(choices=["delivered"], help_text="Only deliveries are taken.")
    tracking_number = serializers.CharField(max_length=Order._meta.get_field("tracking_number").max_length)


class CarrierEventApi(APIView):
    """A carrier reports a parcel delivered, signed with its secret (header Carrier-Signature:
    `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, at most 5 minutes old). The order shipped
    with that carrier and tracking number becomes delivered; a replay changes nothing."""

    authentication_classes: list = []
    permission_classes = [AllowAny]  # the signature is the credential, checked first thing
    throttle_classes = [ScopedRateThrottle]  # per address, on the fulfilment rate (a carrier sends many)
    throttle_scope = "fulfilment"

    @extend_schema(
        parameters=[OpenApiParameter(CARRIER_SIGNATURE_HEADER, str, OpenApiParameter.HEADER, required=True,
                                     description="t=<unix time>,v1=<hex HMAC-SHA256 of '<t>.<body>'>")],
        request=CarrierEventInputSerializer,
        responses={200: FulfilmentOrderSerializer,
                   400: error_response("A missing, forged or old signature (invalid_signature), or a body not valid."),
                   404: error_response("An unknown carrier, or no order shipped with that tracking number."),
                   409: error_response("The order never shipped (order_state_conflict).")},
    )  # fmt: skip
    def post(self, request: Request, carrier: str) -> Response:
        secret = settings.ORDERS_CARRIER_WEBHOOK_SECRETS.get(carrier)
        if not secret:
            raise NotFound("This carrier does not send us webhooks.")
        body = request._request.body  # the exact bytes that were signed, before any parsing
        try:
            signatures.verify(body, request.headers.get(CARRIER_SIGNATURE_HEADER, ""), secret=secret)
        except signatures.BadSignature as exc:
            raise CarrierWebhookRefused(str(exc)) from exc
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise serializers.ValidationError({"body": ["Send a JSON object."]}) from exc
        data = CarrierEventInputSerializer(data=payload if isinstance(payload, dict) else {})
        data.is_valid(raise_exception=True)
        order = selectors.get_order_by_tracking(carrier=carrier, tracking_number=data.validated_data["tracking_number"])
        services.mark_delivered(order_id=order.pk, client=f"carrier {carrier} (event {data.validated_data['event_id']})")
        return Response(FulfilmentOrderSerializer(selectors.get_order_by_number(number=order.number)).data)
