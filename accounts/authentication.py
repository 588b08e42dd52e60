"""API authentication: simplejwt's JWT check plus the user's token version (see ``accounts.tokens``)."""

from __future__ import annotations

from typing import cast

from django.utils.translation import gettext_lazy as _
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.tokens import Token

from accounts.models import User
from accounts.tokens import token_is_current


class JWTAuthentication(authentication.JWTAuthentication):
    """Refuses a token issued before the user's last password change (or "sign out everywhere").

    The comparison uses the user row simplejwt loads anyway: no extra query per request.
    """

    # simplejwt types the user as its AuthUser TypeVar (any user model); AUTH_USER_MODEL is User.
    def get_user(self, validated_token: Token) -> User:  # type: ignore[override]
        user = cast(User, super().get_user(validated_token))
        if not token_is_current(validated_token, user):
            # DRF renders the lazy text in the request's language; the stubs ask for a plain str.
            raise InvalidToken(_("Token is revoked: the password was changed or the account signed out."))  # type: ignore[arg-type]
        return user


class VersionedJWTScheme(SimpleJWTScheme):
    """The OpenAPI security scheme of ``JWTAuthentication``: simplejwt's Bearer scheme."""

    target_class = "accounts.authentication.JWTAuthentication"
