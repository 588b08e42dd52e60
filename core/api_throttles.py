"""DRF's rate throttles: keyed on ``core.client_ip.client_ip`` (the same client address as django-axes
and the password-reset limits; DRF's own ``get_ident`` would believe a client-written
``X-Forwarded-For``), and failing OPEN when the cache (Redis) cannot be reached.

A throttle is a guard against abuse, not a rule about money or identity: when Redis is down, refusing
every API request with a 500 (what DRF's throttles did, review finding 12) turns a cache outage into a
full outage, sign-in included. So the request goes on, and one warning a minute per process says that
throttling is off (no traceback: the outage is already on /healthz and /readyz). Lockouts that protect
accounts (django-axes) keep their own, database-backed state and are not affected.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from redis.exceptions import RedisError
from rest_framework import throttling
from rest_framework.request import Request

from core.client_ip import client_ip

if TYPE_CHECKING:
    # Not at run time: DRF's views module reads this class from the settings while it loads.
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)
WARN_EVERY_SECONDS = 60.0
_last_warning = [0.0]


def _warn_once_a_minute(throttle: object, exc: BaseException) -> None:
    now = time.monotonic()
    if now - _last_warning[0] >= WARN_EVERY_SECONDS:
        _last_warning[0] = now
        logger.warning(
            "API throttling is off: the cache is unreachable (%s: %s); requests are let through",
            type(exc).__name__,
            str(exc)[:200],
        )


class FailOpenMixin:
    def allow_request(self, request: Request, view: APIView) -> bool:
        try:
            # A mixin: the DRF throttle class it comes before in the bases has allow_request.
            allowed: bool = super().allow_request(request, view)  # type: ignore[misc]
            return allowed
        except (RedisError, OSError) as exc:
            _warn_once_a_minute(self, exc)
            return True


class ClientIpMixin:
    def get_ident(self, request: Request) -> str:
        return client_ip(request)


class AnonRateThrottle(FailOpenMixin, ClientIpMixin, throttling.AnonRateThrottle):
    """Anonymous callers, per client address."""


class UserRateThrottle(FailOpenMixin, ClientIpMixin, throttling.UserRateThrottle):
    """Signed-in callers per user; anonymous ones per client address."""


class ScopedRateThrottle(FailOpenMixin, ClientIpMixin, throttling.ScopedRateThrottle):
    """Per view scope (login, otp, payments), per user or client address."""
