"""The signed-in customer's saved language decides their pages (issue 18): not the browser's
Accept-Language and not a cookie left by an earlier visitor on the same phone.

Django's ``LocaleMiddleware`` runs first and picks from the URL, cookie and Accept-Language: that is what
anonymous visitors (the public home, sign-in, reset) and staff in the admin keep. For a signed-in
customer this middleware, placed after ``AuthenticationMiddleware``, activates ``User.language`` for
the rest of the request, so the view's forms, messages and dates speak it, and ``LocaleMiddleware``'s
``Content-Language`` follows. The API keeps its own rule (``core.api_auth``: the account's language
unless the request names one), because a JWT is read by DRF after every middleware.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

API_PREFIX = "/api/"


def account_language(request: HttpRequest) -> str | None:
    """The language a web page for this request must be in, when the account decides it: a signed-in
    customer (not staff: the admin follows the staff member's own switch and browser) outside the API."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.is_staff:
        return None
    if request.path_info.startswith(API_PREFIX):
        return None
    language = getattr(user, "language", "")
    return language if language in dict(settings.LANGUAGES) else None


class AccountLanguageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        language = account_language(request)
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)
