"""Throttles on the cache, with rates read from settings at request time (API_THROTTLE_RATES).

They count in the default cache (Redis in production). With Redis down django-redis ignores
the error, the count reads as empty and the request goes through: throttles fail open.
"""

from django.conf import settings
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
