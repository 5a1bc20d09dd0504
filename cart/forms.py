"""Storefront forms of the cart: shape only (whole numbers in range); the services decide the rest."""

from __future__ import annotations

from django import forms

from cart.exceptions import InvalidQuantity, ProductNotAvailable
from cart.models import MAX_QUANTITY

MAX_ID = 2**63 - 1  # ids are BigAutoField: a larger number names no product (and must not reach the database)

QUANTITY_ERRORS = {
    "required": "Enter a quantity.",
    "invalid": "The quantity must be a whole number.",
    "min_value": InvalidQuantity.default_message,
    "max_value": InvalidQuantity.default_message,
}


class AddToCartForm(forms.Form):
    product_id = forms.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        error_messages={
            key: ProductNotAvailable.default_message for key in ("required", "invalid", "min_value", "max_value")
        },
    )
    quantity = forms.IntegerField(min_value=1, max_value=MAX_QUANTITY, required=False, error_messages=QUANTITY_ERRORS)

    def clean_quantity(self) -> int:
        quantity = self.cleaned_data.get("quantity")
        return 1 if quantity is None else quantity  # a form without the field adds one


LINE_RANGE = f"Choose a quantity from 1 to {MAX_QUANTITY}, or 0 to remove the line."


class LineQuantityForm(forms.Form):
    """A line's new quantity: 0 removes the line."""

    quantity = forms.IntegerField(
        min_value=0,
        max_value=MAX_QUANTITY,
        error_messages={**QUANTITY_ERRORS, "min_value": LINE_RANGE, "max_value": LINE_RANGE},
    )


def first_error(form: forms.Form) -> tuple[str, str]:
    """(field, message) of the form's first error, for a flash message or a JSON error."""
    field, errors = next(iter(form.errors.items()))
    return field, errors[0]
