"""One rule for e-mail addresses, applied wherever one is entered (sign-up, log-in, reset, checkout,
order look-up) and wherever one is compared (docs/security.md, "E-mail addresses").

The rule (``normalize_email``):
  1. surrounding white space is dropped;
  2. the whole address is put in Unicode NFKC form, so compatibility look-alikes become the
     letters they stand for (U+017F LONG S followed by ``am`` becomes ``sam``, full-width letters
     become ASCII);
  3. the domain is case-folded (domains are case-insensitive by standard);
  4. the local part is lower-cased too: the standard lets a mail server treat ``Sam`` and ``sam``
     as two mailboxes, but no provider our customers use does, and two accounts for one inbox
     would be worse. Dots and ``+tags`` are kept (they are real, distinct mailboxes at many
     providers).

Stored addresses are in this form, so comparisons are exact (``email=normalize_email(x)``),
never ``iexact``: PostgreSQL's ``UPPER()`` folds look-alikes (U+017F -> ``S``) the rule does not.
"""

from __future__ import annotations

import unicodedata

from django import forms
from rest_framework import serializers

# RFC 5321 caps a forward path at 256 octets including the angle brackets: 254 for the address.
# Every e-mail column and every field where an address is entered uses it.
EMAIL_MAX_LENGTH = 254


def normalize_email(value: str) -> str:
    """The address in the shop's one normal form (module docstring); '' stays ''."""
    address = unicodedata.normalize("NFKC", (value or "").strip())
    local, at, domain = address.rpartition("@")
    if not at:
        return address.lower()
    return unicodedata.normalize("NFKC", f"{local.lower()}@{domain.casefold()}")


class EmailAddressFormField(forms.EmailField):
    """A storefront form's e-mail field: at most 254 characters, cleaned to the normal form."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", EMAIL_MAX_LENGTH)
        super().__init__(**kwargs)

    def to_python(self, value):  # before the validators, so length and shape are checked on the normal form
        return normalize_email(super().to_python(value))


class EmailAddressSerializerField(serializers.EmailField):
    """An API e-mail field: at most 254 characters, validated to the normal form."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", EMAIL_MAX_LENGTH)
        super().__init__(**kwargs)

    def to_internal_value(self, data):  # the validators (length, shape) then check the normal form
        return normalize_email(super().to_internal_value(data))
