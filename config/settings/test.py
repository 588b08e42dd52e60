"""Tests: the same stack as the mode under test, made fast and kept apart from a running dev service."""

import os
import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import CELERY_FS_DIR, REDIS_URL

DEBUG = False
# Hashing with a cheap algorithm keeps user fixtures fast; the real hashers are exercised by Django.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# A queue of its own per test process, so a developer's running worker never takes a test's task.
CELERY_TASK_DEFAULT_QUEUE = f"test-{os.getpid()}"
CELERY_TASK_ROUTES = {}  # every task on the test's own queue
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"test-{os.getpid()}",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_RESULT_BACKEND = f"file://{CELERY_FS_DIR / 'results'}"

SMS_SENDER = "memory"
SMS_RETRY_BASE_SECONDS = 0.2
SMS_RETRY_MAX_SECONDS = 1.0
# Gateway calls from pool threads use their own connections, which cannot see a test's uncommitted rows;
# tests that run with committed data (transaction=True) turn concurrency back on.
AUTODEBIT_GATEWAY_CONCURRENCY = 1
# Uploaded proof documents of a test run go to a directory of their own (tests/conftest.py removes it).
PRIVATE_MEDIA_ROOT = Path(tempfile.gettempdir()) / f"installments-private-test-{os.getpid()}"
