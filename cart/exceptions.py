from shop.exceptions import DomainError


class CartError(DomainError):
    code = "cart_error"


class FieldRefused(CartError):
    """A refusal that names the field at fault (`operations.3.product_id` in a sync batch)."""

    default_field = ""

    def __init__(self, field: str | None = None, message: str | None = None):
        super().__init__(message, fields={field or self.default_field: [message or self.default_message]})


class ProductNotAvailable(FieldRefused):
    code = "product_not_available"
    default_message = "This product does not exist or is no longer sold."
    default_field = "product_id"


class InvalidQuantity(FieldRefused):
    code = "invalid_quantity"
    default_message = "Choose a quantity from 1 to 99."
    default_field = "quantity"


class NotEnoughStock(FieldRefused):
    """An interactive add or change asks for more than is in stock; `available` is the most the
    customer can have in the cart now (the offer the message makes)."""

    code = "not_enough_stock"
    status_code = 409
    default_message = "There is not enough of this product in stock."
    default_field = "quantity"

    def __init__(self, *, message: str, available: int):
        self.available = available
        super().__init__(message=message)


class CartFull(CartError):
    code = "cart_full"
    status_code = 409
    default_message = "Your cart holds at most 100 different products."


class ResyncRequired(CartError):
    """The device's log predates a compaction: it must fetch the cart and start again."""

    code = "cart_resync_required"
    status_code = 409
    default_message = "The cart changed on another device: fetch it again, then resend your changes."

    def __init__(self, *, epoch: int):
        self.epoch = epoch
        super().__init__(fields={"base_epoch": [f"The cart is at epoch {epoch}."]})


class CartNotFound(CartError):
    code = "cart_not_found"
    status_code = 404
    default_message = "There is no cart here."


class CartClosed(CartError):
    code = "cart_resync_required"
    status_code = 409
    default_message = "This cart was merged into your account's cart or checked out: fetch your cart again."
