"""Signed webhooks, one scheme for every sender (the test payment gateway, carriers): the header
`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the shared secret>` (Stripe's shape),
refused when it does not match or is older than the tolerance (a replayed old request)."""

from __future__ import annotations

import hashlib
import hmac
import time

DEFAULT_TOLERANCE = 300  # seconds


class BadSignature(ValueError):
    """The signature is missing, malformed, does not match the body, or is too old."""


def sign(body: bytes, *, secret: str, timestamp: int | None = None) -> str:
    """The signature header's value for `body` (what a sender computes; tests use it too)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(body: bytes, header: str, *, secret: str, tolerance: int = DEFAULT_TOLERANCE) -> None:
    """Raise BadSignature unless `header` signs `body` with `secret` within `tolerance` seconds."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (ValueError, KeyError) as exc:
        raise BadSignature("missing or malformed signature") from exc
    expected = sign(body, secret=secret, timestamp=timestamp).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, given):
        raise BadSignature("signature does not match")
    if abs(time.time() - timestamp) > tolerance:
        raise BadSignature("signature is too old")
