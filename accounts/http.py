"""Request types for code behind a sign-in: there ``request.user`` is a :class:`~accounts.models.User`.

Type annotations only (django-stubs' documented pattern). To the stubs ``request.user`` is
``User | AnonymousUser``; a view behind ``login_required``, the staff admin or DRF's ``IsAuthenticated``
(the API's default permission) never sees the anonymous user, and annotating its ``request`` with one
of these says so.
"""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from rest_framework.request import Request

from accounts.models import User


class AuthenticatedHttpRequest(HttpRequest):
    """A web request to a view that requires sign-in (``login_required``, the admin)."""

    user: User


class AuthenticatedRequest(Request):
    """An API request to a view with the default permission (a signed-in customer)."""

    user: User
    # Set by accounts.idempotency.idempotent on the money-moving views it wraps.
    idempotency_key: str


def signed_in_user(request: HttpRequest) -> User:
    """The signed-in user where the request type cannot say so (a ModelAdmin method that overrides
    Django's, typed ``HttpRequest``). The admin lets only active staff in, so the refusal is unreachable."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user
