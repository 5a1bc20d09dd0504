"""The built-in test gateway: deterministic outcomes by payment-method token, like a provider's
test cards (payments/methods.py lists them). It keeps its book in TestGatewayIntent rows, so it
behaves like a remote service across processes: a retried confirmation finds what the first
one did, and tests can count the authorizations it holds (one charge, never two).

    tok_visa, tok_mastercard   authorized
    tok_declined               declined (card_declined)
    tok_insufficient_funds     declined (insufficient_funds)
    tok_requires_action        requires_action until the customer completes it (complete_action)
    tok_flaky                  the first confirmation fails like a network timeout, then authorized

Webhooks are signed like Stripe's: header `Test-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
"<t>.<body>" with PAYMENTS_TEST_WEBHOOK_SECRET>`, refused when older than WEBHOOK_TOLERANCE.
"""

from __future__ import annotations

import hashlib
import json
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction

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
from payments.models import TestGatewayIntent
from shop import signatures

WEBHOOK_TOLERANCE = 300  # seconds
SIGNATURE_HEADER = "Test-Signature"
CARDS = {
    "tok_visa": ("visa", "4242", AUTHORIZED, ""),
    "tok_mastercard": ("mastercard", "4444", AUTHORIZED, ""),
    "tok_declined": ("visa", "0002", DECLINED, "card_declined"),
    "tok_insufficient_funds": ("visa", "9995", DECLINED, "insufficient_funds"),
    "tok_requires_action": ("visa", "3184", REQUIRES_ACTION, ""),
    "tok_flaky": ("visa", "1000", AUTHORIZED, ""),
}


class TestGateway:
    __test__ = False  # not a pytest test class
    name = "test"

    def create_authorization(self, request: AuthorizationRequest) -> str:
        if request.payment_method not in CARDS:
            raise GatewayRefused(f"Unknown test payment method {request.payment_method!r}")
        try:
            with transaction.atomic():
                intent = TestGatewayIntent.objects.create(
                    reference=request.reference, gateway_reference=f"ti_{secrets.token_hex(12)}",
                    payment_method=request.payment_method, amount=request.amount, currency=request.currency,
                    status=PENDING,
                )  # fmt: skip
        except IntegrityError:  # the same idempotency key: the same authorization, like Stripe
            intent = TestGatewayIntent.objects.get(reference=request.reference)
        return intent.gateway_reference

    def retrieve(self, gateway_reference: str) -> GatewayResult:
        return _result(_intent(gateway_reference))

    def confirm_authorization(self, gateway_reference: str, request: AuthorizationRequest) -> GatewayResult:
        with transaction.atomic():
            intent = _intent(gateway_reference, lock=True)
            intent.confirm_attempts += 1
            intent.save(update_fields=["confirm_attempts"])
        if intent.status != PENDING:
            return _result(intent)
        if intent.payment_method == "tok_flaky" and intent.confirm_attempts == 1:
            raise GatewayUnavailable("test gateway: the connection timed out (tok_flaky)")
        intent.status = CARDS[intent.payment_method][2]
        intent.save(update_fields=["status"])
        return _result(intent)

    def complete_action(self, gateway_reference: str) -> GatewayResult:
        """What the customer's 3-D Secure step does at a real gateway: the authorization goes through."""
        intent = _intent(gateway_reference)
        if intent.status == REQUIRES_ACTION:
            intent.status = AUTHORIZED
            intent.save(update_fields=["status"])
        return _result(intent)

    def capture(self, gateway_reference: str, amount: int) -> GatewayResult:
        with transaction.atomic():
            intent = _intent(gateway_reference, lock=True)
            if intent.status == CAPTURED:
                return _result(intent)
            if intent.status != AUTHORIZED or not 0 < amount <= intent.amount:
                raise GatewayRefused(f"cannot capture {amount} of a {intent.status} authorization")
            intent.status, intent.captured = CAPTURED, amount
            intent.save(update_fields=["status", "captured"])
        return _result(intent)

    def void(self, gateway_reference: str) -> GatewayResult:
        with transaction.atomic():
            intent = _intent(gateway_reference, lock=True)
            if intent.status in (PENDING, REQUIRES_ACTION, AUTHORIZED):
                intent.status = VOIDED
                intent.save(update_fields=["status"])
            elif intent.status != VOIDED:
                raise GatewayRefused(f"cannot void a {intent.status} authorization")
        return _result(intent)

    def refund(self, gateway_reference: str, amount: int, refund_reference: str) -> RefundResult:
        with transaction.atomic():
            intent = _intent(gateway_reference, lock=True)
            if refund_reference not in intent.refund_references:  # the same refund asked again: done already
                if intent.status != CAPTURED or intent.refunded + amount > intent.captured:
                    raise GatewayRefused(f"cannot refund {amount}: {intent.captured - intent.refunded} left")
                intent.refunded += amount
                intent.refund_references = [*intent.refund_references, refund_reference]
                intent.save(update_fields=["refunded", "refund_references"])
        return RefundResult(gateway_reference=f"tr_{hashlib.sha256(refund_reference.encode()).hexdigest()[:16]}",
                            amount=amount)  # fmt: skip

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> WebhookEvent:
        verify_signature(body, headers.get(SIGNATURE_HEADER, ""))
        try:
            data = json.loads(body)
            return WebhookEvent(event_id=str(data["id"]), type=str(data["type"]),
                                gateway_reference=str(data.get("gateway_reference", "")),
                                status=str(data.get("status", "")), created=int(data.get("created", 0)))  # fmt: skip
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidWebhook("malformed event") from exc


def sign(body: bytes, *, timestamp: int | None = None, secret: str | None = None) -> str:
    """The signature header value for `body` (what the test gateway sends; tests use it too)."""
    return signatures.sign(body, secret=secret or settings.PAYMENTS_TEST_WEBHOOK_SECRET, timestamp=timestamp)


def verify_signature(body: bytes, header: str) -> None:
    try:
        signatures.verify(body, header, secret=settings.PAYMENTS_TEST_WEBHOOK_SECRET, tolerance=WEBHOOK_TOLERANCE)
    except signatures.BadSignature as exc:
        raise InvalidWebhook(str(exc)) from exc


def _intent(gateway_reference: str, *, lock: bool = False) -> TestGatewayIntent:
    queryset = TestGatewayIntent.objects.select_for_update() if lock else TestGatewayIntent.objects
    try:
        return queryset.get(gateway_reference=gateway_reference)
    except TestGatewayIntent.DoesNotExist as exc:
        raise GatewayRefused(f"no authorization {gateway_reference}") from exc


def _result(intent: TestGatewayIntent) -> GatewayResult:
    brand, last4, _, decline_code = CARDS[intent.payment_method]
    return GatewayResult(
        status=intent.status, gateway_reference=intent.gateway_reference,
        amount=intent.captured or intent.amount, decline_code=decline_code if intent.status == DECLINED else "",
        message="Your bank needs you to confirm this payment." if intent.status == REQUIRES_ACTION else "",
        card_brand=brand, card_last4=last4,
    )  # fmt: skip
