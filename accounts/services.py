"""Writes to accounts: SMS one-time codes (OTP) that confirm sensitive actions.

Codes reach the customer through the ``otp_issued`` signal (``notifications`` listens), because accounts
must not import notifications. Limits come from settings, read at call time so tests can override them:

- ``OTP_TTL_MINUTES`` (5): how long a code is valid.
- ``OTP_MIN_INTERVAL_SECONDS`` (60): least time between two requests per user and purpose.
- ``OTP_MAX_PER_HOUR`` (5): most requests per user and purpose in any rolling hour.
- ``OTP_MAX_ATTEMPTS`` (5): wrong tries after which a code is dead, even with the right digits.

Callers: call ``otp_verify`` outside your own ``transaction.atomic()`` block and do the protected work
after it returns. Its failed-attempt counter and its "used" mark commit in their own transaction; inside
an outer block, the exception it raises would roll the counter back and give an attacker free guesses.
"""

from __future__ import annotations

import hmac
import logging
import math
import re
import secrets
from dataclasses import dataclass
from datetime import time, timedelta

from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.axes import normalise_login
from accounts.errors import AccountsError
from accounts.models import OneTimeCode, OtpPurpose, User
from accounts.ratelimit import code_limits, limits_hit, phone_limits_clear, request_limits
from accounts.signals import otp_issued
from accounts.tokens import user_refresh_tokens_blacklist
from core.error_codes import ErrorCode
from core.errors import ApplicationError

logger = logging.getLogger(__name__)

OTP_LENGTH = 6
_CODE_RE = re.compile(rf"[0-9]{{{OTP_LENGTH}}}")
_SPACES_RE = re.compile(r"\s+")


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def _parse_purpose(purpose: str) -> OtpPurpose:
    try:
        return OtpPurpose(purpose)
    except ValueError:
        raise ApplicationError(
            AccountsError.OTP_INVALID_PURPOSE,
            _("Unknown purpose for a verification code."),
            fields={"purpose": _("Choose one of: %(choices)s.") % {"choices": ", ".join(OtpPurpose.values)}},
        ) from None


def _code_hash(*, salt: str, user_id: int, purpose: str, code: str) -> str:
    """Bind the hash to its row, user and purpose, so a hash copied to another row never matches."""
    return salted_hmac(f"accounts.otp:{salt}", f"{user_id}:{purpose}:{code}", algorithm="sha256").hexdigest()


def _wait_error(code: ErrorCode, message: str, seconds: float) -> ApplicationError:
    wait = max(1, math.ceil(seconds))
    return ApplicationError(code, message % {"seconds": wait}, fields={"retry_after": str(wait)})


