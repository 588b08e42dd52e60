"""The client's address: one function for every limit keyed on it (DRF throttles, axes, password reset).

Behind a reverse proxy ``REMOTE_ADDR`` is the proxy, and ``X-Forwarded-For`` is a list that every hop
appends to, starting with whatever the client itself wrote. Only the entries our own proxies appended can
be believed, so the setting ``TRUSTED_PROXY_COUNT`` says how many proxies stand in front of the app:

- ``0`` (the default): no proxy is trusted; ``X-Forwarded-For`` is ignored and ``REMOTE_ADDR`` is the client.
- ``N``: the N-th entry from the right of ``X-Forwarded-For`` is the client (the address our outermost
  proxy saw). Everything left of it was written by the client and is ignored.

This is the rule DRF applies with ``NUM_PROXIES`` (set from the same setting), so the throttles, the
sign-in lockout and the reset limits always agree on who the client is. A value that is not an IP address
(a misconfigured proxy) falls back to ``REMOTE_ADDR`` rather than keying a limit on free text.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _valid_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    """The address of the client that sent ``request``, trusting only ``TRUSTED_PROXY_COUNT`` proxies."""
    meta = request.META
    remote = _valid_ip(meta.get("REMOTE_ADDR")) or "0.0.0.0"  # noqa: S104 (a key, never a bind address)
    trusted = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    forwarded = meta.get("HTTP_X_FORWARDED_FOR")
    if trusted <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",")]
    # As DRF's NUM_PROXIES: with fewer entries than proxies, the leftmost one (written by a trusted hop).
    return _valid_ip(hops[-min(trusted, len(hops))]) or remote


def axes_client_ip(request: HttpRequest) -> str:
    """``AXES_CLIENT_IP_CALLABLE``: django-axes keys its lockout on the same address as the throttles."""
    return client_ip(request)
