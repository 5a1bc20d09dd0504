"""GET and DELETE /api/v1/me/recently-viewed: the visitor's "Recently viewed" products."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotAuthenticated, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import recently_viewed
from catalog.api.serializers import ProductCardOutputSerializer
from catalog.api.views import _with_availability
from catalog.recently_viewed import RecentlyViewed
from shop.api.schema import error_response
from shop.api.throttling import AnonRateThrottle, UserRateThrottle
from shop.guest import GUEST_HEADER, is_valid_guest_token

GUEST_TOKEN_PARAMETER = OpenApiParameter(
    GUEST_HEADER, str, OpenApiParameter.HEADER,
    description="A guest's token (POST /api/v1/guest-tokens); not needed when signed in.",
)  # fmt: skip
ERRORS = {
    400: error_response("X-Guest-Token is malformed (code invalid; `fields` names the header)."),
    401: error_response(
        "Not signed in and no X-Guest-Token (not_authenticated), or a bad JWT (authentication_failed)."
    ),
}


class RecentlyViewedApi(APIView):
    """The products this visitor (a customer by JWT, or a guest by X-Guest-Token) looked at last,
    newest first (product detail views count), as cards with availability; products no longer sold
    are left out."""

    permission_classes = [AllowAny]
    throttle_classes = [UserRateThrottle, AnonRateThrottle]

    def recent(self, request: Request) -> RecentlyViewed:
        header = request.headers.get(GUEST_HEADER)
        if not request.user.is_authenticated and header is not None and not is_valid_guest_token(header):
            raise ValidationError(
                {GUEST_HEADER: ["Send the token POST /api/v1/guest-tokens gave (32-64 URL-safe characters)."]}
            )
        recent = RecentlyViewed.for_request(request)
        if recent.visitor is None:
            raise NotAuthenticated("Sign in, or send X-Guest-Token (POST /api/v1/guest-tokens gives one).")
        return recent

    @extend_schema(
        operation_id="me_recently_viewed_list",
        parameters=[GUEST_TOKEN_PARAMETER],
        responses={
            200: inline_serializer(
                "RecentlyViewed",
                {"count": serializers.IntegerField(), "results": ProductCardOutputSerializer(many=True)},
            ),
            **ERRORS,
        },
    )
    def get(self, request: Request) -> Response:
        cards = _with_availability(self.recent(request).cards())
        return Response({"count": len(cards), "results": cards}, headers={"Cache-Control": "private, no-store"})

    @extend_schema(
        operation_id="me_recently_viewed_clear", parameters=[GUEST_TOKEN_PARAMETER], request=None,
        responses={204: None, **ERRORS},
    )  # fmt: skip
    def delete(self, request: Request) -> Response:
        recently_viewed.clear(visitor=self.recent(request).visitor)
        return Response(status=204)
