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


class CategoryNodeOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    children = serializers.ListField(child=serializers.DictField())
