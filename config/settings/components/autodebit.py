"""The daily collection (repayments): auto-debit slots and chunks, grace-day retries, SMS reminders.

Their beat entries are built from ``AUTODEBIT_SLOTS`` in ``components/celery.py``.
"""

from config.settings.env import env

# Debit times on a due date (local); slot 1 also retries plans in their grace days, once a day (where the
# product's autodebit_retry_in_grace says so).
AUTODEBIT_SLOTS = env.list("AUTODEBIT_SLOTS", default=["08:00", "14:00", "20:00"])
AUTODEBIT_MAX_GRACE_DAYS = env.int("AUTODEBIT_MAX_GRACE_DAYS", default=7)
AUTODEBIT_CHUNK_SIZE = env.int("AUTODEBIT_CHUNK_SIZE", default=500)
# Gateway calls in flight per worker process; the threads only wait (the simulator keeps its own connections).
AUTODEBIT_GATEWAY_CONCURRENCY = env.int("AUTODEBIT_GATEWAY_CONCURRENCY", default=128)
# Debits per gateway call when the gateway charges batches (批量代扣, ``BatchCharging``); 0: one call per
# debit. Up to AUTODEBIT_GATEWAY_CONCURRENCY batches of a chunk are in flight at once.
AUTODEBIT_GATEWAY_BATCH_SIZE = env.int("AUTODEBIT_GATEWAY_BATCH_SIZE", default=100)
REMINDER_DAYS_BEFORE_DUE = [int(d) for d in env.list("REMINDER_DAYS_BEFORE_DUE", default=["3", "1"])]
REMINDER_DAYS_OVERDUE = [
    int(d) for d in env.list("REMINDER_DAYS_OVERDUE", default=["1", "3", "7", "15", "30"])
]
