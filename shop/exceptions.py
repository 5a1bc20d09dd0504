"""The base of every domain error: one shape for all four doors (views, API, admin, tasks)."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal a user should understand: a stable code, a message, the fields at fault."""

    code = "error"
    status_code = 400
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, fields: dict[str, list[str]] | None = None):
        self.message = message or self.default_message
        self.fields = fields or {}
        super().__init__(self.message)


class NotFound(DomainError):
    code = "not_found"
    status_code = 404
    default_message = "Not found."
