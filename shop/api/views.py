from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from shop.api.throttling import AnonRateThrottle
from shop.guest import new_guest_token


class GuestTokenCreateApi(APIView):
    """A new guest token for an anonymous shopper: send it back as the X-Guest-Token header.

    It identifies the guest's cart until sign-in, when the cart is merged into the account.
    """

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [AnonRateThrottle]

    @extend_schema(
        request=None, responses={201: inline_serializer("GuestToken", {"guest_token": serializers.CharField()})}
    )
    def post(self, request: Request) -> Response:
        return Response({"guest_token": new_guest_token()}, status=201)
