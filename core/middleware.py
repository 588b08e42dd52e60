"""Response rules every surface shares (web pages, the API, the admin, the sign-in lockout)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

# When a 429 does not know better (a DRF throttle that cannot compute its wait, a lockout page).
DEFAULT_RETRY_AFTER_SECONDS = 60


class RetryAfterMiddleware:
    """Every 429 carries ``Retry-After`` (seconds): a mobile client backs off for that long instead of
    retrying at once. Responses that already say (DRF throttles, SMS-code limits, the sign-in lockout)
    keep their own value; this fills in the rest, whichever view or middleware answered 429."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 429 and not response.has_header("Retry-After"):
            response["Retry-After"] = str(DEFAULT_RETRY_AFTER_SECONDS)
        return response
