"""Gateway webhooks: POST /payments/webhooks/<gateway>. Signature checked before anything is read;
each event is applied once; answers are small JSON bodies in the platform's error shape."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from payments import services
from payments.gateways import GATEWAYS
from payments.gateways.base import InvalidWebhook
from shop.api.errors import json_error

MAX_BODY = 256 * 1024  # bytes: a gateway event is a few kilobytes


@csrf_exempt  # the gateway signs its events instead
@require_POST
def webhook_view(request: HttpRequest, gateway: str) -> JsonResponse:
    # Only the configured gateway's endpoint answers: with Stripe configured, nobody may post
    # test-gateway events (signed with a secret that may be the public default) to the shop.
    if gateway not in GATEWAYS or gateway != settings.PAYMENT_GATEWAY:
        return json_error("not_found", "No such payment gateway.", 404)
    if len(request.body) > MAX_BODY:
        return json_error("payload_too_large", "Webhook body too large.", 413)
    try:
        applied = services.handle_webhook(gateway_name=gateway, body=request.body, headers=dict(request.headers))
    except InvalidWebhook as exc:
        return json_error("invalid_signature", f"Webhook refused: {exc}.", 400)
    return JsonResponse({"received": True, "duplicate": not applied})
