"""Redis (broker and cache) or their local stand-ins, Celery's options, queues and the beat schedule.

With ``REDIS_URL`` set, Redis is the broker, the result backend and the cache. Without it, a real broker on
local disk (kombu's filesystem transport) and a file cache, so a worker and beat run as in production
without any server; their folders are listed in ``LOCAL_BROKER_DIRECTORIES`` and created at start-up.
"""

from pathlib import Path
from typing import Any

from celery.schedules import crontab

from config.broker import SCHEME as LOCAL_BROKER_SCHEME
from config.settings.components.autodebit import AUTODEBIT_SLOTS
from config.settings.components.i18n import TIME_ZONE
from config.settings.env import VAR_DIR, env

REDIS_URL = env.str("REDIS_URL", default="")
CELERY_FS_DIR = Path(env.str("CELERY_FS_DIR", default=str(VAR_DIR / "celery")))
# How long a task taken by a worker that then vanished (its main process killed, the machine lost) waits in
# Redis before another worker takes it again. Celery's default is an hour: a debit chunk lost at 08:00 came
# back at 09:00, and its slot looked finished meanwhile. Ten minutes is far above the longest chunk (500
# debits, 128 calls in flight, a bank answering in up to 30 s: about 2 minutes), so a chunk still running
# is not handed out twice, and well inside the hours between two debit slots, so a lost chunk finishes in
# its own slot. Reconciliation leaves a debit never sent to the bank alone for this long plus its own wait,
# so the redelivered chunk charges it rather than reconciliation failing it (repayments_reconcile).
CELERY_VISIBILITY_TIMEOUT_SECONDS = env.int("CELERY_VISIBILITY_TIMEOUT_SECONDS", default=600)
CELERY_BROKER_URL: str
CELERY_RESULT_BACKEND: str
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any]
CACHES: dict[str, dict[str, Any]]
LOCAL_BROKER_DIRECTORIES: list[Path]
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT_SECONDS,
        # kombu looks for such tasks every 10 s but by default scans only on every 10th look (100 s);
        # scanning each time keeps the wait at the timeout plus 10 s. The scan's lock expires in a
        # minute, not five, if a worker dies holding it.
        "unacked_restore_throttle": 1,
        "unacked_mutex_expire": 60,
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="installments"),
            # A Redis that does not answer costs a request one second, not a hung worker thread:
            # the throttles then fail open and /healthz says 503 (core/api_throttles.py, views.py).
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    LOCAL_BROKER_DIRECTORIES = []
else:
    # kombu's filesystem transport: a real broker on local disk, so worker and beat run as in
    # production without any server. Producer and consumer share one folder.
    # kombu's filesystem transport with short waits, so a worker stops promptly (config/broker.py).
    CELERY_BROKER_URL = f"{LOCAL_BROKER_SCHEME}://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FS_DIR / "broker"),
        "data_folder_out": str(CELERY_FS_DIR / "broker"),
        "processed_folder": str(CELERY_FS_DIR / "processed"),
        "control_folder": str(CELERY_FS_DIR / "control"),
        "store_processed": False,
        # How often an idle worker looks for messages (kombu's default: every second).
        "polling_interval": 0.1,
    }
    CELERY_RESULT_BACKEND = f"file://{CELERY_FS_DIR / 'results'}"
    # A file cache is shared by the web server and the worker processes, unlike local memory.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
    # kombu and Celery's file backend expect these to exist (the control folder kombu makes itself).
    LOCAL_BROKER_DIRECTORIES = [
        CELERY_FS_DIR / "broker",
        CELERY_FS_DIR / "processed",
        CELERY_FS_DIR / "results",
    ]

CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 24 * 3600
# A task that dies with its worker is delivered again; every task is idempotent (DESIGN.md).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Queues: "debits" (auto-debit chunks: long, CPU and database bound), "sms" (sending: short, I/O bound) and
# the default "celery" (periodic steps, reconciliation). Run workers per queue to size them apart.
CELERY_TASK_ROUTES = {
    "repayments.debit_slot": {"queue": "debits"},
    "repayments.debit_chunk": {"queue": "debits"},
    "notifications.*": {"queue": "sms"},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = False
CELERY_IMPORTS = ["config.tasks"]
# Worker and beat log through LOGGING (JSON in production), see config/celery.py's setup_logging receiver.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")


def _at(local_time: str) -> crontab:
    """A daily crontab at ``HH:MM`` local time."""
    hour, minute = (int(part) for part in local_time.split(":"))
    return crontab(minute=minute, hour=hour)


# Scheduled payments (立即还款 on a date) are charged from this local time on their date; the runs every hour
# after it until 21:05 pick up anything a lost message left. The result page tells the customer this time.
SCHEDULED_PAYMENTS_FROM = "09:05"


# Beat reads its schedule from the database (django-celery-beat): staff change times in the admin under
# "Periodic tasks". The entries below are written there when beat starts; every one has an expiry, and
# the tasks take a lock (core.locks.single_run) so overlapping runs cannot double work.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "config.tasks.heartbeat", "schedule": 60.0, "options": {"expires": 55}},
    # Sends what is due and was not (quiet hours over, a lost message, a retry whose message was lost).
    "notifications-sweep": {"task": "notifications.sweep", "schedule": 60.0, "options": {"expires": 55}},
    "repayments-reconcile": {"task": "repayments.reconcile", "schedule": 60.0, "options": {"expires": 55}},
    # Scheduled payments run from SCHEDULED_PAYMENTS_FROM on their date, then hourly until 21:xx.
    "repayments-run-scheduled": {
        "task": "repayments.run_scheduled",
        "schedule": crontab(
            minute=int(SCHEDULED_PAYMENTS_FROM[3:]), hour=f"{int(SCHEDULED_PAYMENTS_FROM[:2])}-21"
        ),
        "options": {"expires": 3000},
    },
    "purge-idempotency-keys": {
        "task": "accounts.purge_idempotency_keys",
        "schedule": crontab(minute=17),
        "options": {"expires": 3000},
    },
    # Expired refresh tokens leave the token blacklist tables (one row per sign-in and per refresh).
    "flush-expired-tokens": {
        "task": "accounts.flush_expired_tokens",
        "schedule": crontab(minute=43, hour=4),
        "options": {"expires": 3000},
    },
    "daily-morning": {
        "task": "repayments.daily_morning",
        "schedule": crontab(minute=30, hour=7),
        "options": {"expires": 3600},
    },
    # One entry per auto-debit slot (AUTODEBIT_SLOTS, local times); slot 1 also retries plans in grace.
    **{
        f"autodebit-slot-{number}": {
            "task": "repayments.debit_slot",
            "schedule": _at(slot_time),
            "args": (number,),
            "options": {"expires": 3600},
        }
        for number, slot_time in enumerate(AUTODEBIT_SLOTS, start=1)
    },
    # The day's closing ledger check (bank versus books), after the last slot's debits have settled.
    "ledger-check": {
        "task": "repayments.ledger_check",
        "schedule": crontab(minute=30, hour=23),
        "options": {"expires": 3600},
    },
    # The record of bank webhooks acted on, past BANK_WEBHOOK_KEEP_DAYS.
    "prune-webhook-events": {
        "task": "repayments.prune_webhook_events",
        "schedule": crontab(minute=51, hour=4),
        "options": {"expires": 3000},
    },
    # T+1 reconciliation: yesterday's settlement file from the bank against our repayments.
    "settlement-reconcile": {
        "task": "repayments.settlement_reconcile",
        "schedule": _at("06:00"),
        "options": {"expires": 3600},
    },
}
