"""Operational tasks that belong to no domain app."""

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

HEARTBEAT_CACHE_KEY = "celery:heartbeat"


@shared_task(name="config.tasks.heartbeat", ignore_result=False)
def heartbeat() -> str:
    """Beat sends this every minute; /healthz reports its age, so a dead worker or beat shows up."""
    stamp = timezone.now().isoformat()
    cache.set(HEARTBEAT_CACHE_KEY, stamp, timeout=None)
    return stamp
