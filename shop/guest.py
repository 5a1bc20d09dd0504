"""The guest token: who an anonymous shopper is until they sign in.

A random token (never the session key, which changes at log-in) sent by apps in the
`X-Guest-Token` header and by browsers in the `guest_token` cookie. The cart keys a guest cart
by it, and at sign-in the guest's cart is merged into the account's (the cart issue subscribes
to `accounts.signals.customer_signed_in`, which carries the token).
"""

from __future__ import annotations

import hashlib
import re
import secrets

from django.conf import settings
from django.http import HttpRequest, HttpResponse

GUEST_HEADER = "X-Guest-Token"
GUEST_COOKIE = "guest_token"
GUEST_COOKIE_MAX_AGE = 60 * 60 * 24 * 90
_TOKEN_FORMAT = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


def new_guest_token() -> str:
    return secrets.token_urlsafe(32)  # 43 characters, 256 bits


def is_valid_guest_token(token: str | None) -> bool:
    return bool(token) and bool(_TOKEN_FORMAT.match(token))


def guest_token_from_request(request: HttpRequest) -> str | None:
    """The well-formed token the client sent (header first, then cookie), or None."""
    token = request.headers.get(GUEST_HEADER) or request.COOKIES.get(GUEST_COOKIE)
    return token if is_valid_guest_token(token) else None


def set_guest_cookie(response: HttpResponse, token: str) -> None:
    """Give a browser its guest token (the cart's first add, the catalog's first product view)."""
    response.set_cookie(
        GUEST_COOKIE,
        token,
        max_age=GUEST_COOKIE_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=not settings.DEBUG,
    )


def guest_scope(token: str) -> str:
    """An idempotency/rate scope for a guest that does not store the token itself."""
    return "guest:" + hashlib.sha256(token.encode()).hexdigest()[:32]


def guest_key(token: str) -> str:
    """What the database keeps for a guest (a cart's owner): the token's SHA-256, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()
