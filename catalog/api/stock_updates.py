"""POST /api/v1/stock-updates: seller systems send stock levels by SKU; inventory applies them in the background.

A thin door: validate the batch, resolve SKUs to product ids (one catalog query), hand the known
ones to one inventory task after commit, answer 202 with a status per update. Applying a level,
its idempotency and its ledger row are inventory's (inventory.services.apply_stock_updates).
"""

from __future__ import annotations

from collections import Counter
from functools import partial

from django.db import transaction
from drf_spectacular.utils import extend_schema
from kombu.exceptions import OperationalError as BrokerUnavailable
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from catalog.models import Product
from inventory.tasks import apply_stock_updates_task
from shop.api.permissions import HasScopedAPIKey
from shop.api.schema import error_response
from shop.api.throttling import APIKeyRateThrottle
from shop.exceptions import DomainError

MAX_UPDATES_PER_BATCH = 500
MAX_QUANTITY = 1_000_000
MAX_UPDATE_ID_LENGTH = 100
QUEUED = "queued"
UNKNOWN_SKU = "unknown_sku"


class StockFeedUnavailable(DomainError):
    code = "stock_feed_unavailable"
    status_code = 503
    default_message = "Stock updates cannot be queued right now. Send the same batch again in a minute."


class StockFeedRateThrottle(APIKeyRateThrottle):
    """The view's scoped rate (API_THROTTLE_RATES["stock_feed"]), counted per API key, not per IP."""


class _BatchListSerializer(serializers.ListSerializer):
    """Batch-level errors (not a list, empty, too long) under "updates" itself, not "updates.non_field_errors"."""

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if isinstance(exc.detail, dict) and list(exc.detail) == [api_settings.NON_FIELD_ERRORS_KEY]:
                raise serializers.ValidationError(exc.detail[api_settings.NON_FIELD_ERRORS_KEY]) from None
            raise


class StockUpdateLineInputSerializer(serializers.Serializer):
    update_id = serializers.CharField(
        min_length=1,
        max_length=MAX_UPDATE_ID_LENGTH,
        help_text="The seller's own unique id of this update: sending it again changes nothing.",
    )
    sku = serializers.CharField(max_length=Product._meta.get_field("sku").max_length)
    quantity = serializers.IntegerField(
        min_value=0, max_value=MAX_QUANTITY, help_text="The units available now (a level, not a change)."
    )

    class Meta:
        list_serializer_class = _BatchListSerializer


class StockUpdatesInputSerializer(serializers.Serializer):
    updates = StockUpdateLineInputSerializer(
        many=True,
        allow_empty=False,
        min_length=1,
        max_length=MAX_UPDATES_PER_BATCH,
        help_text=f"1 to {MAX_UPDATES_PER_BATCH} updates, applied in this order (a later one for a SKU wins).",
    )

    def validate_updates(self, updates: list[dict]) -> list[dict]:
        repeated = sorted(update_id for update_id, n in Counter(u["update_id"] for u in updates).items() if n > 1)
        if repeated:
            raise serializers.ValidationError(
                f"Each update_id may appear once per batch; repeated: {', '.join(repeated)}."
            )
        return updates


class StockUpdateLineResultSerializer(serializers.Serializer):
    update_id = serializers.CharField()
    sku = serializers.CharField()
    status = serializers.ChoiceField(
        choices=[QUEUED, UNKNOWN_SKU],
        help_text="queued: will be applied shortly; unknown_sku: no product has this SKU, the update is skipped.",
    )


class StockUpdatesAcceptedOutputSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="How many updates were queued.")
    results = StockUpdateLineResultSerializer(many=True)


class StockUpdatesApi(APIView):
    """Seller systems set stock levels by SKU (`Authorization: Api-Key <key>` with scope stock:write).

    Answers 202 at once; queued updates are applied in the background, in the batch's order. An
    update_id already applied for this key changes nothing, so a batch can be sent again safely
    (after a timeout or a 503).
    """

    authentication_classes: list = []
    permission_classes = [HasScopedAPIKey]
    api_key_scope = "stock:write"
    throttle_classes = [StockFeedRateThrottle]
    throttle_scope = "stock_feed"

    @extend_schema(
        request=StockUpdatesInputSerializer,
        responses={
            202: StockUpdatesAcceptedOutputSerializer,
            503: error_response(
                "The updates could not be queued; send the same batch again (code stock_feed_unavailable)."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = StockUpdatesInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        updates = data.validated_data["updates"]
        product_ids = dict(Product.objects.filter(sku__in={u["sku"] for u in updates}).values_list("sku", "pk"))
        queued = [
            {"update_id": u["update_id"], "product_id": product_ids[u["sku"]], "quantity": u["quantity"]}
            for u in updates
            if u["sku"] in product_ids
        ]
        if queued:
            # The key's prefix keeps two sellers' update ids apart on the ledger.
            transaction.on_commit(partial(_enqueue, source=f"apikey:{request.api_key.prefix}", updates=queued))
        results = [
            {"update_id": u["update_id"], "sku": u["sku"], "status": QUEUED if u["sku"] in product_ids else UNKNOWN_SKU}
            for u in updates
        ]
        return Response({"accepted": len(queued), "results": results}, status=202)


def _enqueue(*, source: str, updates: list[dict]) -> None:
    try:
        apply_stock_updates_task.delay(source=source, updates=updates)
    except BrokerUnavailable as exc:  # nothing was queued: the seller must send the batch again
        raise StockFeedUnavailable() from exc
