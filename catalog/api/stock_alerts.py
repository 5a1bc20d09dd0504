"""POST /api/v1/products/{id}/stock-alerts: be told once when a sold-out product is back in stock.

A thin door onto catalog.services.stock_alerts.subscribe_to_stock_alert (the storefront's product
page posts to the same service).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.services import stock_alerts
from shop.api.schema import error_response
from shop.api.throttling import AnonRateThrottle, ScopedRateThrottle, UserRateThrottle
from shop.email_addresses import EmailAddressSerializerField

PENDING_CONFIRMATION = "pending_confirmation"
ACTIVE = "active"


class StockAlertInputSerializer(serializers.Serializer):
    email = EmailAddressSerializerField(
        required=False,
        allow_blank=True,
        help_text="The address to tell. Required without sign-in; signed in, it defaults to the account's.",
    )


class StockAlertOutputSerializer(serializers.Serializer):
    product_id = serializers.IntegerField()
    email = serializers.CharField()
    status = serializers.ChoiceField(
        choices=[PENDING_CONFIRMATION, ACTIVE],
        help_text="pending_confirmation: a link was e-mailed to the address, nothing is sent until it is used; "
        "active: one e-mail when the product is back in stock, then the subscription ends.",
    )


class StockAlertCreateApi(APIView):
    """Subscribe to a sold-out product's return. A guest gives `email` and confirms it by the link
    e-mailed to it; the answer to a guest is always 202 pending_confirmation, so it never tells
    whether an address had subscribed already. A signed-in customer (no body needed: the account's
    address) gets 201, or 200 for the subscription it has already; with a verified address it is
    active at once. Subscribing an address twice is one subscription. Every e-mail carries an
    unsubscribe link that works without signing in."""

    permission_classes = [AllowAny]
    throttle_classes = [UserRateThrottle, AnonRateThrottle, ScopedRateThrottle]
    throttle_scope = "stock_alerts"

    @extend_schema(
        operation_id="products_stock_alerts_create",
        request=StockAlertInputSerializer,
        responses={
            201: StockAlertOutputSerializer,
            200: StockAlertOutputSerializer,
            202: StockAlertOutputSerializer,
            400: error_response("`email` is missing (no sign-in) or not an e-mail address; `fields` names it."),
            401: error_response("The credentials sent are not valid (send none to subscribe as a guest)."),
            403: error_response("A browser session's request without its CSRF token."),
            404: error_response("No active product has this id."),
            409: error_response("The product is in stock: there is nothing to wait for (code product_in_stock)."),
        },
    )
    def post(self, request: Request, product_id: int) -> Response:
        data = StockAlertInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subscription = stock_alerts.subscribe_to_stock_alert(
            product_id=product_id, email=data.validated_data.get("email", ""), user=request.user
        )
        alert = subscription.alert
        body = {"product_id": alert.product_id, "email": alert.email, "status": PENDING_CONFIRMATION}
        if not request.user.is_authenticated:  # the same answer whatever the address had before
            return Response(StockAlertOutputSerializer(body).data, status=202)
        body["status"] = ACTIVE if subscription.confirmed else PENDING_CONFIRMATION
        return Response(StockAlertOutputSerializer(body).data, status=201 if subscription.created else 200)
