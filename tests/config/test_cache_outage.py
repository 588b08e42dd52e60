"""Finding 12 of the 2026-11-30 review: Redis (the cache) down.

The cache here is a real Redis client pointed at a closed port, not a mock: /healthz answers 503 JSON
naming the cache, and the API (sign-in included) keeps answering, its throttles failing open with one
warning and no traceback."""

from __future__ import annotations

import logging

import pytest
from rest_framework.test import APIClient

from core import api_throttles

DEAD_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}


@pytest.fixture
def dead_cache(settings):
    settings.CACHES = DEAD_CACHE
    api_throttles._last_warning[0] = 0.0
    yield
    api_throttles._last_warning[0] = 0.0


def test_healthz_is_503_json_naming_the_cache(client, db, dead_cache) -> None:
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing"
    assert body["cache"] == "unreachable"
    assert body["worker_heartbeat_age_seconds"] is None


def test_healthz_reports_the_cache_when_it_answers(client, db) -> None:
    assert client.get("/healthz").json()["cache"] == "ok"


def test_api_sign_in_and_views_work_with_the_cache_down(db, customer, dead_cache, caplog) -> None:
    anonymous = APIClient()
    with caplog.at_level(logging.WARNING):
        wrong = anonymous.post(
            "/api/v1/auth/token/", {"phone": "13811112222", "password": "nope"}, format="json"
        )
        signed_in = anonymous.post(
            "/api/v1/auth/token/", {"phone": "13811112222", "password": "secret-pass-1"}, format="json"
        )
        assert wrong.status_code == 401
        assert wrong.json()["code"] == "authentication_failed"
        assert signed_in.status_code == 200, signed_in.content
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {signed_in.json()['access']}")
        for path in ("/api/v1/me/", "/api/v1/plans/", "/api/v1/repayments/", "/api/v1/notifications/"):
            assert client.get(path).status_code == 200, path
    warnings = [r for r in caplog.records if r.name == "core.api_throttles"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]  # once, not once per request
    assert "throttling is off" in warnings[0].getMessage()
    assert warnings[0].exc_info is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_web_sign_in_and_password_reset_work_with_the_cache_down(client, db, customer, dead_cache) -> None:
    """The reset page's limits live in the cache: with it down they are off (one warning), never a 500;
    the one-time codes' own limits, in the database, still hold."""
    assert client.post("/login/", {"username": "13811112222", "password": "secret-pass-1"}).status_code == 302
    client.logout()
    for _ in range(2):
        response = client.post("/password-reset/", {"phone": "13811112222"})
        assert response.status_code in (200, 302), response.status_code
    response = client.post(
        "/password-reset/code/",
        {"code": "000000", "new_password1": "Another-pass-2026", "new_password2": "Another-pass-2026"},
    )
    assert response.status_code < 500
