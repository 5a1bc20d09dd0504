"""The Stripe adapter: PaymentIntents with manual capture, through the official `stripe` library.

One PaymentIntent per authorization attempt: created unconfirmed (idempotency key = our attempt
reference, so a create whose answer was lost returns the same intent), stored by the caller, then
confirmed off-session. Creating moves no money; only confirm does, and a PaymentIntent can hold at
most one authorization, so an intent left unconfirmed (a create retried after a lost answer on a
gateway that ignores idempotency keys) is harmless and expires at Stripe.

The library never retries (max_network_retries=0): callers retry GatewayUnavailable with backoff
and count it in the circuit breaker. Timeouts are short and explicit.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import stripe
from django.conf import settings

from payments.gateways.base import (
    AUTHORIZED,
    CAPTURED,
    DECLINED,
    PENDING,
    REQUIRES_ACTION,
    VOIDED,
    AuthorizationRequest,
    GatewayRefused,
    GatewayResult,
    GatewayUnavailable,
    InvalidWebhook,
    RefundResult,
    WebhookEvent,
)

CONNECT_TIMEOUT = 3.0  # seconds to open a connection
READ_TIMEOUT = 10.0  # seconds to wait for an answer: an authorization can take a few seconds at the bank
WEBHOOK_TOLERANCE = 300  # seconds a webhook signature stays valid (Stripe's default)
SIGNATURE_HEADER = "Stripe-Signature"

# Stripe codes that are an answer about the card (a result), whatever error class carries them.
CARD_ERROR_CODES = frozenset(
    {
        "authentication_required",
        "card_decline_rate_limit_exceeded",
        "card_declined",
        "expired_card",
        "incorrect_cvc",
        "incorrect_number",
        "incorrect_zip",
        "invalid_cvc",
        "invalid_expiry_month",
        "invalid_expiry_year",
        "invalid_number",
        "payment_intent_authentication_failure",
        "payment_method_unactivated",
        "processing_error",
    }
)
# Off-session, Stripe answers a card that needs 3-D Secure with this decline: the customer can
# still authenticate the same intent on the order page with its client_secret.
NEEDS_CUSTOMER_CODE = "authentication_required"
EXPAND = ["payment_method", "latest_charge"]  # for card brand, last four and captured amounts


class StripeGateway:
    name = "stripe"

    def __init__(self, *, connect_timeout: float = CONNECT_TIMEOUT, read_timeout: float = READ_TIMEOUT) -> None:
        # A client of our own per gateway (never the library's global api_key/api_base), so
        # settings overridden in a test or per deployment are honoured and threads share nothing.
        base_addresses = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
        self.client = stripe.StripeClient(
            settings.STRIPE_API_KEY,
            base_addresses=base_addresses,
            max_network_retries=0,  # we retry, with backoff and the breaker
            http_client=stripe.RequestsClient(timeout=(connect_timeout, read_timeout)),
        )
        self.webhook_secret = settings.STRIPE_WEBHOOK_SECRET

    def create_authorization(self, request: AuthorizationRequest) -> str:
        params = {
            "amount": request.amount,
            "currency": request.currency.lower(),
            "capture_method": "manual",
            "confirm": False,
            "payment_method_types": ["card"],
            "metadata": {"reference": request.reference, "order_number": request.order_number},
        }
        with _translated_errors():
            intent = self.client.v1.payment_intents.create(params, {"idempotency_key": request.reference})
        return intent.id

    def retrieve(self, gateway_reference: str) -> GatewayResult:
        with _translated_errors():
            intent = self.client.v1.payment_intents.retrieve(gateway_reference, {"expand": EXPAND})
        return _result(intent.to_dict())

    def confirm_authorization(self, gateway_reference: str, request: AuthorizationRequest) -> GatewayResult:
        params = {"payment_method": request.payment_method, "off_session": True, "expand": EXPAND}
        try:
            with _translated_errors(card_errors_pass=True):
                intent = self.client.v1.payment_intents.confirm(gateway_reference, params)
        except stripe.CardError as error:
            return _declined(gateway_reference, error)
        except GatewayRefused as refused:
            cause = refused.__cause__
            if isinstance(cause, stripe.InvalidRequestError) and _is_about_the_card(cause):
                return _declined(gateway_reference, cause)
            # Confirmed already (an earlier confirm whose answer was lost): say where it stands
            # rather than refuse, so a caller that retried without looking first still learns it.
            current = self.retrieve(gateway_reference)
            if current.status in (AUTHORIZED, CAPTURED, REQUIRES_ACTION):
                return current
            raise
        return _result(intent.to_dict())

    def capture(self, gateway_reference: str, amount: int) -> GatewayResult:
        try:
            with _translated_errors():
                intent = self.client.v1.payment_intents.capture(
                    gateway_reference, {"amount_to_capture": amount, "expand": EXPAND}
                )
        except GatewayRefused as refused:
            return self._already(gateway_reference, CAPTURED, refused)
        return _expect(_result(intent.to_dict()), CAPTURED)

    def void(self, gateway_reference: str) -> GatewayResult:
        try:
            with _translated_errors():
                intent = self.client.v1.payment_intents.cancel(gateway_reference, {"expand": EXPAND})
        except GatewayRefused as refused:
            return self._already(gateway_reference, VOIDED, refused)
        return _expect(_result(intent.to_dict()), VOIDED)

    def refund(self, gateway_reference: str, amount: int, refund_reference: str) -> RefundResult:
        params = {
            "payment_intent": gateway_reference,
            "amount": amount,
            "metadata": {"refund_reference": refund_reference},
        }
        with _translated_errors():
            # A retry after a lost answer finds the refund made the first time, even on a gateway
            # that ignores idempotency keys (localstripe): never give the money back twice.
            refunds = self.client.v1.refunds.list({"payment_intent": gateway_reference, "limit": 100})
            for existing in refunds.auto_paging_iter():
                if (existing.to_dict().get("metadata") or {}).get("refund_reference") == refund_reference:
                    return RefundResult(gateway_reference=existing.id, amount=existing.amount)
            refund = self.client.v1.refunds.create(params, {"idempotency_key": refund_reference})
        return RefundResult(gateway_reference=refund.id, amount=refund.amount)

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        signature = _header(headers, SIGNATURE_HEADER)
        if not signature:
            raise InvalidWebhook(f"no {SIGNATURE_HEADER} header")
        try:
            event = stripe.Webhook.construct_event(
                body, signature, self.webhook_secret, tolerance=WEBHOOK_TOLERANCE, api_key=settings.STRIPE_API_KEY
            )
        except stripe.SignatureVerificationError as error:
            raise InvalidWebhook(str(error)) from error
        except ValueError as error:  # a signed body that is not JSON
            raise InvalidWebhook("the body is not a JSON event") from error
        if _signed_at(signature) > time.time() + WEBHOOK_TOLERANCE:  # the library checks only the past
            raise InvalidWebhook("the signature's timestamp is in the future")
        return _webhook_event(event.to_dict())

    def _already(self, gateway_reference: str, status: str, refused: GatewayRefused) -> GatewayResult:
        """A refused capture or void is fine when the intent is there already (an earlier call's answer was lost)."""
        current = self.retrieve(gateway_reference)
        if current.status != status:
            raise GatewayRefused(f"{refused} ({gateway_reference} is {current.status})") from refused.__cause__
        return current


@contextmanager
def _translated_errors(*, card_errors_pass: bool = False) -> Iterator[None]:
    """Stripe's exceptions as ours: transient trouble -> GatewayUnavailable, a refusal -> GatewayRefused.

    With card_errors_pass, CardError passes through: confirm makes that answer about the card a result.
    """
    try:
        yield
    except stripe.CardError as error:
        if card_errors_pass:
            raise
        raise GatewayRefused(f"stripe refused the card: {error.user_message or error}") from error
    except (stripe.APIConnectionError, stripe.RateLimitError) as error:  # timeouts are connection errors
        raise GatewayUnavailable(f"stripe: {error.user_message or error}") from error
    except stripe.StripeError as error:
        status = error.http_status
        # A 5xx, or an answer that was not Stripe's JSON (a proxy's error page): try again later.
        if (status is not None and status >= 500) or (status is None and isinstance(error, stripe.APIError)):
            raise GatewayUnavailable(f"stripe answered {status}: {error.user_message or error}") from error
        raise GatewayRefused(f"stripe refused ({status}): {error.user_message or error}") from error


def _expect(result: GatewayResult, status: str) -> GatewayResult:
    # A fake (localstripe "captures" a canceled intent) or a surprise must never pass for success.
    if result.status != status:
        raise GatewayRefused(f"{result.gateway_reference} is {result.status} after the call, not {status}")
    return result


def _status(intent: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Our status for a PaymentIntent, and the last payment error when that is what decided it."""
    stripe_status = intent.get("status")
    error = intent.get("last_payment_error") or {}
    if stripe_status in ("requires_payment_method", "requires_confirmation"):
        if error.get("code") == NEEDS_CUSTOMER_CODE:
            return REQUIRES_ACTION, error
        return (DECLINED, error) if error else (PENDING, {})
    return {
        "requires_action": REQUIRES_ACTION,
        "requires_capture": AUTHORIZED,
        "succeeded": CAPTURED,
        "canceled": VOIDED,
    }.get(stripe_status, PENDING), {}  # "processing" (not for cards) waits like pending


def _result(intent: Mapping[str, Any]) -> GatewayResult:
    status, error = _status(intent)
    brand, last4 = _card(intent)
    return GatewayResult(
        status=status,
        gateway_reference=intent["id"],
        amount=_amount(intent, status),
        decline_code=(error.get("decline_code") or error.get("code") or "") if status == DECLINED else "",
        message=error.get("message") or "",
        card_brand=brand,
        card_last4=last4,
        client_secret=(intent.get("client_secret") or "") if status == REQUIRES_ACTION else "",
    )


def _declined(gateway_reference: str, error: stripe.StripeError) -> GatewayResult:
    """A card answer carried by an exception; the real API includes the intent, localstripe does not."""
    body = error.error.to_dict() if error.error else {}
    intent = body.get("payment_intent")
    if isinstance(intent, dict) and intent.get("id"):
        result = _result(intent)
        if result.status in (DECLINED, REQUIRES_ACTION):
            return result
    code = body.get("decline_code") or error.code or body.get("code") or "card_declined"
    client_secret = intent.get("client_secret", "") if isinstance(intent, dict) else ""
    if code == NEEDS_CUSTOMER_CODE and client_secret:
        return GatewayResult(status=REQUIRES_ACTION, gateway_reference=gateway_reference, client_secret=client_secret)
    return GatewayResult(
        status=DECLINED, gateway_reference=gateway_reference, decline_code=code, message=body.get("message") or ""
    )


def _is_about_the_card(error: stripe.InvalidRequestError) -> bool:
    body = error.error.to_dict() if error.error else {}
    return bool(body.get("decline_code")) or (error.code or body.get("code")) in CARD_ERROR_CODES


def _card(intent: Mapping[str, Any]) -> tuple[str, str]:
    """Brand and last four only, from the payment method or the charge (never more of the card)."""
    payment_method = intent.get("payment_method")
    card = payment_method.get("card") if isinstance(payment_method, dict) else None
    if not card:
        charge = intent.get("latest_charge")
        details = charge.get("payment_method_details") if isinstance(charge, dict) else None
        card = (details or {}).get("card")
    card = card or {}
    return str(card.get("brand") or ""), str(card.get("last4") or "")


def _amount(intent: Mapping[str, Any], status: str) -> int:
    """Minor units held (authorized) or taken (captured); 0 otherwise."""
    if status == AUTHORIZED:
        return int(intent.get("amount_capturable") or intent.get("amount") or 0)
    if status != CAPTURED:
        return 0
    if intent.get("amount_received"):
        return int(intent["amount_received"])
    # localstripe has no amount_received: a partial capture shows as a charge refunded the rest.
    charge = intent.get("latest_charge")
    if isinstance(charge, dict):
        if charge.get("amount_captured"):
            return int(charge["amount_captured"])
        return int(charge.get("amount") or 0) - int(charge.get("amount_refunded") or 0)
    return int(intent.get("amount") or 0)


def _webhook_event(event: Mapping[str, Any]) -> WebhookEvent:
    event_type = str(event.get("type") or "")
    subject = (event.get("data") or {}).get("object") or {}
    if event_type.startswith("payment_intent.") and subject.get("id"):
        reference, status = subject["id"], _status(subject)[0]
    else:  # charge.*, refund.* ...: tied to their intent, no authorization status of their own
        intent = subject.get("payment_intent")
        reference, status = (intent.get("id", "") if isinstance(intent, dict) else intent or ""), ""
    return WebhookEvent(
        event_id=str(event["id"]),
        type=event_type,
        gateway_reference=reference,
        status=status,
        created=int(event.get("created") or 0),
    )


def _header(headers: Mapping[str, str], name: str) -> str:
    """A header by name, whatever its case; Django's META spelling (HTTP_STRIPE_SIGNATURE) too."""
    wanted = {name.lower(), "http_" + name.lower().replace("-", "_")}
    return next((value for key, value in headers.items() if key.lower() in wanted), "")


def _signed_at(signature: str) -> int:
    for item in signature.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            return int(value)
    return 0
