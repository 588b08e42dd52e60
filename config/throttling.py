"""DRF throttles keyed on ``config.client_ip.client_ip``: the same client address as django-axes and the
password-reset limits (DRF's own ``get_ident`` would believe a client-written ``X-Forwarded-For``)."""

from __future__ import annotations

from rest_framework import throttling
from rest_framework.request import Request

from config.client_ip import client_ip


class ClientIpMixin:
    def get_ident(self, request: Request) -> str:
        return client_ip(request)


class AnonRateThrottle(ClientIpMixin, throttling.AnonRateThrottle):
    """Anonymous callers, per client address."""


class UserRateThrottle(ClientIpMixin, throttling.UserRateThrottle):
    """Signed-in callers per user; anonymous ones per client address."""


class ScopedRateThrottle(ClientIpMixin, throttling.ScopedRateThrottle):
    """Per view scope (login, otp, payments), per user or client address."""
