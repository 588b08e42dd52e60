"""Celery task options shared by every app's tasks (kept in the kernel so apps need not import config)."""

from django.db import InterfaceError, OperationalError

# Celery task options for a task that is safe to run again: a dropped database connection (failover,
# restart) or SQLite's "table is locked" retries it shortly on a fresh connection.
RETRY_ON_DATABASE_ERRORS: dict[str, object] = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 1,
    "retry_backoff_max": 30,
}
