"""The API door of shop.idempotency: read the Idempotency-Key header into an IdempotencyRequest."""

from __future__ import annotations

import re

from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from shop.guest import guest_token_from_request
from shop.idempotency import IdempotencyRequest, fingerprint, scope_for

HEADER = "Idempotency-Key"
_KEY_FORMAT = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces


def idempotency_from_request(request: Request, *, required: bool = False) -> IdempotencyRequest | None:
    """The client's key scoped to who sent it, with a fingerprint of the request; None without a key.

    Raises a 400 naming the header when it is malformed, or missing where `required`.
    """
    key = request.headers.get(HEADER)
    if key is None:
        if required:
            raise ValidationError({HEADER: ["This header is required: send a unique key per intended creation."]})
        return None
    if not _KEY_FORMAT.match(key):
        raise ValidationError({HEADER: ["Use 1 to 255 printable ASCII characters without spaces (a UUID is ideal)."]})
    scope = client_scope(request)
    if scope is None:
        raise ValidationError({HEADER: ["An anonymous client must also send X-Guest-Token to use Idempotency-Key."]})
    return IdempotencyRequest(
        scope=scope, key=key, fingerprint=fingerprint(method=request.method, path=request.path, body=request.data)
    )


def client_scope(request: Request) -> str | None:
    """Who is calling: user:<id>, guest:<token hash> or apikey:<prefix>; None for an anonymous
    client without a guest token. What idempotency keys and direct uploads belong to."""
    scope = scope_for(user=request.user, guest_token=guest_token_from_request(request._request))
    if scope is None and getattr(request, "api_key", None) is not None:
        scope = f"apikey:{request.api_key.prefix}"
    return scope
