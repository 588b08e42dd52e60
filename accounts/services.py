"""Writes of the accounts app: one-time SMS codes.

A code is delivered through the ``otp_issued`` signal (notifications listens), because accounts imports
no other app (DESIGN.md). Only a keyed hash is stored; a wrong try is counted in its own committed
transaction, so raising the error cannot roll the count back.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import OneTimeCode, OtpPurpose, User
from accounts.signals import otp_issued
from config.errors import ApplicationError


def _hash(code: str, salt: str) -> str:
    key = f"{settings.SECRET_KEY}:otp:{salt}".encode()
    return hmac.new(key, code.encode(), hashlib.sha256).hexdigest()


def otp_request(*, user: User, purpose: str) -> OneTimeCode:
    """Issue a new 6-digit code for ``purpose``, throttled per user and purpose, and send it by SMS."""
    if purpose not in OtpPurpose.values:
        raise ApplicationError(
            "otp_invalid_purpose", _("Unknown purpose for a code."), fields={"purpose": purpose}, status=400
        )
    if not user.is_active:
        raise ApplicationError("user_inactive", _("This account is disabled."), status=403)
    now = timezone.now()
    with transaction.atomic():
        # The user row is the lock: two requests at once are counted one after the other.
        User.objects.select_for_update().filter(pk=user.pk).first()
        recent = OneTimeCode.objects.filter(
            user=user, purpose=purpose, created_at__gt=now - timedelta(hours=1)
        )
        last = recent.order_by("-created_at").first()
        interval = timedelta(seconds=settings.OTP_MIN_INTERVAL_SECONDS)
        if last and now - last.created_at < interval:
            wait = math.ceil((last.created_at + interval - now).total_seconds())
            raise ApplicationError(
                "otp_too_soon",
                _("A code was just sent. Try again in %(seconds)d seconds.") % {"seconds": wait},
                status=429,
            )
        if recent.count() >= settings.OTP_MAX_PER_HOUR:
            raise ApplicationError(
                "otp_hourly_limit", _("Too many codes requested. Try again in an hour."), status=429
            )
        OneTimeCode.objects.filter(user=user, purpose=purpose, used_at__isnull=True, superseded=False).update(
            superseded=True
        )
        code = f"{secrets.randbelow(10**6):06d}"
        salt = secrets.token_hex(16)
        otp = OneTimeCode.objects.create(
            user=user,
            purpose=purpose,
            code_hash=_hash(code, salt),
            salt=salt,
            created_at=now,
            expires_at=now + timedelta(minutes=settings.OTP_TTL_MINUTES),
        )
        otp_issued.send(
            sender=OneTimeCode,
            user=user,
            purpose=purpose,
            code=code,
            otp=otp,
            ttl_minutes=settings.OTP_TTL_MINUTES,
        )
    return otp


def otp_verify(*, user: User, purpose: str, code: str) -> None:
    """Accept the newest live code for ``purpose`` once; raise with a clear code otherwise."""
    now = timezone.now()
    code = (code or "").replace(" ", "").strip()
    with transaction.atomic():
        otp = (
            OneTimeCode.objects.select_for_update()
            .filter(user=user, purpose=purpose, used_at__isnull=True, superseded=False)
            .order_by("-created_at", "-id")
            .first()
        )
        if otp is None:
            raise ApplicationError("otp_not_requested", _("Request a code first."), status=400)
        if otp.expires_at <= now:
            raise ApplicationError("otp_expired", _("The code has expired. Request a new one."), status=400)
        if otp.attempts >= settings.OTP_MAX_ATTEMPTS:
            raise ApplicationError(
                "otp_too_many_attempts", _("Too many wrong tries. Request a new code."), status=400
            )
        valid = (
            len(code) == 6 and code.isdigit() and hmac.compare_digest(otp.code_hash, _hash(code, otp.salt))
        )
        if valid:
            otp.used_at = now
            otp.save(update_fields=["used_at"])
            return
        otp.attempts += 1
        otp.save(update_fields=["attempts"])
        left = settings.OTP_MAX_ATTEMPTS - otp.attempts
    # Raised after the block commits, so the wrong try stays counted.
    if left <= 0:
        raise ApplicationError(
            "otp_too_many_attempts", _("Too many wrong tries. Request a new code."), status=400
        )
    raise ApplicationError(
        "otp_invalid",
        _("The code is not right. %(left)d tries left.") % {"left": left},
        fields={"code": _("Wrong code.")},
        status=400,
    )
