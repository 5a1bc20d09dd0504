"""The cart API: the whole cart, a device's operation batches, and simple line endpoints.

The cart is the signed-in customer's, or the guest's named by X-Guest-Token; there is no cart id
in the URL, so nobody can address another customer's cart.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cart import selectors, services
from cart.api.serializers import (
    CartOutputSerializer,
    LineAddInputSerializer,
    LineQuantityInputSerializer,
    OperationsInputSerializer,
)
from cart.exceptions import CartNotFound
from catalog import services as catalog_services
from shop.api.schema import error_response
from shop.api.throttling import AnonRateThrottle, UserRateThrottle
from shop.guest import GUEST_HEADER, guest_token_from_request

GUEST_TOKEN_PARAMETER = OpenApiParameter(
    GUEST_HEADER, str, OpenApiParameter.HEADER, description="An anonymous shopper's token (POST /api/v1/guest-tokens)."
)


class CartBaseApi(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [UserRateThrottle, AnonRateThrottle]

    def cart(self, request: Request, *, create: bool):
        token = guest_token_from_request(request._request)
        if not request.user.is_authenticated and not token:
            raise CartNotFound("Sign in, or send X-Guest-Token (POST /api/v1/guest-tokens gives one).")
        if create:
            return services.get_or_create_cart(user=request.user, guest_token=token)
        return selectors.find_open_cart(user=request.user, guest_token=token)

    def render(self, cart) -> Response:
        return Response(CartOutputSerializer(selectors.get_cart_view(cart=cart)).data)


# Anonymous clients (no JWT, or an API key that is no customer) without X-Guest-Token have no cart.
NO_CART = error_response("No guest token and not signed in (cart_not_found).")


class CartApi(CartBaseApi):
    """The cart: lines with product summary, current price, availability, live tags; the epoch."""

    @extend_schema(
        parameters=[GUEST_TOKEN_PARAMETER],
        responses={200: CartOutputSerializer, 404: NO_CART},
    )
    def get(self, request: Request) -> Response:
        return self.render(self.cart(request, create=False))


class CartOperationsApi(CartBaseApi):
    """Apply a device's batch of adds (client-generated tags) and removes (observed tags), whole or
    not at all; a replay changes nothing. 409 `cart_resync_required` when `base_epoch` is stale."""

    @extend_schema(
        parameters=[GUEST_TOKEN_PARAMETER], request=OperationsInputSerializer,
        responses={200: CartOutputSerializer, 404: NO_CART,
                   409: error_response("Resync needed (cart_resync_required) or cart full.")},
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        data = OperationsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        cart = self.cart(request, create=True)
        cart = services.apply_operations(cart_id=cart.pk, **data.validated_data)
        return self.render(cart)


class CartLinesApi(CartBaseApi):
    """Add a product (one new add) for simple clients."""

    @extend_schema(
        parameters=[GUEST_TOKEN_PARAMETER], request=LineAddInputSerializer,
        responses={200: CartOutputSerializer, 404: NO_CART},
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        data = LineAddInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        cart = self.cart(request, create=True)
        cart = services.add_item(cart_id=cart.pk, **data.validated_data)
        catalog_services.count_cart_add(request, product_id=data.validated_data["product_id"],
                                        quantity=data.validated_data.get("quantity", 1))  # fmt: skip
        return self.render(cart)


class CartLineApi(CartBaseApi):
    """Set a line's quantity (0 removes it) or remove it."""

    @extend_schema(
        parameters=[GUEST_TOKEN_PARAMETER], request=LineQuantityInputSerializer,
        responses={200: CartOutputSerializer, 404: NO_CART},
    )  # fmt: skip
    def put(self, request: Request, product_id: int) -> Response:
        data = LineQuantityInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        cart = self.cart(request, create=True)
        return self.render(services.set_quantity(cart_id=cart.pk, product_id=product_id, **data.validated_data))

    @extend_schema(parameters=[GUEST_TOKEN_PARAMETER], responses={200: CartOutputSerializer, 404: NO_CART})
    def delete(self, request: Request, product_id: int) -> Response:
        cart = self.cart(request, create=False)
        if cart is None:
            raise CartNotFound()
        return self.render(services.remove_product(cart_id=cart.pk, product_id=product_id))
