"""OpenAPI: every operation documents the error shape and the errors it can answer with."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, OpenApiTypes
from rest_framework import serializers
from rest_framework.permissions import AllowAny


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable: invalid, not_found, throttled, ...")
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


def error_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=ErrorSerializer, description=description)


def idempotency_key_header(*, required: bool) -> OpenApiParameter:
    return OpenApiParameter(
        name="Idempotency-Key",
        type=OpenApiTypes.STR,
        location=OpenApiParameter.HEADER,
        required=required,
        description="A unique key per intended creation (e.g. a UUID). A retry with the same key and body returns "
        "the first result with 200; the same key with another body is a 422.",
    )


IDEMPOTENCY_KEY_HEADER = idempotency_key_header(required=False)


RETRY_AFTER_HEADER = OpenApiParameter(
    name="Retry-After",
    type=OpenApiTypes.INT,
    location=OpenApiParameter.HEADER,
    response=[429],
    description="Seconds to wait before the next request.",
)


class ShopAutoSchema(AutoSchema):
    """Adds the platform's error responses (400, 401, 403, 404, 429) to every operation."""

    def get_override_parameters(self):
        return [*super().get_override_parameters(), RETRY_AFTER_HEADER]

    def _get_response_bodies(self, direction: str = "response"):
        responses = super()._get_response_bodies(direction)
        method = self.method.upper()
        defaults = {"429": "Too many requests; wait for the seconds in Retry-After."}
        if method in ("POST", "PUT", "PATCH"):
            defaults["400"] = "The body is malformed or a field is not valid; `fields` names each field and reason."
        if not any(isinstance(p, AllowAny) for p in self.view.get_permissions()):
            defaults["401"] = "Authentication is required or the credentials are not valid."
            defaults["403"] = "Authenticated, but not allowed to do this."
        if "{" in self.path:
            defaults["404"] = "Not found, or not yours."
        elif method == "GET" and getattr(self.view, "pagination_class", None):
            defaults["404"] = "The page number is past the last page (code not_found)."
        for code, description in defaults.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(error_response(description), code)
        return responses
