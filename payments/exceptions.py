from __future__ import annotations

from shop.exceptions import DomainError


class RefundRefused(DomainError):
    code = "refund_refused"
    status_code = 409

    def __init__(self, message: str):
        super().__init__(message, fields={"amount": [message]})


class PaymentRefused(DomainError):
    """The gateway refused the request itself (not a card's answer): nothing changed."""

    code = "payment_refused"
    status_code = 409
    default_message = "The payment provider refused this request."


class PaymentUnavailable(DomainError):
    """The gateway could not be reached (or the breaker is open); nothing changed; try again later."""

    code = "payment_gateway_unavailable"
    status_code = 503
    default_message = "The payment provider is not answering right now. Nothing was charged; try again shortly."
