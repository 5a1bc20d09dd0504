"""Throttles on the cache, with rates read from settings at request time (API_THROTTLE_RATES).

They count in the default cache (Redis in production). With Redis down django-redis ignores
the error, the count reads as empty and the request goes through: throttles fail open.
"""

import functools
import math

from django.conf import settings
from django.shortcuts import render
from rest_framework import throttling


class _SettingsRate:
    def get_rate(self) -> str | None:
        return settings.API_THROTTLE_RATES.get(self.scope)


class UserRateThrottle(_SettingsRate, throttling.UserRateThrottle):
    """Per signed-in user (per IP for anonymous clients): `user` rate, 100/minute by default."""


class AnonRateThrottle(_SettingsRate, throttling.AnonRateThrottle):
    """Per IP for anonymous clients: the `anon` rate."""


class ScopedRateThrottle(_SettingsRate, throttling.ScopedRateThrottle):
    """Per view scope (`throttle_scope = "login"`), keyed by user or IP: tight rates for log-in."""


class _ScopeHolder:
    def __init__(self, scope: str) -> None:
        self.throttle_scope = scope


def throttle_post(scope: str):
    """Apply a scoped API rate to the POSTs of a storefront view (log-in, password reset).

    The same counter as the API's scope, so a browser form is no way around the API's limit.
    Past it the page answers 429 with Retry-After and the view does not run.
    """

    def decorate(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method == "POST":
                throttle = ScopedRateThrottle()
                if not throttle.allow_request(request, _ScopeHolder(scope)):
                    wait = math.ceil(throttle.wait() or 1)
                    response = render(request, "429.html", {"wait": wait}, status=429)
                    response["Retry-After"] = str(wait)
                    return response
            return view(request, *args, **kwargs)

        return wrapped

    return decorate
