"""GET /api/v1/search and /api/v1/search/suggest: product search for apps, the storefront's twin.

Thin doors: parameters are parsed by catalog.search.params (400 naming each bad one), the search
is catalog.search's, and the results are the product cards with availability. Which backend
answered is never visible here.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from catalog import activity, search
from catalog.api.serializers import SearchPageOutputSerializer, SearchSuggestOutputSerializer
from catalog.api.views import PublicCatalogApi, _with_availability
from catalog.search.params import parse_search_params
from shop.api.schema import error_response
from shop.exceptions import DomainError, NotFound

QUERY_PARAMETER = OpenApiParameter(
    "q", str, description="What to look for. Cut to 200 characters; punctuation and query syntax are plain text. "
    "Empty: the most popular products."
)  # fmt: skip
SEARCH_PARAMETERS = [
    QUERY_PARAMETER,
    OpenApiParameter("category", str, description="A category slug: its products and its descendants'."),
    OpenApiParameter("brand", str, many=True, description="Brand slugs (repeat for several)."),
    OpenApiParameter("price_min", float), OpenApiParameter("price_max", float, description="Inclusive."),
    OpenApiParameter("in_stock", bool),
    OpenApiParameter("sort", str, enum=list(search.SORTS), description="Default: relevance."),
    OpenApiParameter("page", int, description=f"Only the first {search.MAX_RESULT_WINDOW} results can be paged."),
    OpenApiParameter("page_size", int, description="At most 100."),
    OpenApiParameter("attr_colour", str, many=True, description="Any attr_<name>=<value> filters on attributes."),
]  # fmt: skip


class SearchPageNotFound(NotFound):
    default_message = "This page number is past the last page."


class SearchUnavailableError(DomainError):
    code = "search_unavailable"
    status_code = 503
    default_message = "Search is unavailable right now. Try again in a minute."


class SearchApi(PublicCatalogApi):
    """Active products matching the words of `q` (typos forgiven), narrowed by the filters, with
    facet counts over all the results and a "did you mean" suggestion for misspelled words."""

    @extend_schema(
        operation_id="search",
        parameters=SEARCH_PARAMETERS,
        responses={
            200: SearchPageOutputSerializer,
            400: error_response("A parameter is not valid; `fields` names each one and why."),
            404: error_response("The page number is past the last page."),
            503: error_response("The search engine cannot be reached (code search_unavailable)."),
        },
    )
    def get(self, request: Request) -> Response:
        wanted, errors = parse_search_params(request.query_params, strict_unknown=True)
        if errors:
            raise ValidationError(errors)
        try:
            result = search.search(query=wanted.query, filters=wanted.filters, sort=wanted.sort, page=wanted.page,
                                   page_size=wanted.page_size)  # fmt: skip
        except search.SearchUnavailable as exc:
            raise SearchUnavailableError() from exc
        activity.count_search(request, query=wanted.query, results=result.total, first_page=wanted.page == 1,
                              filtered=wanted.filters != search.SearchFilters())  # fmt: skip
        if wanted.page > result.num_pages:
            raise SearchPageNotFound()
        return Response(
            {
                "query": wanted.query,
                "suggestion": result.suggestion,
                "count": result.total,
                "count_is_estimate": result.total_is_estimate,
                "next": self._page_url(request, wanted.page + 1) if wanted.page < result.num_pages else None,
                "previous": self._page_url(request, wanted.page - 1) if wanted.page > 1 else None,
                "results": _with_availability(search.result_cards(result)),
                "facets": result.facets,
                "facets_sampled": result.facets_sampled,
                "degraded": result.degraded,
            }
        )

    @staticmethod
    def _page_url(request: Request, page: int) -> str:
        params = request.query_params.copy()
        params["page"] = str(page)
        return request.build_absolute_uri(f"{request.path}?{params.urlencode()}")


class SearchSuggestApi(PublicCatalogApi):
    """Search as you type: up to 6 products for what has been typed so far, and the "did you
    mean" correction. Fewer than two characters: no products."""

    @extend_schema(
        operation_id="search_suggest",
        parameters=[QUERY_PARAMETER],
        responses={
            200: SearchSuggestOutputSerializer,
            400: error_response("An unknown parameter was sent."),
            503: error_response("The search engine cannot be reached (code search_unavailable)."),
        },
    )
    def get(self, request: Request) -> Response:
        unknown = sorted(set(request.query_params) - {"q"})
        if unknown:
            raise ValidationError({name.replace("\x00", ""): ["Unknown parameter."] for name in unknown})
        try:
            return Response(search.suggest(query=request.query_params.get("q", "")))
        except search.SearchUnavailable as exc:
            raise SearchUnavailableError() from exc
