"""/api/v1/products/{id}/images/uploads: pictures go from the client straight to storage.

Thin doors onto catalog.services.uploads (its docstring tells the protocol). Who: the catalog
write API's callers (catalog-manager staff, or an API key with `catalog:write`); an upload can
be completed only by whoever started it.
"""

from __future__ import annotations

from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from catalog import services
from catalog.api.writes import CatalogWriteApi
from catalog.models import ImageUpload, ProductImage
from catalog.services.uploads import UPLOAD_CONTENT_TYPES
from shop.api.idempotency import client_scope
from shop.api.schema import error_response


class ImageUploadInputSerializer(serializers.Serializer):
    content_type = serializers.ChoiceField(choices=sorted(UPLOAD_CONTENT_TYPES),
                                           help_text="The picture's type; S3 refuses any other.")  # fmt: skip
    alt_text = serializers.CharField(required=False, allow_blank=True,
                                     max_length=ImageUpload._meta.get_field("alt_text").max_length)  # fmt: skip


class ImageUploadOutputSerializer(serializers.Serializer):
    upload_id = serializers.UUIDField()
    url = serializers.CharField(help_text="POST the file here as multipart/form-data: the fields, then `file`.")
    fields = serializers.DictField(child=serializers.CharField(), help_text="Send each as a form field, unchanged.")
    max_bytes = serializers.IntegerField()
    expires_at = serializers.DateTimeField(help_text="The URL refuses the file after this.")


class UploadedImageOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    product_id = serializers.IntegerField()
    status = serializers.CharField(help_text="pending until a worker has made the thumbnails, then ready.")
    position = serializers.IntegerField()
    alt_text = serializers.CharField()
    original = serializers.CharField(help_text="The original's URL (CDN with S3).")


def _image_body(image: ProductImage) -> dict:
    return {"id": image.pk, "product_id": image.product_id, "status": image.status, "position": image.position,
            "alt_text": image.alt_text, "original": services.image_urls(image)["original"]}  # fmt: skip


class ImageUploadCreateApi(CatalogWriteApi):
    """Start a direct upload of a picture of this product: where and how to POST the file."""

    staff_permissions = {"POST": "catalog.add_productimage"}

    @extend_schema(
        operation_id="product_image_uploads_create",
        request=ImageUploadInputSerializer,
        responses={201: ImageUploadOutputSerializer, 404: error_response("No product has this id.")},
    )
    def post(self, request: Request, product_id: int) -> Response:
        data = ImageUploadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = services.start_image_upload(product_id=product_id, requested_by=client_scope(request), **data.validated_data)
        body = {"upload_id": ticket.upload.pk, "url": request.build_absolute_uri(ticket.url), "fields": ticket.fields,
                "max_bytes": ticket.upload.max_bytes, "expires_at": ticket.upload.expires_at}  # fmt: skip
        return Response(ImageUploadOutputSerializer(body).data, status=201)


class ImageUploadCompleteApi(CatalogWriteApi):
    """The file is in storage: check it again and make it the product's next image (thumbnails
    follow from a worker). A second call returns the same image with 200."""

    staff_permissions = {"POST": "catalog.add_productimage"}

    @extend_schema(
        operation_id="product_image_uploads_complete",
        request=None,
        responses={
            201: UploadedImageOutputSerializer,
            200: UploadedImageOutputSerializer,
            400: error_response("The stored file was refused (too large, another type, not a picture) and deleted; "
                                "code upload_refused."),
            404: error_response("No such upload of yours for this product."),
            409: error_response("No file has reached storage yet (code upload_missing)."),
            410: error_response("The upload expired before its file arrived (code upload_expired)."),
        },
    )  # fmt: skip
    def post(self, request: Request, product_id: int, upload_id: UUID) -> Response:
        result = services.complete_image_upload(product_id=product_id, upload_id=upload_id,
                                                requested_by=client_scope(request))  # fmt: skip
        return Response(_image_body(result.value), status=201 if result.created else 200)