def otp_request(*, user: User, purpose: str) -> OneTimeCode:
    """Issue a fresh code for ``purpose``; older unused codes for it stop working.

    The user row is locked before the throttle counts, so simultaneous requests queue up and exactly one
    of a burst passes (on PostgreSQL; SQLite serialises writers anyway).
    """
    kind = _parse_purpose(purpose)
    ttl_minutes = _setting("OTP_TTL_MINUTES", 5)
    min_interval = _setting("OTP_MIN_INTERVAL_SECONDS", 60)
    max_per_hour = _setting("OTP_MAX_PER_HOUR", 5)

    with transaction.atomic():
        locked = User.objects.select_for_update().only("pk", "is_active").get(pk=user.pk)
        if not locked.is_active:
            raise ApplicationError(AccountsError.USER_INACTIVE, _("This account is disabled."))

        now = timezone.now()
        window = timedelta(hours=1)
        recent = list(
            OneTimeCode.objects.filter(user_id=user.pk, purpose=kind, created_at__gt=now - window)
            .order_by("created_at")
            .values_list("created_at", flat=True)
        )
        too_soon_wait = min_interval - (now - recent[-1]).total_seconds() if recent else 0.0
        if len(recent) >= max_per_hour:
            # The oldest request in the window must age out before one more fits (and then the interval).
            frees_at = recent[len(recent) - max_per_hour] + window
            raise _wait_error(
                AccountsError.OTP_HOURLY_LIMIT,
                _("Too many codes requested in the last hour. Try again in %(seconds)d seconds."),
                max((frees_at - now).total_seconds(), too_soon_wait),
            )
        if too_soon_wait > 0:
            raise _wait_error(
                AccountsError.OTP_TOO_SOON,
                _("A code was just sent. Wait %(seconds)d seconds before requesting another."),
                too_soon_wait,
            )

        OneTimeCode.objects.filter(
            user_id=user.pk, purpose=kind, used_at__isnull=True, superseded=False
        ).update(superseded=True)

        code = "".join(secrets.choice("0123456789") for _i in range(OTP_LENGTH))
        salt = secrets.token_hex(16)
        otp = OneTimeCode.objects.create(
            user_id=user.pk,
            purpose=kind,
            salt=salt,
            code_hash=_code_hash(salt=salt, user_id=user.pk, purpose=kind.value, code=code),
            created_at=now,
            expires_at=now + timedelta(minutes=ttl_minutes),
        )
        otp_issued.send(
            sender=OneTimeCode, user=user, purpose=kind.value, code=code, otp=otp, ttl_minutes=ttl_minutes
        )
    logger.info("otp issued id=%s user=%s purpose=%s", otp.pk, user.pk, kind.value)
    return otp


def otp_verify(*, user: User, purpose: str, code: str) -> None:
    """Accept the newest live code for ``purpose`` once, or raise ``ApplicationError``.

    The code row is locked while it is checked, so parallel submissions of the right code succeed once.
    A wrong try is committed before the error is raised (see the module docstring for callers).
    """
    kind = _parse_purpose(purpose)
    max_attempts = _setting("OTP_MAX_ATTEMPTS", 5)
    given = _SPACES_RE.sub("", code) if isinstance(code, str) else ""

    with transaction.atomic():
        otp = (
            OneTimeCode.objects.select_for_update()
            .filter(user_id=user.pk, purpose=kind, used_at__isnull=True, superseded=False)
            .order_by("-created_at", "-pk")
            .first()
        )
        if otp is None:
            raise ApplicationError(
                AccountsError.OTP_NOT_REQUESTED, _("No verification code is waiting. Request a new code.")
            )
        now = timezone.now()
        if now >= otp.expires_at:
            raise ApplicationError(AccountsError.OTP_EXPIRED, _("This code has expired. Request a new code."))
        if otp.attempts >= max_attempts:
            raise ApplicationError(
                AccountsError.OTP_TOO_MANY_ATTEMPTS,
                _("Too many wrong tries for this code. Request a new code."),
            )
        expected = otp.code_hash
        actual = _code_hash(salt=otp.salt, user_id=user.pk, purpose=kind.value, code=given)
        if _CODE_RE.fullmatch(given) and hmac.compare_digest(expected, actual):
            # The row lock already serialises verifications; the condition keeps a code single-use even
            # on a database without row locks.
            if not OneTimeCode.objects.filter(pk=otp.pk, used_at__isnull=True).update(used_at=now):
                raise ApplicationError(
                    AccountsError.OTP_NOT_REQUESTED, _("No verification code is waiting. Request a new code.")
                )
            logger.info("otp verified id=%s user=%s purpose=%s", otp.pk, user.pk, kind.value)
            return
        OneTimeCode.objects.filter(pk=otp.pk).update(attempts=F("attempts") + 1)
        left = max_attempts - otp.attempts - 1

    # Raised outside the atomic block so the counted try is committed.
    logger.info("otp wrong try id=%s user=%s purpose=%s left=%s", otp.pk, user.pk, kind.value, left)
    if left <= 0:
        raise ApplicationError(
            AccountsError.OTP_TOO_MANY_ATTEMPTS, _("Too many wrong tries for this code. Request a new code.")
        )
    raise ApplicationError(
        AccountsError.OTP_INVALID,
        ngettext(
            "The code is not correct. %(left)d try left.",
            "The code is not correct. %(left)d tries left.",
            left,
        )
        % {"left": left},
        fields={"code": _("Enter the 6 digits from the SMS.")},
    )


