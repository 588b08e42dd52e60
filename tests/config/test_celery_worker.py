"""A real Celery worker consumes from the configured broker (Redis in CI, local disk otherwise)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.cache import cache

from config.celery import app
from config.tasks import HEARTBEAT_CACHE_KEY, heartbeat
from core.locks import single_run


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
        assert app.conf.broker_url == "localfs://"  # kombu's filesystem transport (config/broker.py)


def test_single_run_lock_admits_one_holder_at_a_time() -> None:
    with single_run("test-lock", ttl_seconds=30) as first:
        with single_run("test-lock", ttl_seconds=30) as second:
            assert first is True
            assert second is False
    with single_run("test-lock", ttl_seconds=30) as again:
        assert again is True


@pytest.mark.celery_worker
def test_a_real_worker_logs_json_lines_with_the_task_field(tmp_path) -> None:
    """Finding 15: with LOG_FORMAT=json the worker's log is JSON lines (Celery no longer replaces the
    root handler), and a task's lines carry its task field."""
    queue = f"json-log-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    stderr = (tmp_path / "worker.err").open("w+")
    worker = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
        # -W ignore: Python's own warnings (Celery's "running as root" in CI) are not log lines.
        [sys.executable, "-W", "ignore", "-m", "celery", "-A", "config", "worker", "--pool=solo",
         "-Q", queue, "-l", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
         "-n", f"{queue}@%h"],
        env=env, stdout=subprocess.DEVNULL, stderr=stderr,
    )  # fmt: skip
    try:
        result = app.send_task("config.tasks.heartbeat", queue=queue)
        assert result.get(timeout=60)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    stderr.seek(0)
    lines = [line for line in stderr.read().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is JSON
    assert any(r["logger"] == "celery.apps.worker" for r in records)
    done = [r for r in records if r["logger"] == "celery.app.trace"]
    assert done
    assert done[0]["task"].startswith("config.tasks.heartbeat:")
    assert {"time", "level", "message", "run_id", "chunk"} <= set(done[0])
