"""How the shop compares e-mail addresses: one helper, so every door agrees.

Addresses are compared in the shop's one normal form (`shop.email_addresses.normalize_email`:
NFKC, the domain case-folded, the local part lower-cased), so a look-alike letter (U+017F for
"s") is the letter it stands for and `ADA@Example.com ` is `ada@example.com`.
"""

from __future__ import annotations

from shop.email_addresses import normalize_email

__all__ = ["normalize_email", "same_email"]


def same_email(first: str, second: str) -> bool:
    """True when two addresses are one mailbox for the shop: equal normal forms."""
    return normalize_email(first) == normalize_email(second)