def user_tokens_revoke(*, user: User) -> None:
    """End every API token of ``user`` ("sign out everywhere"): a password change does the same itself
    (``User.save``). Raises the token version, which every token carries, and blacklists refresh tokens."""
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(token_version=F("token_version") + 1)
        user_refresh_tokens_blacklist(user_id=user.pk)
    user.refresh_from_db(fields=["token_version"])
    logger.info("api tokens revoked user=%s", user.pk)


def _otp_verify_decoy(code: str) -> None:
    """What ``otp_verify`` does for a wrong code (lock the newest code row, hash, count the try), on rows
    that do not exist: an unknown number at the reset's code step costs what a known one costs."""
    kind = OtpPurpose.LOGIN_RESET
    with transaction.atomic():
        rows = OneTimeCode.objects.select_for_update().filter(
            user_id__isnull=True, purpose=kind, used_at__isnull=True, superseded=False
        )
        list(rows.order_by("-created_at", "-pk")[:1])
        _code_hash(salt=secrets.token_hex(16), user_id=0, purpose=kind.value, code=str(code))
        OneTimeCode.objects.filter(user_id__isnull=True, purpose=kind).update(attempts=F("attempts") + 1)


def _reset_refusal() -> ApplicationError:
    """The one answer of the code step to anything but success, for known and unknown numbers alike."""
    return ApplicationError(
        AccountsError.OTP_INVALID,
        _("The code is not correct or no longer valid. Check the SMS, or request a new code."),
        fields={"code": _("Enter the 6 digits from the SMS.")},
    )


def password_reset_request(*, phone: str, client_address: str) -> None:
    """Step 1 of the reset: count the request, then have a code sent in the background if the number
    belongs to an active customer.

    The page must not tell customers from strangers (review finding 6): whatever the number, this does
    the same work in the request (count the limits, queue a task after commit) and returns the same way.
    The only error is the reset limits' 429 (``accounts.ratelimit``), counted for every number. Whether a
    code is issued, and the per-customer code limits, are decided by the task, out of sight.
    """
    # Services enqueue tasks and tasks call services: this one import is at call time to break the cycle.
    from accounts.tasks import password_reset_send  # noqa: PLC0415

    phone = (phone or "").strip()
    limits_hit(step="request", limits=request_limits(), address=client_address, phone=phone)
    transaction.on_commit(lambda: password_reset_send.delay(phone))


def password_reset_code_send(*, phone: str) -> bool:
    """Issue a reset code to ``phone`` if it is an active customer's (the task of step 1). Per-customer
    limits (one a minute, five an hour) still apply; their refusals are logged, never shown."""
    user = User.objects.filter(phone=phone, is_active=True).first()
    if user is None:
        logger.info("password reset asked for an unknown or disabled number")
        return False
    try:
        otp_request(user=user, purpose=OtpPurpose.LOGIN_RESET)
    except ApplicationError as exc:
        logger.info("password reset code not sent user=%s reason=%s", user.pk, exc.code)
        return False
    return True


