"""Signed e-mail verification links: proof that a customer controls an address.

The token carries the account, the address and the account's verification state, signed with
the site's secret (django.core.signing, salted). It is refused when forged or altered, after
ACCOUNTS_EMAIL_VERIFICATION_MAX_AGE seconds, when the account's address changed since, and once
it has been used (verifying moves the state on, so the same link no longer matches).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core import signing
from django.urls import reverse

from accounts.exceptions import InvalidVerificationLink, VerificationLinkExpired

if TYPE_CHECKING:
    from accounts.models import User

SALT = "accounts.email-verification"


@dataclass(frozen=True)
class VerificationClaim:
    user_id: int
    email: str
    state: str  # the account's email_verified_at when the link was made ("" when never verified)


def state_of(user: User) -> str:
    return user.email_verified_at.isoformat() if user.email_verified_at else ""


def make_token(user: User) -> str:
    return signing.dumps({"u": user.pk, "e": user.email, "s": state_of(user)}, salt=SALT, compress=True)


def read_token(token: str) -> VerificationClaim:
    """What a link claims, if we signed it and it is not too old. Raises VerificationLinkExpired,
    InvalidVerificationLink (forged, altered, not a token at all)."""
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.ACCOUNTS_EMAIL_VERIFICATION_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise VerificationLinkExpired() from exc
    except (signing.BadSignature, ValueError) as exc:
        raise InvalidVerificationLink() from exc
    if not isinstance(data, dict) or not {"u", "e", "s"} <= data.keys():
        raise InvalidVerificationLink()
    return VerificationClaim(user_id=data["u"], email=data["e"], state=data["s"])


def verification_url(user: User) -> str:
    """The absolute link e-mailed to the account's address."""
    return f"{settings.SHOP_BASE_URL}{reverse('accounts:verify_email', args=[make_token(user)])}"
