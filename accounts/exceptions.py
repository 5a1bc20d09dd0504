from shop.exceptions import DomainError, NotFound


class AddressNotFound(NotFound):
    code = "address_not_found"
    default_message = "This address does not exist."


class EmailAlreadyRegistered(DomainError):
    code = "email_taken"
    status_code = 409
    default_message = "An account with this e-mail address already exists."

    def __init__(self, message: str | None = None):
        super().__init__(message, fields={"email": [message or self.default_message]})


class AccountLimitReached(DomainError):
    code = "address_limit"
    default_message = "You can save at most 20 addresses."


class InvalidAddress(DomainError):
    code = "invalid_address"
    default_message = "The address is not complete."

    def __init__(self, fields: dict[str, list[str]], *, prefix: str = "address"):
        super().__init__(fields={f"{prefix}.{name}": messages for name, messages in fields.items()})


class InvalidVerificationLink(DomainError):
    """An e-mail verification link that is forged, used already, or for an address the account no
    longer has. Nothing is verified."""

    code = "invalid_verification_link"
    default_message = "This link is not valid: it was used already or the address changed. Ask for a new one."

    def __init__(self, message: str | None = None):
        super().__init__(message, fields={"token": [message or self.default_message]})


class VerificationLinkExpired(InvalidVerificationLink):
    code = "verification_link_expired"
    default_message = "This link has expired. Ask for a new one."
