"""Operational tasks that belong to no domain app."""

from celery import shared_task
from django.core.cache import cache
from django.db import InterfaceError, OperationalError
from django.utils import timezone

HEARTBEAT_CACHE_KEY = "celery:heartbeat"


@shared_task(name="config.tasks.heartbeat", ignore_result=False)
def heartbeat() -> str:
    """Beat sends this every minute; /healthz reports its age, so a dead worker or beat shows up."""
    stamp = timezone.now().isoformat()
    cache.set(HEARTBEAT_CACHE_KEY, stamp, timeout=None)
    return stamp


# Celery task options for a task that is safe to run again: a dropped database connection (failover,
# restart) or SQLite's "table is locked" retries it shortly on a fresh connection.
RETRY_ON_DATABASE_ERRORS: dict[str, object] = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 1,
    "retry_backoff_max": 30,
}
