"""The Stripe adapter against localstripe on 127.0.0.1: outcomes, faults, one charge, webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from payments.gateways import get_gateway
from payments.gateways.base import (
    AUTHORIZED,
    CAPTURED,
    DECLINED,
    PENDING,
    REQUIRES_ACTION,
    VOIDED,
    AuthorizationRequest,
    GatewayRefused,
    GatewayUnavailable,
    InvalidWebhook,
)
from payments.gateways.stripe import StripeGateway
from tests.payments import stripe_helpers

pytestmark = pytest.mark.usefixtures("only_loopback")

CONFIRM_PATH = r"/v1/payment_intents/pi_\w+/confirm"
CREATE_PATH = r"/v1/payment_intents"


@pytest.fixture
def gateway(stripe_settings) -> StripeGateway:
    return get_gateway()


def authorization(localstripe_url: str, card: str = stripe_helpers.CARD_OK, amount: int = 1999) -> AuthorizationRequest:
    order_number = f"SO-{uuid.uuid4().hex[:5].upper()}-{uuid.uuid4().hex[:5].upper()}"
    return AuthorizationRequest(
        reference=f"{order_number}/1",
        order_number=order_number,
        amount=amount,
        currency="EUR",
        payment_method=stripe_helpers.create_payment_method(localstripe_url, card),
    )


def authorized(gateway: StripeGateway, request: AuthorizationRequest) -> str:
    reference = gateway.create_authorization(request)
    assert gateway.confirm_authorization(reference, request).status == AUTHORIZED
    return reference


def test_get_gateway_gives_the_stripe_adapter_when_configured(stripe_settings):
    assert isinstance(get_gateway(), StripeGateway)


def test_authorize_then_capture(gateway, localstripe_url, count_payment_intents):
    # given
    request = authorization(localstripe_url, amount=1999)
    reference = gateway.create_authorization(request)
    assert reference.startswith("pi_")
    assert gateway.retrieve(reference).status == PENDING
    # when
    result = gateway.confirm_authorization(reference, request)
    # then
    assert (result.status, result.gateway_reference, result.amount) == (AUTHORIZED, reference, 1999)
    assert (result.card_brand, result.card_last4) == ("visa", "4242")
    assert gateway.retrieve(reference).status == AUTHORIZED
    captured = gateway.capture(reference, 1999)
    assert (captured.status, captured.amount) == (CAPTURED, 1999)
    assert count_payment_intents(request.reference) == 1


def test_the_intent_carries_our_reference_and_manual_capture(gateway, localstripe_url):
    request = authorization(localstripe_url)
    gateway.create_authorization(request)
    [intent] = stripe_helpers.list_payment_intents(localstripe_url, request.reference)
    assert intent["metadata"] == {"reference": request.reference, "order_number": request.order_number}
    assert (intent["capture_method"], intent["currency"], intent["amount"]) == ("manual", "eur", 1999)


def test_declined_card_is_a_result_with_its_code(gateway, localstripe_url):
    request = authorization(localstripe_url, stripe_helpers.CARD_DECLINED)
    reference = gateway.create_authorization(request)

    result = gateway.confirm_authorization(reference, request)

    assert (result.status, result.decline_code, result.gateway_reference) == (DECLINED, "card_declined", reference)
    looked_up = gateway.retrieve(reference)
    assert (looked_up.status, looked_up.decline_code) == (DECLINED, "card_declined")


def test_declined_payment_replaced_by_another_card_authorizes_the_same_intent(
    gateway, localstripe_url, count_payment_intents
):
    request = authorization(localstripe_url, stripe_helpers.CARD_DECLINED)
    reference = gateway.create_authorization(request)
    assert gateway.confirm_authorization(reference, request).status == DECLINED
    replacement = AuthorizationRequest(
        **{**request.__dict__, "payment_method": stripe_helpers.create_payment_method(localstripe_url)}
    )

    assert gateway.confirm_authorization(reference, replacement).status == AUTHORIZED
    assert count_payment_intents(request.reference) == 1


def test_3d_secure_card_needs_the_customer(gateway, localstripe_url):
    request = authorization(localstripe_url, stripe_helpers.CARD_3DS)
    reference = gateway.create_authorization(request)

    result = gateway.confirm_authorization(reference, request)

    assert result.status == REQUIRES_ACTION
    assert result.client_secret.startswith(f"{reference}_secret_")
    assert (result.card_brand, result.card_last4) == ("visa", "3155")
    assert gateway.retrieve(reference).status == REQUIRES_ACTION


def test_3d_secure_completed_by_the_customer_authorizes(gateway, localstripe_url, count_payment_intents):
    # given: the intent waits for the customer
    request = authorization(localstripe_url, stripe_helpers.CARD_3DS)
    reference = gateway.create_authorization(request)
    secret = gateway.confirm_authorization(reference, request).client_secret
    # when: the customer authenticates on the order page (Stripe.js; localstripe's fake of it)
    stripe_helpers.authenticate(localstripe_url, reference, secret, success=True)
    # then
    assert gateway.retrieve(reference).status == AUTHORIZED
    assert count_payment_intents(request.reference) == 1


def test_3d_secure_failed_by_the_customer_is_a_decline(gateway, localstripe_url):
    request = authorization(localstripe_url, stripe_helpers.CARD_3DS)
    reference = gateway.create_authorization(request)
    secret = gateway.confirm_authorization(reference, request).client_secret

    stripe_helpers.authenticate(localstripe_url, reference, secret, success=False)

    result = gateway.retrieve(reference)
    assert (result.status, result.decline_code) == (DECLINED, "payment_intent_authentication_failure")


def test_partial_capture_takes_only_that_amount(gateway, localstripe_url):
    reference = authorized(gateway, authorization(localstripe_url, amount=5000))

    result = gateway.capture(reference, 3000)

    assert (result.status, result.amount) == (CAPTURED, 3000)


def test_capture_above_the_authorized_amount_is_refused(gateway, localstripe_url):
    reference = authorized(gateway, authorization(localstripe_url, amount=5000))

    with pytest.raises(GatewayRefused):
        gateway.capture(reference, 5001)
    assert gateway.retrieve(reference).status == AUTHORIZED


def test_capture_repeated_after_a_lost_answer_reports_the_capture(gateway, localstripe_url):
    reference = authorized(gateway, authorization(localstripe_url, amount=5000))
    gateway.capture(reference, 5000)

    assert gateway.capture(reference, 5000).status == CAPTURED


def test_void_releases_the_authorization(gateway, localstripe_url):
    reference = authorized(gateway, authorization(localstripe_url))

    assert gateway.void(reference).status == VOIDED
    assert gateway.void(reference).status == VOIDED  # a repeated void changes nothing
    assert gateway.retrieve(reference).status == VOIDED
    with pytest.raises(GatewayRefused):
        gateway.capture(reference, 1999)


def test_void_after_capture_is_refused(gateway, localstripe_url):
    reference = authorized(gateway, authorization(localstripe_url))
    gateway.capture(reference, 1999)

    with pytest.raises(GatewayRefused):
        gateway.void(reference)


@pytest.mark.parametrize("amounts", [[4000], [1500], [1500, 2500]], ids=["full", "partial", "two-partials"])
def test_refund(gateway, localstripe_url, amounts):
    reference = authorized(gateway, authorization(localstripe_url, amount=4000))
    gateway.capture(reference, 4000)

    refunds = [gateway.refund(reference, amount, f"refund-{uuid.uuid4().hex}") for amount in amounts]

    assert [refund.amount for refund in refunds] == amounts
    assert all(refund.gateway_reference.startswith("re_") for refund in refunds)
    assert len({refund.gateway_reference for refund in refunds}) == len(amounts)


def test_refund_repeated_with_its_reference_gives_back_once(gateway, localstripe_url):
    reference = authorized(gateway, authorization(localstripe_url, amount=4000))
    gateway.capture(reference, 4000)

    first = gateway.refund(reference, 1000, "refund-once")
    again = gateway.refund(reference, 1000, "refund-once")

    assert again == first
    assert [refund["amount"] for refund in stripe_helpers.list_refunds(localstripe_url, reference)] == [1000]


def test_unknown_reference_is_refused(gateway):
    with pytest.raises(GatewayRefused):
        gateway.retrieve("pi_doesnotexist0000")


def test_wrong_api_key_is_refused(stripe_settings, localstripe_url):
    stripe_settings.STRIPE_API_KEY = "not-a-secret-key"
    with pytest.raises(GatewayRefused):
        get_gateway().create_authorization(authorization(localstripe_url))


# --- Transient failures: GatewayUnavailable, then one charge after the retry -------------------


@pytest.mark.parametrize("kind", ["timeout", "close", "429", "500", "502", "503"])
def test_transient_failure_on_confirm_then_retry_charges_once(
    faulty_stripe, localstripe_url, count_payment_intents, kind
):
    # given: an intent created and its reference stored; the confirm request never arrives
    gateway = StripeGateway(read_timeout=0.5)
    request = authorization(localstripe_url)
    reference = gateway.create_authorization(request)
    faulty_stripe.fail(CONFIRM_PATH, kind, hold=1.5)
    with pytest.raises(GatewayUnavailable):
        gateway.confirm_authorization(reference, request)
    # when: the retry looks the stored reference up first, then confirms
    assert gateway.retrieve(reference).status == PENDING
    result = gateway.confirm_authorization(reference, request)
    # then
    assert result.status == AUTHORIZED
    assert faulty_stripe.injected == 1
    assert count_payment_intents(request.reference) == 1
    assert stripe_helpers.count_charges(localstripe_url, request.reference) == 1


@pytest.mark.parametrize("kind", ["timeout", "close", "502"])
def test_confirm_whose_answer_was_lost_is_found_by_retrieve(
    faulty_stripe, localstripe_url, count_payment_intents, kind
):
    # given: localstripe authorizes, the answer is lost on the way back
    gateway = StripeGateway(read_timeout=0.5)
    request = authorization(localstripe_url)
    reference = gateway.create_authorization(request)
    faulty_stripe.fail(CONFIRM_PATH, kind, forward=True, hold=1.5)
    with pytest.raises(GatewayUnavailable):
        gateway.confirm_authorization(reference, request)
    # when / then: the lookup sees the authorization; a confirm repeated anyway reports it too
    assert gateway.retrieve(reference).status == AUTHORIZED
    assert gateway.confirm_authorization(reference, request).status == AUTHORIZED
    assert count_payment_intents(request.reference) == 1
    assert stripe_helpers.count_charges(localstripe_url, request.reference) == 1


@pytest.mark.parametrize("kind", ["timeout", "502"])
def test_refund_whose_answer_was_lost_is_not_made_twice(faulty_stripe, localstripe_url, kind):
    # given: localstripe refunds, the answer is lost
    gateway = StripeGateway(read_timeout=0.5)
    reference = authorized(gateway, authorization(localstripe_url, amount=4000))
    gateway.capture(reference, 4000)
    faulty_stripe.fail(r"/v1/refunds", kind, forward=True, hold=1.5)
    with pytest.raises(GatewayUnavailable):
        gateway.refund(reference, 1500, "refund-lost")
    # when: retried with the same refund reference
    result = gateway.refund(reference, 1500, "refund-lost")
    # then: the refund made the first time, and only that one
    [refund] = stripe_helpers.list_refunds(localstripe_url, reference)
    assert (result.gateway_reference, result.amount) == (refund["id"], 1500)
    assert faulty_stripe.count("POST", "/v1/refunds") == 1


def test_500_on_create_is_unavailable_and_the_retry_creates_one_intent(
    faulty_stripe, localstripe_url, count_payment_intents
):
    gateway = get_gateway()
    request = authorization(localstripe_url)
    faulty_stripe.fail(CREATE_PATH, "500")

    with pytest.raises(GatewayUnavailable):
        gateway.create_authorization(request)
    assert count_payment_intents(request.reference) == 0

    reference = gateway.create_authorization(request)
    assert gateway.confirm_authorization(reference, request).status == AUTHORIZED
    assert count_payment_intents(request.reference) == 1
    assert faulty_stripe.count("POST", "/v1/payment_intents") == 2


@pytest.mark.parametrize("call", ["capture", "void", "refund", "retrieve"])
def test_transient_failure_on_every_other_call_is_unavailable(faulty_stripe, localstripe_url, call):
    gateway = get_gateway()
    reference = authorized(gateway, authorization(localstripe_url))
    if call == "refund":
        gateway.capture(reference, 1999)
    faulty_stripe.fail(r"/v1/.*", "503", method="GET" if call == "retrieve" else "POST")

    with pytest.raises(GatewayUnavailable):
        {
            "capture": lambda: gateway.capture(reference, 1999),
            "void": lambda: gateway.void(reference),
            "refund": lambda: gateway.refund(reference, 1999, "refund-1"),
            "retrieve": lambda: gateway.retrieve(reference),
        }[call]()


def test_gateway_down_is_unavailable(stripe_settings):
    stripe_settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # discard port: nothing listens
    with pytest.raises(GatewayUnavailable):
        get_gateway().retrieve("pi_anything")


# --- Webhooks ----------------------------------------------------------------------------------


def signed(body: bytes, secret: str = stripe_helpers.WEBHOOK_SECRET, at: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if at is None else at
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={timestamp},v1={signature}"}


def event_body(event_type: str = "payment_intent.amount_capturable_updated", status: str = "requires_capture") -> bytes:
    intent = {"id": "pi_123", "object": "payment_intent", "status": status, "amount": 1999, "metadata": {}}
    event = {
        "id": "evt_123",
        "object": "event",
        "type": event_type,
        "created": 1_700_000_000,
        "data": {"object": intent},
    }
    return json.dumps(event).encode()


def test_signed_webhook_parses(gateway):
    body = event_body()

    event = gateway.parse_webhook(body, signed(body))

    assert (event.event_id, event.type, event.gateway_reference) == (
        "evt_123",
        "payment_intent.amount_capturable_updated",
        "pi_123",
    )
    assert (event.status, event.created) == (AUTHORIZED, 1_700_000_000)


@pytest.mark.parametrize(
    ("event_type", "stripe_status", "status"),
    [
        ("payment_intent.succeeded", "succeeded", CAPTURED),
        ("payment_intent.canceled", "canceled", VOIDED),
        ("payment_intent.requires_action", "requires_action", REQUIRES_ACTION),
    ],
)
def test_webhook_status_is_mapped(gateway, event_type, stripe_status, status):
    body = event_body(event_type, stripe_status)
    assert gateway.parse_webhook(body, signed(body)).status == status


@pytest.mark.parametrize(
    ("last_payment_error", "status"),
    [
        (None, PENDING),
        ({"code": "card_declined", "decline_code": "insufficient_funds"}, DECLINED),
        ({"code": "authentication_required"}, REQUIRES_ACTION),  # Stripe's off-session answer to 3-D Secure
    ],
)
def test_intent_waiting_for_a_payment_method_is_pending_declined_or_needs_the_customer(
    gateway, last_payment_error, status
):
    intent = {"id": "pi_9", "status": "requires_payment_method", "last_payment_error": last_payment_error}
    body = json.dumps(
        {"id": "evt_9", "type": "payment_intent.payment_failed", "created": 1, "data": {"object": intent}}
    ).encode()
    assert gateway.parse_webhook(body, signed(body)).status == status


def test_webhook_headers_in_any_spelling(gateway):
    body = event_body()
    signature = signed(body)["Stripe-Signature"]
    assert gateway.parse_webhook(body, {"stripe-signature": signature}).event_id == "evt_123"
    assert gateway.parse_webhook(body, {"HTTP_STRIPE_SIGNATURE": signature}).event_id == "evt_123"


def test_forged_webhook_is_refused(gateway):
    body = event_body()
    with pytest.raises(InvalidWebhook):
        gateway.parse_webhook(body, signed(body, secret="whsec_someone_else"))


def test_tampered_webhook_body_is_refused(gateway):
    body = event_body()
    headers = signed(body)
    with pytest.raises(InvalidWebhook):
        gateway.parse_webhook(body.replace(b"requires_capture", b"succeeded"), headers)


@pytest.mark.parametrize("headers", [{}, {"Stripe-Signature": ""}, {"Stripe-Signature": "garbage"}])
def test_webhook_without_a_usable_signature_is_refused(gateway, headers):
    with pytest.raises(InvalidWebhook):
        gateway.parse_webhook(event_body(), headers)


@pytest.mark.parametrize("age", [301, 3600, -301], ids=["just-stale", "an-hour-old", "from-the-future"])
def test_webhook_outside_the_tolerance_is_refused(gateway, age):
    body = event_body()
    with pytest.raises(InvalidWebhook):
        gateway.parse_webhook(body, signed(body, at=int(time.time()) - age))


def test_signed_body_that_is_not_json_is_refused(gateway):
    body = b"not json"
    with pytest.raises(InvalidWebhook):
        gateway.parse_webhook(body, signed(body))


@pytest.fixture
def webhook_receiver(localstripe_url) -> Iterator[list[tuple[bytes, dict[str, str]]]]:
    """A 127.0.0.1 endpoint localstripe posts its events to; yields what it received."""
    received: list[tuple[bytes, dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((self.rfile.read(int(self.headers["Content-Length"])), dict(self.headers)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stripe_helpers.register_webhook(localstripe_url, f"http://127.0.0.1:{server.server_address[1]}/")
    yield received
    server.shutdown()
    server.server_close()


def wait_for_event(received, gateway, event_type: str, reference: str, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for body, headers in list(received):
            event = gateway.parse_webhook(body, headers)
            if (event.type, event.gateway_reference) == (event_type, reference):
                return event
        time.sleep(0.1)
    raise AssertionError(f"no {event_type} for {reference} from localstripe within {timeout} s")


def test_events_signed_by_localstripe_parse(gateway, localstripe_url, webhook_receiver):
    # given: one capture and one decline
    captured = authorized(gateway, authorization(localstripe_url))
    gateway.capture(captured, 1999)
    declined_request = authorization(localstripe_url, stripe_helpers.CARD_DECLINED)
    declined = gateway.create_authorization(declined_request)
    gateway.confirm_authorization(declined, declined_request)
    # when: localstripe delivers its events (about a second later), then
    succeeded = wait_for_event(webhook_receiver, gateway, "payment_intent.succeeded", captured)
    failed = wait_for_event(webhook_receiver, gateway, "payment_intent.payment_failed", declined)
    # then
    assert succeeded.status == CAPTURED
    assert failed.status == DECLINED
    assert succeeded.event_id.startswith("evt_") and succeeded.event_id != failed.event_id
