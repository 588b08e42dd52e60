"""Operational endpoints and the 404 handler."""

from datetime import datetime

from django.core.cache import cache
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views import defaults
from django.views.decorators.http import require_GET

from config.celery import app
from config.tasks import HEARTBEAT_CACHE_KEY
from core.api import request_limit_error
from repayments.selectors import reconciliation_alert


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except DatabaseError:
        return False


def _broker_ok() -> bool:
    """The Celery broker answers within a second (Redis in production, the local-disk broker otherwise)."""
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=1, interval_start=0)
        return True
    except Exception:
        return False


def _cache_ok() -> bool:
    """The cache (Redis in production: throttles, the worker heartbeat) answers."""
    try:
        cache.get(HEARTBEAT_CACHE_KEY)
        return True
    except Exception:
        return False


def _heartbeat_age() -> float | None:
    try:
        stamp = cache.get(HEARTBEAT_CACHE_KEY)
    except Exception:  # the cache is down: reported as such by _cache_ok, never a 500 here
        return None
    return round((timezone.now() - datetime.fromisoformat(stamp)).total_seconds(), 1) if stamp else None


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for a load balancer: the database, the broker and the cache answer; 503 JSON naming
    what does not. Also how long ago a worker last ran beat's heartbeat task (null before the first,
    or while the cache is down)."""
    database, broker, cache_up = _database_ok(), _broker_ok(), _cache_ok()
    ok = database and broker and cache_up
    return JsonResponse(
        {
            "status": "ok" if ok else "failing",
            "database": connection.vendor if database else "unreachable",
            "broker": "ok" if broker else "unreachable",
            "cache": "ok" if cache_up else "unreachable",
            "worker_heartbeat_age_seconds": _heartbeat_age() if cache_up else None,
        },
        status=200 if ok else 503,
    )


def _reconciliation() -> dict[str, object]:
    """The T+1 reconciliation's open critical breaks (an operations alert, never a readiness failure)."""
    try:
        alert = reconciliation_alert()
    except DatabaseError:
        return {"status": "unknown"}
    return {
        "status": "breaks_open" if alert else "ok",
        "open_critical_breaks": alert.open_critical,
        "dates": [day.isoformat() for day in alert.dates],
    }


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database with every migration applied, the cache and the broker. 503 until then.

    ``alerts`` carries what operations must act on but that is no reason to take this web process out of
    the load balancer: an open critical reconciliation break (a day where the bank's settlement file and
    our books disagree) is about money already moved, and a web process that stopped serving would not
    put it right; it stays 200 and says so (docs/operations.md)."""
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    if checks["database"]:
        executor = MigrationExecutor(connection)
        checks["migrations"] = not executor.migration_plan(executor.loader.graph.leaf_nodes())
    try:
        cache.set("readyz", "1", 5)
        checks["cache"] = cache.get("readyz") == "1"
    except Exception:
        checks["cache"] = False
    ok = all(checks.values())
    body: dict[str, object] = {"status": "ready" if ok else "not_ready", "checks": checks}
    if checks["database"] and checks.get("migrations"):
        body["alerts"] = {"reconciliation": _reconciliation()}
    return JsonResponse(body, status=200 if ok else 503)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A request Django refused before any view (too large, too many files or fields, a bad Host...):
    the API's JSON error shape under /api/ (413 for a body over the limit), Django's page elsewhere."""
    if request.path.startswith("/api/"):
        status, body = request_limit_error(exception) or (
            400,
            {"code": "invalid_request", "message": "Bad request.", "fields": {}},
        )
        return JsonResponse(body, status=status)
    return defaults.bad_request(request, exception)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """A URL that matches no route: the API's JSON error shape under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "not_found", "message": "Not found.", "fields": {}}, status=404)
    return defaults.page_not_found(request, exception)
