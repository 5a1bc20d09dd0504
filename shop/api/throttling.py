"""Throttles on the cache, with rates read from settings at request time (API_THROTTLE_RATES).

They count in the default cache (Redis in production). With Redis down django-redis ignores
the error, the count reads as empty and the request goes through: throttles fail open.
"""

import functools
import hashlib
import math

from django.conf import settings
from django.shortcuts import render
from rest_framework import throttling

from shop.email_addresses import normalize_email


class _SettingsRate:
    def get_rate(self) -> str | None:
        return settings.API_THROTTLE_RATES.get(self.scope)


class UserRateThrottle(_SettingsRate, throttling.UserRateThrottle):
    """Per signed-in user (per IP for anonymous clients): `user` rate, 100/minute by default."""


class AnonRateThrottle(_SettingsRate, throttling.AnonRateThrottle):
    """Per IP for anonymous clients: the `anon` rate."""


class ScopedRateThrottle(_SettingsRate, throttling.ScopedRateThrottle):
    """Per view scope (`throttle_scope = "login"`), keyed by user or IP: tight rates for log-in."""


class APIKeyRateThrottle(ScopedRateThrottle):
    """The view's scoped rate (`throttle_scope`) counted per machine client's API key, not per IP:
    many warehouse or seller servers behind one key share its budget. Needs HasScopedAPIKey, which
    runs before throttles and leaves the key on `request.api_key`."""

    def get_cache_key(self, request, view) -> str | None:
        api_key = getattr(request, "api_key", None)
        if api_key is None:
            return super().get_cache_key(request, view)
        return self.cache_format % {"scope": self.scope, "ident": f"apikey:{api_key.prefix}"}


class AccountRateThrottle(_SettingsRate, throttling.SimpleRateThrottle):
    """Log-in attempts per *account* (the e-mail address tried, in its normal form), whatever the
    address they come from: many addresses guessing one password share one budget.

    The rate is the `login` scope's. `field` names where the address is: "email" in the API's JSON
    body, "username" in Django's log-in forms (storefront and admin).
    """

    scope = "login"
    field = "email"

    def __init__(self, field: str | None = None) -> None:
        if field:
            self.field = field
        super().__init__()

    def get_cache_key(self, request, view) -> str | None:
        data = getattr(request, "data", None)
        if data is None:
            data = request.POST
        value = data.get(self.field) if hasattr(data, "get") else None
        if not isinstance(value, str) or not value.strip():
            return None  # nothing to count: the form's own validation answers
        account = hashlib.sha256(normalize_email(value).encode()).hexdigest()[:32]
        return self.cache_format % {"scope": "login-account", "ident": account}


class _ScopeHolder:
    def __init__(self, scope: str) -> None:
        self.throttle_scope = scope


def throttle_post(scope: str, *, account_field: str | None = None):
    """Apply a scoped API rate to the POSTs of a storefront view (log-in, password reset).

    The same counter as the API's scope, so a browser form is no way around the API's limit.
    With `account_field` (log-in forms: "username") attempts are also counted per account
    named in that field (AccountRateThrottle), as the API's log-in does.
    Past a limit the page answers 429 with Retry-After and the view does not run.
    """

    def decorate(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method == "POST":
                throttles = [ScopedRateThrottle()]
                if account_field:
                    throttles.append(AccountRateThrottle(field=account_field))
                for throttle in throttles:
                    if not throttle.allow_request(request, _ScopeHolder(scope)):
                        wait = math.ceil(throttle.wait() or 1)
                        response = render(request, "429.html", {"wait": wait}, status=429)
                        response["Retry-After"] = str(wait)
                        return response
            return view(request, *args, **kwargs)

        return wrapped

    return decorate
