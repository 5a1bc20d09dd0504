"""CSRF secrets and masks drawn from one read of the OS's random source, not one per character.

Django makes a new visitor's CSRF secret, and the mask of every token it puts in a form, with
`get_random_string`, which calls `secrets.choice` once per character: 64 reads of the operating
system's random source for a new visitor's product page (32 for the secret, 32 for the mask),
about 0.7 million instructions and 64 system calls, a twelfth of the page's work in process.
`random_csrf_string` gives the same thing (32 characters, each of Django's 62 letters and digits
equally likely and independent) from one read: each random byte below 248 (62 * 4) names the
character at its value modulo 62, and the 8 byte values above are dropped, so no character is
likelier than another.

`install()` (ShopConfig.ready) puts it in place of `django.middleware.csrf._get_new_csrf_string`,
the one function through which Django makes both; Django's checks of the tokens are unchanged.
tests/shop/test_csrf_tokens.py fails if a Django upgrade stops calling it.
"""

from __future__ import annotations

import secrets

from django.middleware import csrf

ALPHABET = csrf.CSRF_ALLOWED_CHARS
_KEPT = 256 - 256 % len(ALPHABET)  # byte values 0-247: each character 4 times
# bytes.translate maps each kept byte to its character's ASCII code and deletes the others.
_TABLE = bytes(ord(ALPHABET[value % len(ALPHABET)]) for value in range(256))
_DROPPED = bytes(range(_KEPT, 256))
_SPARE = 8  # bytes read beyond the length: 40 bytes hold fewer than 32 kept ones about once in 10^5 reads


def characters(data: bytes) -> str:
    """The characters these random bytes give (the dropped byte values give none)."""
    return data.translate(_TABLE, _DROPPED).decode("ascii")


def random_csrf_string(length: int = csrf.CSRF_SECRET_LENGTH) -> str:
    """`length` random characters of Django's CSRF alphabet (what `_get_new_csrf_string` returns)."""
    text = characters(secrets.token_bytes(length + _SPARE))
    while len(text) < length:
        text += characters(secrets.token_bytes(length - len(text) + _SPARE))
    return text[:length]


def install() -> None:
    csrf._get_new_csrf_string = random_csrf_string
