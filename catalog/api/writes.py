"""/api/v1/catalog/products: catalog managers' apps and sellers' systems create and change products.

Who: staff with the catalog permissions (JWT or session), or an API key with the `catalog:write`
scope. Thin doors onto catalog.services (create_product, update_product, set_products_active), so
caches, the listing generation and the search index follow as for an admin edit.

- Creation takes an Idempotency-Key: a retry returns the same product with 200 instead of 201.
- Every answer carries the product's version as its ETag (`"7"`); an update must send it back as
  `If-Match` and is refused with 412 when the product has changed since (428 without If-Match).
- Bad values are one 400 naming every bad field (the rules are the CSV import's too).
"""

from __future__ import annotations

import re

from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import selectors, services
from catalog.models import Product
from shop.api.errors import error_body
from shop.api.idempotency import idempotency_from_request
from shop.api.permissions import StaffPermissionOrScopedAPIKey
from shop.api.schema import IDEMPOTENCY_KEY_HEADER, error_response
from shop.api.throttling import ApiKeyScopedRateThrottle
from shop.exceptions import DomainError

_IF_MATCH = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')


class PreconditionRequired(DomainError):
    code = "precondition_required"
    status_code = 428
    default_message = "Send If-Match with the product's version (its ETag) so no one else's change is overwritten."

    def __init__(self) -> None:
        super().__init__(fields={"If-Match": [self.default_message]})


IF_MATCH_HEADER = OpenApiParameter(
    name="If-Match",
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=True,
    description='The product\'s version as its ETag gave it (e.g. "7"). A product changed since is a 412.',
)
ETAG_HEADER = OpenApiParameter(
    name="ETag",
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    response=[200, 201],
    description="The product's version, quoted: send it back as If-Match to update.",
)


class CatalogProductInputSerializer(serializers.Serializer):
    """Documents the body. The rules are catalog.services.product_values' (one place for the API
    and the CSV import), which names every bad field at once."""

    sku = serializers.CharField(max_length=Product._meta.get_field("sku").max_length)
    title = serializers.CharField(max_length=Product._meta.get_field("title").max_length)
    price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)
    category = serializers.SlugField(help_text="The category's slug.")
    slug = serializers.SlugField(required=False, help_text="Default: made from the title and the SKU.")
    description = serializers.CharField(required=False, allow_blank=True)
    compare_at_price = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=0, required=False, allow_null=True,
        help_text="The was price, shown struck through; at least the price.",
    )  # fmt: skip
    brand = serializers.SlugField(required=False, allow_null=True, help_text="The brand's slug; null for none.")
    attributes = serializers.DictField(
        child=serializers.CharField(), required=False, help_text='Facts such as {"colour": "Red"}; values are text.'
    )
    is_active = serializers.BooleanField(required=False, help_text="False hides the product from the shop.")


class CatalogProductUpdateInputSerializer(CatalogProductInputSerializer):
    """Any subset of the fields (a partial update)."""

    sku = serializers.CharField(required=False, max_length=Product._meta.get_field("sku").max_length)
    title = serializers.CharField(required=False, max_length=Product._meta.get_field("title").max_length)
    price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)
    category = serializers.SlugField(required=False, help_text="The category's slug.")


class CatalogProductOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField(help_text="Raised by every change; send it as If-Match to update.")
    sku = serializers.CharField()
    slug = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2)
    compare_at_price = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    category = serializers.CharField(source="category.slug")
    brand = serializers.CharField(source="brand.slug", allow_null=True, default=None)
    attributes = serializers.DictField(child=serializers.CharField())
    is_active = serializers.BooleanField()
    url = serializers.CharField(source="get_absolute_url")
    updated_at = serializers.DateTimeField()


class CatalogWriteApi(APIView):
    permission_classes = [StaffPermissionOrScopedAPIKey]
    api_key_scope = "catalog:write"
    throttle_classes = [ApiKeyScopedRateThrottle]
    throttle_scope = "catalog_write"


def _product_response(product_id: int, *, status: int = 200) -> Response:
    product = selectors.get_product_for_staff(product_id=product_id)
    response = Response(CatalogProductOutputSerializer(product).data, status=status)
    response["ETag"] = f'"{product.version}"'
    return response


