"""The one interface every payment gateway implements, in the gateway's own terms.

Payments is told an order's reference, an amount in integer minor units, a currency and the
customer's payment-method token (made by the gateway on the client: never a card number).

Every call is made idempotent by us, because a fake or real gateway may ignore idempotency keys:
an authorization is *created* first (no money moves) and its gateway reference is stored before
it is *confirmed*; a retry looks the stored reference up (`retrieve`) instead of creating a
second one. Transient trouble (timeouts, 5xx, connection errors, rate limits) raises
GatewayUnavailable, which callers retry with backoff and count in the circuit breaker; an
answer about the card (declined, needs the customer) is a result, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class GatewayUnavailable(Exception):
    """The gateway did not answer usefully (timeout, 5xx, connection error): retry later."""


class GatewayRefused(Exception):
    """The gateway refused the request itself (bad amount, unknown reference): a bug or a config
    error, not a card problem; not retried."""


class InvalidWebhook(Exception):
    """A webhook whose signature is wrong, missing or too old; nothing may be done with it."""


# What a gateway says about an authorization (a Stripe PaymentIntent with manual capture).
PENDING = "pending"  # created, not confirmed yet
REQUIRES_ACTION = "requires_action"  # the customer must authenticate (3-D Secure) on the order page
AUTHORIZED = "authorized"  # the amount is held on the card
DECLINED = "declined"  # the card was refused; decline_code says why
CAPTURED = "captured"
VOIDED = "voided"


@dataclass(frozen=True)
class AuthorizationRequest:
    reference: str  # ours, unique per attempt ("SO-XXXXX-XXXXX/1"): the gateway's idempotency key
    order_number: str
    amount: int  # minor units
    currency: str  # ISO 4217, upper case
    payment_method: str


@dataclass(frozen=True)
class GatewayResult:
    status: str  # one of the constants above
    gateway_reference: str
    amount: int = 0  # minor units the gateway holds or took
    decline_code: str = ""
    message: str = ""
    card_brand: str = ""
    card_last4: str = ""
    client_secret: str = ""  # for the browser to finish a REQUIRES_ACTION (Stripe.js)


@dataclass(frozen=True)
class RefundResult:
    gateway_reference: str  # the gateway's refund id
    amount: int


@dataclass(frozen=True)
class WebhookEvent:
    event_id: str  # unique per event at the gateway: processed once
    type: str
    gateway_reference: str  # the authorization it is about
    status: str  # the authorization's status after the event (constants above), "" if not about one
    created: int  # the gateway's timestamp (seconds)


class Gateway(Protocol):
    name: str

    def create_authorization(self, request: AuthorizationRequest) -> str:
        """Create (not confirm) an authorization for request.amount; return the gateway reference."""

    def retrieve(self, gateway_reference: str) -> GatewayResult:
        """The authorization's current state at the gateway."""

    def confirm_authorization(self, gateway_reference: str, request: AuthorizationRequest) -> GatewayResult:
        """Confirm it off-session with the stored payment method: authorized, declined or requires_action."""

    def capture(self, gateway_reference: str, amount: int) -> GatewayResult:
        """Take `amount` (at most the authorized amount) of an authorization."""

    def void(self, gateway_reference: str) -> GatewayResult:
        """Release an authorization that was never captured."""

    def refund(self, gateway_reference: str, amount: int, refund_reference: str) -> RefundResult:
        """Give back `amount` of what was captured; refund_reference is ours (idempotency)."""

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> WebhookEvent:
        """Verify the signature and freshness, then parse; raises InvalidWebhook."""
