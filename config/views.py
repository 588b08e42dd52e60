"""Operational endpoints and the 404 handler."""

from datetime import datetime

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views import defaults
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


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """A URL that matches no route: the API's JSON error shape under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "not_found", "message": "Not found.", "fields": {}}, status=404)
    return defaults.page_not_found(request, exception)
