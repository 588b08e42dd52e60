"""API tokens (JWT): what they carry and how they are revoked.

- Access tokens live ``JWT_ACCESS_MINUTES`` (15), refresh tokens ``JWT_REFRESH_DAYS`` (7).
- Every token carries ``ver``, the user's ``token_version`` when it was issued. A password change on any
  surface raises the version (``User.save``), so every token issued before dies at once: access tokens at
  their next request (``accounts.authentication``), refresh tokens at their next refresh. The check is one
  integer comparison with the user row authentication loads anyway, no extra query; a stateless check
  could later keep the version per public id in the cache, written where the version is raised.
- A refresh token works once: refreshing blacklists it (simplejwt's ``token_blacklist`` app), and so does
  ``POST /api/v1/auth/logout/``. Blacklisting and rotation are one transaction on the blacklist row, so
  two simultaneous refreshes with one token give one new pair, not two.
- The blacklist's ``OutstandingToken`` table keeps a SHA-256 fingerprint of each refresh token, never the
  token itself: a copy of the database (or its admin page) signs nobody in.
"""

from __future__ import annotations

import hashlib
import logging
from typing import cast

from django.db import transaction
from django.db.models.signals import pre_save
from django.dispatch import receiver
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, Token
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts.models import User

logger = logging.getLogger(__name__)

VERSION_CLAIM = "ver"


class VersionedRefreshToken(RefreshToken):
    """A refresh token (and the access tokens made from it) stamped with the user's token version."""

    # simplejwt types ``user`` as its AuthUser TypeVar (any user model); ours is always a User.
    @classmethod
    def for_user(cls, user: User) -> VersionedRefreshToken:  # type: ignore[override]
        token = cast(VersionedRefreshToken, super().for_user(user))  # made by cls, so ours
        token[VERSION_CLAIM] = user.token_version
        return token


def token_is_current(token: Token, user: User) -> bool:
    """Was ``token`` (a validated simplejwt token) issued under the user's current token version?"""
    return token.get(VERSION_CLAIM) == user.token_version


def refresh_token_spend(token: RefreshToken) -> None:
    """Blacklist ``token`` once; a second spend (a replay, or the loser of a race) raises ``TokenError``.

    The unique blacklist row is the arbiter: of two transactions inserting it, one waits for the other
    and then finds it there.
    """
    jti = token[api_settings.JTI_CLAIM]
    with transaction.atomic():
        outstanding, _created = OutstandingToken.objects.get_or_create(
            jti=jti,
            defaults={
                "user": User.objects.filter(
                    **{api_settings.USER_ID_FIELD: token.get(api_settings.USER_ID_CLAIM)}
                ).first(),
                "created_at": timezone.now(),
                "token": str(token),
                "expires_at": datetime_from_epoch(token["exp"]),
            },
        )
        _row, created = BlacklistedToken.objects.get_or_create(token=outstanding)
    if not created:
        logger.warning("refresh token replayed jti=%s user=%s", jti, outstanding.user_id)
        raise TokenError("Token is blacklisted")


def user_refresh_tokens_blacklist(*, user_id: int) -> int:
    """Blacklist every refresh token of the user still outstanding (after a password change). The version
    check already refuses them; the rows make it visible to staff and survive a change of that check."""
    now = timezone.now()
    live = OutstandingToken.objects.filter(user_id=user_id, expires_at__gt=now, blacklistedtoken__isnull=True)
    rows = [BlacklistedToken(token=token) for token in live]
    BlacklistedToken.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def fingerprint(token_text: str) -> str:
    return "sha256:" + hashlib.sha256(token_text.encode()).hexdigest()


@receiver(pre_save, sender=OutstandingToken, dispatch_uid="accounts.tokens.fingerprint_only")
def _store_fingerprint_only(sender: type, instance: OutstandingToken, **kwargs: object) -> None:
    """simplejwt writes the whole refresh token; keep only its fingerprint (see the module docstring)."""
    if instance.token and not instance.token.startswith("sha256:"):
        instance.token = fingerprint(instance.token)


def expired_tokens_flush() -> int:
    """Delete outstanding (and so blacklisted) refresh tokens past their expiry; returns how many went."""
    deleted, _by_model = OutstandingToken.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
