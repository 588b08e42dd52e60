"""The API's default permission: an authenticated caller, answered in their saved language."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import translation
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request

if TYPE_CHECKING:
    # Not at run time: DRF's views module reads this class from the settings while it loads.
    from rest_framework.views import APIView


def caller_language(request: Request) -> str | None:
    """The signed-in customer's saved language when the request names none (no ``Accept-Language``, no
    language cookie): a phone's HTTP client often sends no header, and the customer chose a language in
    their profile. ``None`` when the request itself says, or the caller is anonymous."""
    meta = request.META
    if meta.get("HTTP_ACCEPT_LANGUAGE") or request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME):
        return None
    language = getattr(request.user, "language", "") if request.user.is_authenticated else ""
    return language if language in dict(settings.LANGUAGES) else None


class IsAuthenticatedCustomer(IsAuthenticated):
    """DRF's IsAuthenticated, and then the caller's language for everything the view says (error
    messages from services and validation, throttle messages). It runs right after authentication (a
    JWT is read by DRF, after Django's LocaleMiddleware has already chosen from the headers), which is
    the first point where the customer is known; LocaleMiddleware's Content-Language follows."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        allowed = super().has_permission(request, view)
        language = caller_language(request) if allowed else None
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return allowed
