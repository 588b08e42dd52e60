"""Template context every page gets."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def service(request: HttpRequest) -> dict[str, str]:
    """The customer service hotline (``SERVICE_HOTLINE``): the footer of every page and every "what you can
    do now" panel show it."""
    return {"SERVICE_HOTLINE": settings.SERVICE_HOTLINE}
