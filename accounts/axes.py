"""django-axes glue: which credential is the username, and a JSON lockout for API clients."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


def username(request: HttpRequest, credentials: dict | None) -> str | None:
    """Web forms post the phone as ``username``; the API's token endpoint as ``phone``."""
    credentials = credentials or {}
    value = credentials.get("username") or credentials.get("phone")
    if value is None:
        data = getattr(request, "data", None) or request.POST
        value = data.get("username") or data.get("phone")
    return str(value) if value else None


def lockout_response(
    request: HttpRequest, credentials: dict | None = None, *args: object, **kwargs: object
) -> HttpResponse:
    message = _(
        "Sign-in for this number is paused for a while after several wrong passwords. Try again later, "
        "or reset your password with an SMS code."
    )
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "throttled", "message": message, "fields": {}}, status=429)
    return render(request, "accounts/locked_out.html", status=429)
