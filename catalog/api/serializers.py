from __future__ import annotations

from rest_framework import serializers


class ImageOutputSerializer(serializers.Serializer):
    original = serializers.CharField()
    small = serializers.CharField(help_text="About 320 px wide, WebP (the original while thumbnails are made).")
    large = serializers.CharField(help_text="About 800 px wide, WebP.")
    alt = serializers.CharField()


class AvailabilityOutputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["in_stock", "low_stock", "out_of_stock"])
    quantity = serializers.IntegerField()
    label = serializers.CharField()


class ProductCardOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField(help_text="Raised by every change customers see (not popularity).")
    slug = serializers.CharField()
    title = serializers.CharField()
    url = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2, coerce_to_string=True)
    compare_at_price = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    brand = serializers.CharField(allow_null=True)
    category = serializers.CharField()
    image = ImageOutputSerializer(allow_null=True)
    availability = AvailabilityOutputSerializer(allow_null=True)


class BreadcrumbOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    url = serializers.CharField()


class ProductDetailOutputSerializer(ProductCardOutputSerializer):
    sku = serializers.CharField()
    description = serializers.CharField()
    attributes = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    images = ImageOutputSerializer(many=True)
    breadcrumbs = BreadcrumbOutputSerializer(many=True)


class ProductPageOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = ProductCardOutputSerializer(many=True)
    facets = serializers.DictField()


class ProductRecommendationsOutputSerializer(serializers.Serializer):
    product_id = serializers.IntegerField()
    source = serializers.ChoiceField(
        choices=["bought_together", "category_popular"], allow_null=True,
        help_text="bought_together: customers who bought this product bought these (most telling first); "
        "category_popular: no such data yet, so the category's most popular products; null: nothing to show.",
    )  # fmt: skip
    results = ProductCardOutputSerializer(many=True, help_text="Active products in stock only.")


class CategoryNodeOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    children = serializers.ListField(child=serializers.DictField())


# --- Search -----------------------------------------------------------------------------------


class CategoryFacetOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField(help_text="Send as `category` to keep only this category (and its subcategories).")
    name = serializers.CharField()
    count = serializers.IntegerField()


class BrandFacetOutputSerializer(serializers.Serializer):
    slug = serializers.CharField(help_text="Send as `brand` (repeatable).")
    name = serializers.CharField()
    count = serializers.IntegerField()


class PriceBandFacetOutputSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    min = serializers.CharField(help_text="Send as `price_min`.")
    max = serializers.CharField(allow_null=True, help_text="Send as `price_max` (inclusive); null: no upper bound.")
    count = serializers.IntegerField()


class AttributeValueFacetOutputSerializer(serializers.Serializer):
    value = serializers.CharField()
    count = serializers.IntegerField()


class AttributeFacetOutputSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="Filter with `attr_<name>=<value>` (repeatable).")
    label = serializers.CharField()
    values = AttributeValueFacetOutputSerializer(many=True)


class SearchFacetsOutputSerializer(serializers.Serializer):
    categories = CategoryFacetOutputSerializer(many=True)
    brands = BrandFacetOutputSerializer(many=True)
    price_bands = PriceBandFacetOutputSerializer(many=True)
    attributes = AttributeFacetOutputSerializer(many=True)


class SearchPageOutputSerializer(serializers.Serializer):
    query = serializers.CharField(allow_blank=True, help_text="The query as searched (trimmed, cut to 200 characters).")
    suggestion = serializers.CharField(
        allow_null=True, help_text='"Did you mean": the query with misspelled words corrected, when any were.'
    )
    count = serializers.IntegerField(help_text="The number of results; an estimate when `count_is_estimate`.")
    count_is_estimate = serializers.BooleanField(
        help_text="True when more than 1,000 products match: `count` is then estimated (two significant figures)."
    )
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = ProductCardOutputSerializer(many=True)
    facets = SearchFacetsOutputSerializer(help_text="Counts over all the results (not just this page).")
    degraded = serializers.BooleanField(
        help_text="True when the search engine (Elasticsearch) could not answer and the database did: "
        "results are complete but ranked more plainly."
    )
    facets_sampled = serializers.BooleanField(
        help_text="True when more than 1,000 products match: the facet counts are then a sample of 1,000 "
        "matches scaled to `count` (up to 1,000 matches they are exact)."
    )


class SearchSuggestionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    url = serializers.CharField()


class SearchSuggestOutputSerializer(serializers.Serializer):
    query = serializers.CharField(allow_blank=True)
    suggestion = serializers.CharField(allow_null=True)
    products = SearchSuggestionOutputSerializer(many=True)
