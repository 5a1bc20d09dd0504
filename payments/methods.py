"""Payment methods as checkout sees them: tokens made by the gateway on the client, never card numbers.

The test gateway (the embedded default, the demo and the tests) knows a fixed list of test
tokens, like a payment provider's test cards; each gives a deterministic outcome when the
payments issue's gateway authorizes it. With PAYMENT_GATEWAY=stripe a token is a Stripe
PaymentMethod id (pm_...), made by Stripe.js in the customer's browser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings

from shop.exceptions import DomainError


@dataclass(frozen=True)
class TestCard:
    token: str
    label: str


TEST_CARDS = (
    TestCard("tok_visa", "Visa ending 4242: approved"),
    TestCard("tok_mastercard", "Mastercard ending 4444: approved"),
    TestCard("tok_declined", "Visa ending 0002: declined"),
    TestCard("tok_insufficient_funds", "Visa ending 9995: insufficient funds"),
    TestCard("tok_requires_action", "Visa ending 3184: needs 3-D Secure"),
    TestCard("tok_flaky", "Visa ending 1000: network error, then approved"),
)
_STRIPE_PAYMENT_METHOD = re.compile(r"^pm_[A-Za-z0-9]{8,60}$")


class InvalidPaymentMethod(DomainError):
    code = "invalid_payment_method"
    status_code = 400
    default_message = "Choose a payment method."

    def __init__(self, message: str | None = None):
        super().__init__(message, fields={"payment_method": [message or self.default_message]})


def test_cards() -> tuple[TestCard, ...]:
    """The choices the checkout offers with the test gateway (empty with a real gateway)."""
    return TEST_CARDS if settings.PAYMENT_GATEWAY == "test" else ()


def check_payment_method(token: str) -> str:
    """The token if the configured gateway could have made it; raises InvalidPaymentMethod."""
    if settings.PAYMENT_GATEWAY == "test":
        if token not in {card.token for card in TEST_CARDS}:
            raise InvalidPaymentMethod(f"Use one of the test cards: {', '.join(c.token for c in TEST_CARDS)}.")
    elif not _STRIPE_PAYMENT_METHOD.match(token or ""):
        raise InvalidPaymentMethod("Send the PaymentMethod id (pm_...) that Stripe.js returned.")
    return token
