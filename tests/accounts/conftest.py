"""Fixtures of the accounts tests."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from accounts.models import User
from accounts.signals import otp_issued
from config.celery import app


@pytest.fixture
def customer(db) -> User:
    return User.objects.create_user("+8613812345678", "Right-pass-2026", real_name="张三")


@pytest.fixture
def sms_codes():
    """The codes sent, as the customer's phone receives them."""
    caught: list[str] = []

    def receive(sender, **kwargs) -> None:
        caught.append(kwargs["code"])

    otp_issued.connect(receive, dispatch_uid="tests-accounts-sms-codes")
    yield caught
    otp_issued.disconnect(dispatch_uid="tests-accounts-sms-codes")


@pytest.fixture
def eager_tasks():
    """Celery tasks run in the calling process (the password reset sends its code from a task)."""
    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture(autouse=True)
def _limits_start_empty():
    """Throttles, lockouts and reset limits count in the cache: each test starts from zero."""
    cache.clear()
    yield
    cache.clear()
