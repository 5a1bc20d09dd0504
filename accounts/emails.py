"""How the shop compares e-mail addresses: one helper, so every door agrees.

An address is compared in its normalized form, case-insensitively: `ADA@Example.com ` and
`ada@example.com` are one customer. The normalization is deliberately small here (surrounding
spaces); issue 20 item 10 (look-alike addresses) puts its full rule in `normalize_email`, and
every caller follows.
"""

from __future__ import annotations


def normalize_email(address: str) -> str:
    """The address as the shop compares and stores it."""
    return (address or "").strip()


def same_email(first: str, second: str) -> bool:
    """True when two addresses are one mailbox for the shop: equal normalized forms, any case.

    A plain lower-case comparison: no Unicode case folding, so a look-alike letter (U+017F for "s") is not the letter."""
    return normalize_email(first).lower() == normalize_email(second).lower()
