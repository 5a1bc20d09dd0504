"""The catalog API: product listings with the category page's filters, product detail, categories."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import activity, selectors
from catalog.api.serializers import (
    CategoryNodeOutputSerializer,
    ProductDetailOutputSerializer,
    ProductPageOutputSerializer,
    ProductRecommendationsOutputSerializer,
)
from catalog.filters import SORTS, ListingQuery, parse_listing_params, positive_int
from catalog.recently_viewed import RecentlyViewed
from shop.api.schema import error_response
from shop.api.throttling import AnonRateThrottle, UserRateThrottle

LISTING_PARAMETERS = [
    OpenApiParameter("category", str, description="A category slug: its products and its descendants'."),
    OpenApiParameter("brand", str, many=True, description="Brand slugs (repeat for several)."),
    OpenApiParameter("price_min", float), OpenApiParameter("price_max", float),
    OpenApiParameter("in_stock", bool),
    OpenApiParameter("sort", str, enum=list(SORTS)),
    OpenApiParameter("page", int), OpenApiParameter("page_size", int, description="At most 100."),
    OpenApiParameter("attr_colour", str, many=True, description="Any attr_<name>=<value> filters on attributes."),
]  # fmt: skip


class PublicCatalogApi(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [UserRateThrottle, AnonRateThrottle]


# What a CDN (or an app) may keep: anything, but asked again every time (with If-None-Match), so a
# stock change is never hidden; an unchanged product or page costs a 304 with no rendering.
CACHE_CONTROL = "public, max-age=0, must-revalidate"


def _conditional(request: Request, parts, build) -> Response:
    """200 with `build()` and an ETag of `parts` (product versions and the availability shown),
    or 304 when the client's If-None-Match names that ETag."""
    etag = 'W/"' + hashlib.sha256(repr(parts).encode()).hexdigest()[:24] + '"'
    wanted = {tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")}
    response = Response(status=304) if etag in wanted or "*" in wanted else Response(build())
    response["ETag"] = etag
    response["Cache-Control"] = CACHE_CONTROL
    return response


def _with_availability(cards: list[dict]) -> list[dict]:
    return _plain_availability(selectors.with_availability(cards))


def _plain_availability(cards: list[dict]) -> list[dict]:
    return [{**card, "availability": _plain(card["availability"])} for card in cards]


def _plain(availability) -> dict | None:
    if availability is None:
        return None
    return {"status": availability.status, "quantity": availability.quantity, "label": availability.label}


class ProductListApi(PublicCatalogApi):
    """Active products with the category page's filters and sorts, a page at a time."""

    @extend_schema(
        operation_id="products_list",
        parameters=LISTING_PARAMETERS,
        responses={
            200: ProductPageOutputSerializer,
            400: error_response("A parameter is not valid; `fields` names each one and why."),
            404: error_response("The page number is past the last page."),
        },
    )
    def get(self, request: Request) -> Response:
        values, errors = parse_listing_params(request.query_params, strict_unknown=True)
        category_ids = None
        if slug := request.query_params.get("category", "").strip():
            try:
                category = selectors.get_category(slug=slug)
            except selectors.CategoryNotFound:
                errors["category"] = ["No category has this slug."]
            else:
                category_ids = selectors.descendant_ids(category_id=category["id"])
        if errors:
            raise ValidationError(errors)
        query = ListingQuery(category_ids=category_ids, **values)
        listing = selectors.list_products(query=query)
        results = _with_availability(listing.cards)
        shown = [(r["id"], r.get("version"), r["availability"]) for r in results]
        return _conditional(
            request,
            (query.digest(), listing.count, listing.facets, shown),
            lambda: {
                "count": listing.count,
                "next": self._page_url(request, query, listing.page + 1) if listing.has_next else None,
                "previous": self._page_url(request, query, listing.page - 1) if listing.has_previous else None,
                "results": results,
                "facets": listing.facets,
            },
        )

    @staticmethod
    def _page_url(request: Request, query: ListingQuery, page: int) -> str:
        params = request.query_params.copy()
        params["page"] = str(replace(query, page=page).page)
        return request.build_absolute_uri(f"{request.path}?{params.urlencode()}")


class ProductDetailApi(PublicCatalogApi):
    """One active product by id: images in every size and availability. Inactive or unknown: 404."""

    @extend_schema(operation_id="products_retrieve", responses=ProductDetailOutputSerializer)
    def get(self, request: Request, product_id: int) -> Response:
        return _detail(request, selectors.get_product_id(product_id=product_id))


class ProductBySlugApi(PublicCatalogApi):
    """One active product by its slug (the storefront URL's last part)."""

    @extend_schema(operation_id="products_retrieve_by_slug", responses=ProductDetailOutputSerializer)
    def get(self, request: Request, slug: str) -> Response:
        return _detail(request, slug)


def _detail(request: Request, slug: str) -> Response:
    activity.count_view(request, slug=slug)  # rides in the page's one cache round trip
    page = selectors.get_product_page(slug=slug)
    RecentlyViewed.for_request(request).viewed(page["id"])  # "Recently viewed": one pipeline at the end
    availability = _plain(selectors.get_availability(product_ids=[page["id"]]).get(page["id"]))
    parts = (page["id"], page["version"], availability, page["breadcrumbs"])  # breadcrumbs: category renames
    return _conditional(request, parts, lambda: {**page, "availability": availability})


MAX_RECOMMENDATIONS = 20


class ProductRecommendationsApi(PublicCatalogApi):
    """"Customers also bought" for one active product: product cards with price and availability,
    never an inactive or out-of-stock one; its category's popular products when there is no data."""

    @extend_schema(
        operation_id="products_recommendations",
        parameters=[OpenApiParameter("limit", int, description=f"1 to {MAX_RECOMMENDATIONS} (default {MAX_RECOMMENDATIONS}).")],
        responses={
            200: ProductRecommendationsOutputSerializer,
            304: OpenApiResponse(description="Unchanged since the ETag sent in If-None-Match (no body)."),
            400: error_response("`limit` is not a whole number from 1 to 20; `fields` names it."),
            404: error_response("No active product has this id (code product_not_found)."),
        },
    )
    def get(self, request: Request, product_id: int) -> Response:
        errors: dict[str, list[str]] = {}
        limit = MAX_RECOMMENDATIONS
        if "limit" in request.query_params:
            limit = positive_int(request.query_params["limit"].strip(), "limit", errors, maximum=MAX_RECOMMENDATIONS)
        if errors:
            raise ValidationError(errors)
        slug = selectors.get_product_id(product_id=product_id)
        recommended = selectors.get_recommendations(slugs=[slug], exclude={product_id}, limit=limit)
        results = _plain_availability(recommended.cards)
        shown = [(r["id"], r["version"], r["availability"]) for r in results]
        return _conditional(
            request,
            (product_id, recommended.source, shown),
            lambda: {"product_id": product_id, "source": recommended.source, "results": results},
        )


class CategoryTreeApi(PublicCatalogApi):
    """The whole category tree, nested."""

    @extend_schema(responses=CategoryNodeOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        tree = selectors.category_tree()

        def node(category_id: int) -> dict:
            n = tree["nodes"][category_id]
            return {"id": n["id"], "name": n["name"], "slug": n["slug"], "children": [node(c) for c in n["children"]]}

        return Response([node(i) for i in tree["roots"]])