def password_reset(*, phone: str, code: str, new_password: str, client_address: str) -> User:
    """Step 2: set a new password with the SMS code. Call outside an atomic block (see ``otp_verify``).

    Every refusal about the code is the same ``otp_invalid`` for known and unknown numbers (no "N tries
    left", no "no code waiting"), and both run the same lookups. The password is first checked against
    the rules without the account's personal data (the same for every number); the check against the
    name only runs once the code is right, so it tells nothing to someone without the SMS.
    """
    phone = (phone or "").strip()
    limits_hit(step="code", limits=code_limits(), address=client_address, phone=phone)

    def check(candidate: User) -> None:
        try:
            validate_password(new_password, user=candidate)
        except ValidationError as exc:
            raise ApplicationError(
                AccountsError.INVALID_PASSWORD,
                " ".join(exc.messages),
                fields={"new_password": " ".join(exc.messages)},
            ) from None

    check(User(phone=phone, real_name=""))
    user = User.objects.filter(phone=phone, is_active=True).first()
    if user is None:
        _otp_verify_decoy(code)
        raise _reset_refusal()
    try:
        otp_verify(user=user, purpose=OtpPurpose.LOGIN_RESET, code=code)
    except ApplicationError as exc:
        if exc.code.startswith("otp_"):
            raise _reset_refusal() from None
        raise
    check(user)
    user.set_password(new_password)
    user.save(update_fields=["password"])  # also ends every API token (User.save)
    return user


def language_set(*, user: User, language: str) -> bool:
    """Save the language the customer chose with the switch on every page: the account's language, not
    the browser's, decides their pages, form errors, dates and SMS (``accounts.middleware``,
    ``notifications``). Returns whether it changed; a code Django does not offer is ignored (the switch
    posts only offered codes, and ``set_language`` ignores the rest as well)."""
    if language not in dict(settings.LANGUAGES) or user.language == language:
        return False
    User.objects.filter(pk=user.pk).update(language=language)
    user.language = language
    logger.info("language set: user=%s language=%s", user.pk, language)
    return True


def contact_window_set(*, user: User, start: time | None, end: time | None) -> bool:
    """Save the hours the customer chose for collection calls and SMS (the contact gate reads them);
    ``None`` twice clears the choice and the default hours apply again. A window may cross midnight
    (21:00-09:00): the customer may open hours the default never allows, and only the customer may.
    Returns whether it changed."""
    if (start is None) != (end is None) or (start is not None and start == end):
        message = _("Give both times of your contact window, and two different times; or clear both.")
        raise ApplicationError(
            AccountsError.INVALID_CONTACT_WINDOW,
            message,
            fields={"contact_window_start": message, "contact_window_end": message},
        )
    start = start.replace(second=0, microsecond=0) if start is not None else None
    end = end.replace(second=0, microsecond=0) if end is not None else None
    if (user.contact_window_start, user.contact_window_end) == (start, end):
        return False
    User.objects.filter(pk=user.pk).update(contact_window_start=start, contact_window_end=end)
    user.contact_window_start, user.contact_window_end = start, end
    logger.info("contact window set: user=%s", user.pk)
    return True


@dataclass(frozen=True)
class LockoutCleared:
    """What ``signin_lockout_clear`` found and cleared, for the audit row."""

    signin_failures: int
    codes_retired: int
    reset_counters: int


def signin_lockout_clear(*, user: User) -> LockoutCleared:
    """Clear a customer's sign-in lockout: the wrong-password records django-axes keeps for the account (from
    every address), codes dead from too many wrong tries (retired, so a new one can be asked for at once) and
    the number's password-reset counters. The caller checks who may do it and records it; the hourly limit
    on new codes stays (it counts codes sent, which are kept)."""
    phone = normalise_login(str(user.phone)) or ""
    failures = axes_reset(username=phone) if phone else 0
    retired = OneTimeCode.objects.filter(
        user_id=user.pk,
        used_at__isnull=True,
        superseded=False,
        attempts__gte=_setting("OTP_MAX_ATTEMPTS", 5),
    ).update(superseded=True)
    # The reset page counts the number as typed: clear the usual spellings (E.164 and the national digits).
    spellings = {str(user.phone), str(getattr(user.phone, "national_number", "") or "")} - {""}
    steps = {"request": request_limits(), "code": code_limits()}
    counters = sum(phone_limits_clear(phone=spelling, steps=steps) for spelling in spellings)
    logger.info("sign-in lockout cleared user=%s failures=%s codes=%s", user.pk, failures, retired)
    return LockoutCleared(signin_failures=failures, codes_retired=retired, reset_counters=counters)
