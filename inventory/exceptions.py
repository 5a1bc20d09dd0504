"""The inventory's refusals: each has a stable code, the HTTP status it maps to and the field at fault."""

from __future__ import annotations

from shop.exceptions import DomainError


class InvalidStockChange(DomainError):
    """An argument of a stock service is out of range (a negative level, a zero delta, no reason)."""

    code = "invalid_stock_change"
    status_code = 400
    default_message = "This stock change is not valid."

    def __init__(self, *, field: str, message: str):
        super().__init__(message, fields={field: [message]})
        self.field = field


class StockWouldGoNegative(DomainError):
    """Taking this many units would leave the product below zero; nothing was changed."""

    code = "stock_would_go_negative"
    status_code = 409
    default_message = "Not enough stock."

    def __init__(self, *, product_id: int, requested: int):
        message = f"Product {product_id} has fewer than {requested} units in stock; stock cannot go below zero."
        super().__init__(message, fields={"delta": [message]})
        self.product_id = product_id
        self.requested = requested


class UnknownProduct(DomainError):
    """Stock was changed for a product id that does not exist (the deferred foreign key refused it)."""

    code = "unknown_product"
    status_code = 404
    default_message = "This product does not exist."

    def __init__(self, *, product_id: int):
        message = f"Product {product_id} does not exist."
        super().__init__(message, fields={"product_id": [message]})
        self.product_id = product_id


class StockBusy(DomainError):
    """The stock row stayed locked by other writers past the lock timeout; retrying later is safe."""

    code = "stock_busy"
    status_code = 503
    default_message = "Stock is being changed by someone else right now. Try again in a moment."


class OutOfStock(DomainError):
    """A product has fewer units than an order asks for; nothing was taken."""

    code = "out_of_stock"
    status_code = 409
    default_message = "Not enough stock."

    def __init__(self, *, product_id: int, requested: int, available: int):
        message = f"Only {available} left of product {product_id}; {requested} were asked for."
        super().__init__(message, fields={"product_id": [message]})
        self.product_id = product_id
        self.requested = requested
        self.available = available