def _body(request: Request) -> dict:
    if not isinstance(request.data, dict):
        raise ValidationError({"non_field_errors": ["Send a JSON object."]})
    return request.data


class CatalogProductCreateApi(CatalogWriteApi):
    """Create a product (sku, title, price and category required). With an Idempotency-Key a retry
    returns the same product with 200; the same key with another body is a 422."""

    staff_permissions = {"POST": "catalog.add_product"}

    @extend_schema(
        operation_id="catalog_products_create",
        parameters=[IDEMPOTENCY_KEY_HEADER, ETAG_HEADER],
        request=CatalogProductInputSerializer,
        responses={
            201: CatalogProductOutputSerializer,
            200: CatalogProductOutputSerializer,
            400: error_response("A field is not valid (a price below 0 or with more than 2 decimals, an unknown "
                                "category or brand, an SKU or slug already used); `fields` names each one."),
            403: error_response("Not staff with catalog.add_product, nor an API key with catalog:write."),
            422: error_response("The Idempotency-Key was used with another body."),
        },
    )  # fmt: skip
    def post(self, request: Request) -> Response:
        idempotency = idempotency_from_request(request)
        result = services.create_product(values=_body(request), request=idempotency)
        return _product_response(result.value.pk, status=201 if result.created else 200)


class CatalogProductApi(CatalogWriteApi):
    """One product as the catalog holds it (active or not), and partial updates of it."""

    staff_permissions = {"GET": "catalog.view_product", "PATCH": "catalog.change_product"}

    @extend_schema(
        operation_id="catalog_products_retrieve",
        parameters=[ETAG_HEADER],
        responses={200: CatalogProductOutputSerializer, 404: error_response("No product has this id.")},
    )
    def get(self, request: Request, product_id: int) -> Response:
        return _product_response(product_id)

    @extend_schema(
        operation_id="catalog_products_partial_update",
        parameters=[IF_MATCH_HEADER, ETAG_HEADER],
        request=CatalogProductUpdateInputSerializer,
        responses={
            200: CatalogProductOutputSerializer,
            400: error_response("A field, or the If-Match header, is not valid; `fields` names each one."),
            403: error_response("Not staff with catalog.change_product, nor an API key with catalog:write."),
            404: error_response("No product has this id."),
            412: error_response("The product changed since the version in If-Match (code version_mismatch)."),
            428: error_response("If-Match is missing (code precondition_required)."),
        },
    )
    def patch(self, request: Request, product_id: int) -> Response:
        expected = _expected_version(request)
        values = _body(request)
        selectors.get_product_for_staff(product_id=product_id)  # 404 before anything else
        try:
            product = services.update_product(product_id=product_id, values=values, expected_version=expected)
        except services.ProductVersionMismatch as exc:
            response = Response(error_body(exc.code, exc.message), status=exc.status_code)
            response["ETag"] = f'"{exc.current}"'
            return response
        return _product_response(product.pk)


class CatalogProductDeactivateApi(CatalogWriteApi):
    """Hide a product from the shop (it stays in orders and in this API). Idempotent."""

    staff_permissions = {"POST": "catalog.change_product"}

    @extend_schema(
        operation_id="catalog_products_deactivate",
        request=None,
        parameters=[ETAG_HEADER],
        responses={
            200: CatalogProductOutputSerializer,
            403: error_response("Not staff with catalog.change_product, nor an API key with catalog:write."),
            404: error_response("No product has this id."),
        },
    )
    def post(self, request: Request, product_id: int) -> Response:
        selectors.get_product_for_staff(product_id=product_id)
        services.set_products_active(product_ids=[product_id], active=False)
        return _product_response(product_id)


def _expected_version(request: Request) -> int:
    header = request.headers.get("If-Match")
    if header is None:
        raise PreconditionRequired()
    match = _IF_MATCH.match(header)
    if match is None:
        raise ValidationError({"If-Match": ['Send the product\'s ETag, e.g. "7".']})
    return int(match.group(1))
