"""Fixtures of the accounts tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def eager_tasks():
    """Celery tasks run in the calling process (the password reset sends its code from a task)."""
    from config.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture(autouse=True)
def _limits_start_empty():
    """Throttles, lockouts and reset limits count in the cache: each test starts from zero."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
