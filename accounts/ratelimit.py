"""Cache counters for the password-reset steps: per client address, per phone number and site-wide.

Every number asked about is counted, registered or not, so a limit says nothing about who is a customer.
Limits come from settings (``PASSWORD_RESET_REQUEST_LIMITS`` and ``PASSWORD_RESET_CODE_LIMITS``, each
``{"address": "5/h", "phone": "5/h", "global": "300/h"}``), read at call time. Windows are fixed (a
counter that expires with its period): simple, one round trip per scope, good enough for abuse limits.
Numbers are keyed by a keyed hash, so the cache holds no phone number.
"""

from __future__ import annotations

import logging
import math
import time

from django.conf import settings
from django.core.cache import cache
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from core.error_codes import CommonError
from core.errors import ApplicationError

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """ "5/h" -> (5, 3600). Also "5/min", "300/d", "10/30s" (a number of units)."""
    count, _slash, period = str(rate).strip().partition("/")
    digits = "".join(ch for ch in period if ch.isdigit())
    unit = period[len(digits) :].strip().lower()
    if unit not in _PERIODS or not count.strip().isdigit():
        raise ValueError(f"Not a rate like '5/h': {rate!r}")
    return int(count), _PERIODS[unit] * (int(digits) if digits else 1)


def _phone_key(phone: str) -> str:
    return salted_hmac("accounts.ratelimit.phone", phone, algorithm="sha256").hexdigest()[:32]


def _count(key: str, period: int) -> int:
    cache.add(key, 0, timeout=period + 1)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=period + 1)
        return 1


def limits_hit(
    *, step: str, limits: dict[str, str], address: str, phone: str = "", prefix: str = "pwreset"
) -> None:
    """Count one try of ``step`` for the address, the number and the site; raise 429 ``throttled`` when
    any of them is over its limit (the try still counts: hammering does not get through sooner). Other
    public pages that must not be tried cheaply (``/verify/``) use it with their own ``prefix``."""
    subjects = {"address": address, "phone": _phone_key(phone), "global": "all"}
    now = time.time()
    waits: list[float] = []
    for scope, rate in limits.items():
        if not rate or scope not in subjects:
            continue
        allowed, period = parse_rate(rate)
        window = int(now // period)
        key = f"{prefix}:{step}:{scope}:{subjects[scope]}:{window}"
        try:
            count = _count(key, period)
        except (RedisError, OSError) as exc:
            # Like the API's throttles (core/api_throttles.py): a cache outage must not take password
            # reset down with it. The one-time codes' own limits (per user, in the database) still hold.
            logger.warning("password-reset limits are off: the cache is unreachable (%s)", type(exc).__name__)
            return
        if count > allowed:
            waits.append((window + 1) * period - now)
    if waits:
        wait = max(1, math.ceil(max(waits)))
        raise ApplicationError(
            CommonError.THROTTLED,
            _("Too many requests. Try again in %(seconds)d seconds.") % {"seconds": wait},
            fields={"retry_after": str(wait)},
        )


def request_limits() -> dict[str, str]:
    return dict(getattr(settings, "PASSWORD_RESET_REQUEST_LIMITS", {}))


def code_limits() -> dict[str, str]:
    return dict(getattr(settings, "PASSWORD_RESET_CODE_LIMITS", {}))


def phone_limits_clear(*, phone: str, steps: dict[str, dict[str, str]], prefix: str = "pwreset") -> int:
    """Forget one number's counters of the current windows (support unlocking a customer at their request;
    the address and site-wide counters stay). ``steps`` maps each step to its limits. Returns how many
    counters were there."""
    now = time.time()
    keys = []
    for step, limits in steps.items():
        rate = limits.get("phone")
        if not rate:
            continue
        _allowed, period = parse_rate(rate)
        keys.append(f"{prefix}:{step}:phone:{_phone_key(phone)}:{int(now // period)}")
    try:
        found = len(cache.get_many(keys))
        cache.delete_many(keys)
    except (RedisError, OSError) as exc:
        logger.warning("reset counters not cleared: the cache is unreachable (%s)", type(exc).__name__)
        return 0
    return found
