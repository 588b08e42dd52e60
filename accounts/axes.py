"""django-axes glue: which credential is the username, and the lockout answer (page or API JSON).

The username axes counts failures under must be the account, not the string typed: the sign-in query
(``ModelBackend`` -> ``User.phone``, a ``PhoneNumberField``) finds one account under many spellings
("+86 139 0000 0001", "13900000001", "008613900000001", full-width digits...). ``username`` therefore
returns the value that query looks up, so every spelling shares the one counter of its account on every
surface (/login/, /admin/login/, /api/v1/auth/token/).
"""

from __future__ import annotations

import math

from django.conf import settings
from django.db import models
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from accounts.models import User
from core.error_codes import CommonError


def normalise_login(value: object) -> str | None:
    """The phone as the sign-in query looks it up (E.164 for any valid spelling), else the stripped text."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    field = User._meta.get_field("phone")
    if not isinstance(field, models.Field):  # always a PhoneNumberField; narrows the type
        return text
    try:
        prepared = field.get_prep_value(text)
    except Exception:  # a lockout key must never fail the sign-in: keep the raw text
        return text
    return str(prepared) if prepared else text


def username(request: HttpRequest, credentials: dict | None) -> str | None:
    """Web forms post the phone as ``username``; the API's token endpoint as ``phone``."""
    credentials = credentials or {}
    value = credentials.get("username") or credentials.get("phone")
    if value is None:
        data = getattr(request, "data", None) or request.POST
        value = data.get("username") or data.get("phone")
    return normalise_login(value)


def cool_off_seconds() -> int:
    """How long a lock lasts from the latest failure (axes restarts the cool-off on each locked try)."""
    return max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds()))


def lockout_response(
    request: HttpRequest, credentials: dict | None = None, *args: object, **kwargs: object
) -> HttpResponse:
    message = _(
        "Sign-in for this number is paused for a while after several wrong passwords. Try again later, "
        "or reset your password with an SMS code."
    )
    wait = cool_off_seconds()
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {"code": CommonError.THROTTLED, "message": message, "fields": {"retry_after": str(wait)}},
            status=CommonError.THROTTLED.status,
        )
    else:
        response = render(request, "accounts/locked_out.html", status=429)
    response["Retry-After"] = str(wait)
    return response
