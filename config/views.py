"""Operational endpoints."""

from datetime import datetime

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from config.tasks import HEARTBEAT_CACHE_KEY


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for a load balancer: the database answers; how long ago the worker last ran beat's task."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    stamp = cache.get(HEARTBEAT_CACHE_KEY)
    age = None
    if stamp:
        age = round((timezone.now() - datetime.fromisoformat(stamp)).total_seconds(), 1)
    return JsonResponse({"status": "ok", "database": connection.vendor, "worker_heartbeat_age_seconds": age})
