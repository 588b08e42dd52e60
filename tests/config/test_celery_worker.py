"""A real Celery worker consumes from the configured broker (Redis in CI, local disk otherwise)."""

from __future__ import annotations

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.cache import cache

from config.celery import app
from config.tasks import HEARTBEAT_CACHE_KEY, heartbeat


@pytest.mark.celery_worker
def test_worker_runs_heartbeat_and_healthz_reports_it(client, transactional_db) -> None:
    cache.delete(HEARTBEAT_CACHE_KEY)
    assert client.get("/healthz").json()["worker_heartbeat_age_seconds"] is None
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        stamp = heartbeat.delay().get(timeout=30)
    assert cache.get(HEARTBEAT_CACHE_KEY) == stamp
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert 0 <= body["worker_heartbeat_age_seconds"] < 60


def test_broker_is_redis_when_redis_url_is_set(settings) -> None:
    if settings.REDIS_URL:
        assert app.conf.broker_url.startswith("redis://")
    else:
        assert app.conf.broker_url == "filesystem://"


def test_single_run_lock_admits_one_holder_at_a_time() -> None:
    from config.tasks import single_run

    with single_run("test-lock", ttl_seconds=30) as first:
        with single_run("test-lock", ttl_seconds=30) as second:
            assert first is True and second is False
    with single_run("test-lock", ttl_seconds=30) as again:
        assert again is True
