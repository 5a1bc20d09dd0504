"""The refusals of checkout and of order changes: each with its code, status and the field at fault."""

from __future__ import annotations

from decimal import Decimal

from shop.exceptions import DomainError, NotFound


class OrderNotFound(NotFound):
    code = "order_not_found"
    default_message = "There is no such order."


class CheckoutRefused(DomainError):
    """Base of checkout's refusals; nothing was written."""

    code = "checkout_refused"


class EmptyCart(CheckoutRefused):
    code = "cart_empty"
    status_code = 409
    default_message = "Your cart is empty: add something before checking out."

    def __init__(self) -> None:
        super().__init__(fields={"cart": [self.default_message]})


class ProductNoLongerSold(CheckoutRefused):
    code = "product_not_available"
    status_code = 409

    def __init__(self, *, product_id: int):
        message = f"Product {product_id} is no longer sold: remove it from your cart."
        super().__init__(message, fields={"product_id": [message]})
        self.product_id = product_id


class NotEnoughStock(CheckoutRefused):
    """The pre-check: a line asks for plainly more than is in stock (allocation decides the rest)."""

    code = "out_of_stock"
    status_code = 409

    def __init__(self, *, product_id: int, title: str, requested: int, available: int):
        if available:
            message = f"Only {available} of {title} left; your cart has {requested}."
        else:
            message = f"{title} is out of stock: remove it from your cart."
        super().__init__(message, fields={"product_id": [message]})
        self.product_id = product_id
        self.available = available


class PriceChanged(CheckoutRefused):
    """The total the customer reviewed is not what the order would cost now."""

    code = "price_changed"
    status_code = 409

    def __init__(self, *, expected: Decimal, total: Decimal):
        message = f"The total changed from {expected} to {total} since you reviewed it: please review it again."
        super().__init__(message, fields={"expected_total": [message]})
        self.total = total


class InvalidDeliveryOption(CheckoutRefused):
    code = "invalid_delivery_option"

    def __init__(self, *, choices: list[str]):
        message = f"Choose one of: {', '.join(choices)}."
        super().__init__(message, fields={"delivery_option": [message]})


class InvalidEmail(CheckoutRefused):
    code = "invalid_email"
    default_message = "Enter the e-mail address we send the order confirmation to."

    def __init__(self) -> None:
        super().__init__(fields={"email": [self.default_message]})


class EmailNeverQueued(DomainError):
    code = "email_never_queued"
    status_code = 409

    def __init__(self, *, kind: str):
        message = f"This order was never sent a {kind!r} e-mail."
        super().__init__(message, fields={"kind": [message]})


class PaymentWindowClosed(DomainError):
    code = "payment_window_closed"
    status_code = 409
    default_message = "The time to complete this payment has passed; the order is being cancelled."

    def __init__(self) -> None:
        super().__init__(fields={"payment_method": [self.default_message]})


class InvalidRefund(DomainError):
    code = "invalid_refund"

    def __init__(self, field: str, message: str):
        super().__init__(message, fields={field: [message]})


class ReturnRefused(DomainError):
    """A return asked for or acted on that cannot be: the field at fault names why; nothing changed."""

    code = "return_refused"

    def __init__(self, field: str, message: str, *, status_code: int = 400):
        super().__init__(message, fields={field: [message]})
        self.status_code = status_code


class ReturnNotFound(NotFound):
    code = "return_not_found"
    default_message = "There is no such return."


class CaptureInProgress(DomainError):
    """Cancelling refused: shipping has begun capturing the order's payment (the customer's money
    may already be taken), so the order can only be shipped now."""

    code = "order_state_conflict"
    status_code = 409

    def __init__(self) -> None:
        message = "This order is being shipped and its payment captured; it can no longer be cancelled."
        super().__init__(message, fields={"state": [message]})


class InvalidOrderNote(DomainError):
    code = "invalid_note"

    def __init__(self, message: str):
        super().__init__(message, fields={"text": [message]})


class CarrierWebhookRefused(DomainError):
    """A carrier's webhook whose signature is missing, forged or too old: nothing changes."""

    code = "invalid_signature"

    def __init__(self, reason: str):
        message = f"The webhook's signature is not valid: {reason}."
        super().__init__(message, fields={"Carrier-Signature": [message]})


class CaptureFailed(DomainError):
    """Shipping refused: the order's payment could not be captured (voided or expired at the
    bank, or refused by the provider); nothing shipped."""

    code = "capture_failed"
    status_code = 409

    def __init__(self, message: str):
        super().__init__(message, fields={"state": [message]})


class EmailNotReady(Exception):
    """An order e-mail waits for one that must reach the customer before it ("we received your order"
    is being sent by another worker right now). Not a customer's error: the e-mail task retries it."""

    def __init__(self, *, kind: str, waits_for: str):
        super().__init__(f"The {kind!r} e-mail waits for {waits_for!r}, which is being sent.")
        self.kind, self.waits_for = kind, waits_for
