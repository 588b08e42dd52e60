"""Settings shared by every mode, all read from environment variables with safe local defaults.

With no variable set the service runs on SQLite under ``var/`` and a Celery broker on local disk, so a
fresh clone needs nothing but Python. ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

from core.error_codes import markdown_table

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

DJANGO_ENV = env.str("DJANGO_ENV", default="development").lower()

# A fixed development key keeps sessions across restarts; production.py refuses to start without its own.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="dev-only-not-secret-8f3b1c2d9e7a6f5b4c3d2e1f0a9b8c7d")
DEBUG = env.bool("DJANGO_DEBUG", default=True)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "phonenumber_field",
    "django_celery_beat",
    "axes",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "installments",
    "repayments",
    "notifications",
    # Last: the composition root (registers the deployment checks, config/apps.py).
    "config",
]

MIDDLEWARE = [
    "core.logcontext.RequestIdMiddleware",
    # Every 429 (API throttles, SMS-code limits, the sign-in lockout page) says when to retry.
    "core.middleware.RetryAfterMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------
VAR_DIR.mkdir(exist_ok=True)
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and IMMEDIATE transactions let the web server, worker and beat share one SQLite file
    # without "database is locked" on every concurrent write.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE", "timeout": 20}
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Short OLTP statements: PostgreSQL's JIT compiled a 5 ms daily-limit lookup for 160 ms whenever
        # stale statistics inflated its estimated cost (measured during a 1 M-debit run).
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Users --------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
PHONENUMBER_DEFAULT_REGION = "CN"
PHONENUMBER_DB_FORMAT = "E164"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "repayments:account"
LOGOUT_REDIRECT_URL = "accounts:login"
# Sign-in throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one phone from one address,
# that pair is locked for AXES_COOLOFF_MINUTES. Keyed on the pair so nobody can lock a customer out from
# elsewhere by guessing on their number; the customer can still reset the password with an SMS code.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.axes.lockout_response"
# One counter per account whatever the spelling of the number: the callable returns the phone exactly as
# the sign-in query looks it up (E.164), on every surface (/login/, /admin/login/, /api/v1/auth/token/).
AXES_USERNAME_CALLABLE = "accounts.axes.username"
# The client address axes keys on is the one the API throttles use (see TRUSTED_PROXY_COUNT below).
AXES_CLIENT_IP_CALLABLE = "core.client_ip.axes_client_ip"
AXES_VERBOSE = False

# --- Client address behind proxies -----------------------------------------------------------------
# How many reverse proxies of ours stand in front of gunicorn. 0 (default): X-Forwarded-For is ignored and
# REMOTE_ADDR is the client. Behind the TLS proxy of docs/operations.md set it to 1: the proxy's appended
# X-Forwarded-For entry is the client. core/client_ip.py is the one function every limit uses (DRF
# throttles, django-axes, the password-reset limits); a wrong value either trusts forged headers (too high)
# or puts every client behind the proxy on one address (too low).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- Password reset by SMS (accounts) -------------------------------------------------------------
# Limits on the two steps of /password-reset/, counted in the cache for every number asked about (known
# or not, so they reveal nothing) per client address, per number and over the whole site, each "N/period"
# with period s, min, h or d. Over a limit the page says so (429) whatever the number.
PASSWORD_RESET_REQUEST_LIMITS = {
    "address": env.str("PASSWORD_RESET_REQUESTS_PER_ADDRESS", default="5/h"),
    "phone": env.str("PASSWORD_RESET_REQUESTS_PER_PHONE", default="5/h"),
    "global": env.str("PASSWORD_RESET_REQUESTS_GLOBAL", default="300/h"),
}
PASSWORD_RESET_CODE_LIMITS = {
    "address": env.str("PASSWORD_RESET_CODE_TRIES_PER_ADDRESS", default="20/h"),
    "phone": env.str("PASSWORD_RESET_CODE_TRIES_PER_PHONE", default="10/h"),
    "global": env.str("PASSWORD_RESET_CODE_TRIES_GLOBAL", default="1000/h"),
}

# --- Language and time --------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Asia/Shanghai"
USE_TZ = True

# --- Static files -------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=VAR_DIR / "static")
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- Redis: broker and cache --------------------------------------------------------------------
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
else:
    # kombu's filesystem transport: a real broker on local disk, so worker and beat run as in
    # production without any server. Producer and consumer share one folder.
    _broker_dir = CELERY_FS_DIR / "broker"
    _broker_dir.mkdir(parents=True, exist_ok=True)
    (CELERY_FS_DIR / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(CELERY_FS_DIR / "processed"),
        "control_folder": str(CELERY_FS_DIR / "control"),
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = f"file://{CELERY_FS_DIR / 'results'}"
    (CELERY_FS_DIR / "results").mkdir(parents=True, exist_ok=True)
    # A file cache is shared by the web server and the worker processes, unlike local memory.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

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
# Beat reads its schedule from the database (django-celery-beat): staff change times in the admin under
# "Periodic tasks". The entries below are written there when beat starts; every one has an expiry, and
# the tasks take a lock (core.locks.single_run) so overlapping runs cannot double work.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "config.tasks.heartbeat", "schedule": 60.0, "options": {"expires": 55}},
    # Sends what is due and was not (quiet hours over, a lost message, a retry whose message was lost).
    "notifications-sweep": {"task": "notifications.sweep", "schedule": 60.0, "options": {"expires": 55}},
    "repayments-reconcile": {"task": "repayments.reconcile", "schedule": 60.0, "options": {"expires": 55}},
    # Scheduled payments run from 09:05 on their date; later runs pick up anything a lost message left.
    "repayments-run-scheduled": {
        "task": "repayments.run_scheduled",
        "schedule": crontab(minute=5, hour="9-21"),
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
}

# --- Logging ------------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# LOG_FORMAT=json (production default) writes one JSON object per line with the request id, or the task,
# auto-debit run and chunk; "plain" is easier to read in a terminal.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "core.logcontext.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s%(task)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s "
            "%(request_id)s %(task)s %(run_id)s %(chunk)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Business settings --------------------------------------------------------------------------
# Demo data is refused in production; see installments/management/commands/seed_demo.py.
ALLOW_DEMO_DATA = env.bool("ALLOW_DEMO_DATA", default=True)

# --- SMS (notifications) ------------------------------------------------------------------------
# Which sender delivers SMS: console | memory | file | simulated | http | a dotted path
# (notifications/senders.py).
SMS_SENDER = env.str("SMS_SENDER", default="console")
SMS_SIGNATURE_ZH = env.str("SMS_SIGNATURE_ZH", default="【分期还款】")
SMS_SIGNATURE_EN = env.str("SMS_SIGNATURE_EN", default="【FenqiPay】")
SMS_SIMULATED_LATENCY_MS = env.int("SMS_SIMULATED_LATENCY_MS", default=0)
SMS_SIMULATED_FAILURE_RATE = env.float("SMS_SIMULATED_FAILURE_RATE", default=0.0)
SMS_SIMULATED_PERMANENT_FAILURE_RATE = env.float("SMS_SIMULATED_PERMANENT_FAILURE_RATE", default=0.0)
SMS_SIMULATED_SEED = env.int("SMS_SIMULATED_SEED", default=None)
SMS_HTTP_URL = env.str("SMS_HTTP_URL", default="")
SMS_HTTP_SECRET = env.str("SMS_HTTP_SECRET", default="")
SMS_HTTP_TIMEOUT = env.float("SMS_HTTP_TIMEOUT", default=5.0)
# SMS_SENDER=file: where each number's messages (codes included) are written, the developer's "phone".
SMS_FILE_DIR = env.str("SMS_FILE_DIR", default=str(VAR_DIR / "sms"))
# Reminders wait out the quiet hours (local time, the window may cross midnight).
SMS_QUIET_HOURS_START = env.str("SMS_QUIET_HOURS_START", default="21:00")
SMS_QUIET_HOURS_END = env.str("SMS_QUIET_HOURS_END", default="08:00")
# Reminder + transactional messages per phone per local day; security messages (codes) are not counted.
SMS_DAILY_LIMIT_PER_PHONE = env.int("SMS_DAILY_LIMIT_PER_PHONE", default=10)
SMS_MAX_ATTEMPTS = env.int("SMS_MAX_ATTEMPTS", default=5)
SMS_RETRY_BASE_SECONDS = env.float("SMS_RETRY_BASE_SECONDS", default=30.0)
SMS_RETRY_MAX_SECONDS = env.float("SMS_RETRY_MAX_SECONDS", default=3600.0)
SMS_CLAIM_SECONDS = env.int("SMS_CLAIM_SECONDS", default=120)
# Provider calls in flight per batch (a debit chunk's messages): the provider is slow, our side is not.
SMS_SEND_CONCURRENCY = env.int("SMS_SEND_CONCURRENCY", default=8)

# --- One-time codes (accounts) ------------------------------------------------------------------
OTP_TTL_MINUTES = env.int("OTP_TTL_MINUTES", default=5)
OTP_MAX_ATTEMPTS = env.int("OTP_MAX_ATTEMPTS", default=5)
OTP_MIN_INTERVAL_SECONDS = env.int("OTP_MIN_INTERVAL_SECONDS", default=60)
OTP_MAX_PER_HOUR = env.int("OTP_MAX_PER_HOUR", default=5)

# --- Bank-card gateway (repayments) --------------------------------------------------------------
# simulated (default) or a dotted path to a class implementing repayments.gateway.PaymentGateway.
PAYMENT_GATEWAY = env.str("PAYMENT_GATEWAY", default="simulated")
# Production refuses simulated providers (console/memory/simulated SMS, the simulated bank) unless this is
# true (config/settings/production.py); elsewhere they are the defaults.
ALLOW_SIMULATED_PROVIDERS = env.bool("ALLOW_SIMULATED_PROVIDERS", default=True)
GATEWAY_SIM_DEFAULT_BALANCE = env.str("GATEWAY_SIM_DEFAULT_BALANCE", default="10000.00")
GATEWAY_SIM_LATENCY_MS = env.int("GATEWAY_SIM_LATENCY_MS", default=0)
GATEWAY_SIM_FAILURE_RATE = env.float("GATEWAY_SIM_FAILURE_RATE", default=0.0)
GATEWAY_SIM_TIMEOUT_RATE = env.float("GATEWAY_SIM_TIMEOUT_RATE", default=0.0)
GATEWAY_SIM_SEED = env.int("GATEWAY_SIM_SEED", default=None)
# A charge's lease: from the moment a caller stamps a repayment to call the gateway until this many seconds
# later, reconciliation may not decide the bank "never saw" it (the call may still be on its way). Must
# exceed the gateway client's longest call (its read timeout); the caller ends the lease when its call
# returns. Reconciliation asks about a pending repayment whose lease is over and that is older than
# RECONCILE_AFTER_SECONDS.
CHARGE_LEASE_SECONDS = env.int("CHARGE_LEASE_SECONDS", default=600)
RECONCILE_AFTER_SECONDS = env.int("RECONCILE_AFTER_SECONDS", default=300)
# The simulated bank's own database connections per process (callers in flight wait without one).
GATEWAY_SIM_CONNECTIONS = env.int("GATEWAY_SIM_CONNECTIONS", default=4)

# --- Auto-debit (repayments) ---------------------------------------------------------------------
# Debit times on a due date (local); slot 1 also retries plans in their grace days, once a day.
AUTODEBIT_SLOTS = env.list("AUTODEBIT_SLOTS", default=["08:00", "14:00", "20:00"])
AUTODEBIT_RETRY_IN_GRACE = env.bool("AUTODEBIT_RETRY_IN_GRACE", default=True)
AUTODEBIT_MAX_GRACE_DAYS = env.int("AUTODEBIT_MAX_GRACE_DAYS", default=7)
AUTODEBIT_CHUNK_SIZE = env.int("AUTODEBIT_CHUNK_SIZE", default=500)
# Gateway calls in flight per worker process; the threads only wait (the simulator keeps its own connections).
AUTODEBIT_GATEWAY_CONCURRENCY = env.int("AUTODEBIT_GATEWAY_CONCURRENCY", default=128)
for _slot_number, _slot_time in enumerate(AUTODEBIT_SLOTS, start=1):
    _hour, _minute = (int(part) for part in _slot_time.split(":"))
    CELERY_BEAT_SCHEDULE[f"autodebit-slot-{_slot_number}"] = {
        "task": "repayments.debit_slot",
        "schedule": crontab(minute=_minute, hour=_hour),
        "args": (_slot_number,),
        "options": {"expires": 3600},
    }
# The day's closing ledger check (bank versus books), after the last slot's debits have settled.
CELERY_BEAT_SCHEDULE["ledger-check"] = {
    "task": "repayments.ledger_check",
    "schedule": crontab(minute=30, hour=23),
    "options": {"expires": 3600},
}
REMINDER_DAYS_BEFORE_DUE = [int(d) for d in env.list("REMINDER_DAYS_BEFORE_DUE", default=["3", "1"])]
REMINDER_DAYS_OVERDUE = [
    int(d) for d in env.list("REMINDER_DAYS_OVERDUE", default=["1", "3", "7", "15", "30"])
]

# --- Negotiated plans (协商还款) and proof documents ------------------------------------------------
# Proof documents are private: stored here, outside any URL, and served only through a checked view.
PRIVATE_MEDIA_ROOT = Path(env("PRIVATE_MEDIA_ROOT", default=str(VAR_DIR / "private")))
NEGOTIATION_DOCUMENT_MAX_BYTES = env.int("NEGOTIATION_DOCUMENT_MAX_BYTES", default=5 * 1024 * 1024)
NEGOTIATION_DOCUMENT_MAX_FILES = env.int("NEGOTIATION_DOCUMENT_MAX_FILES", default=5)
NEGOTIATION_OFFER_VALID_DAYS = env.int("NEGOTIATION_OFFER_VALID_DAYS", default=7)
NEGOTIATION_MAX_DEFERRAL_DAYS = env.int("NEGOTIATION_MAX_DEFERRAL_DAYS", default=30)
# Maker-checker: an offer passing any of these needs a second staff member with the approver permission.
NEGOTIATION_APPROVAL_WAIVER_ABOVE = env.str("NEGOTIATION_APPROVAL_WAIVER_ABOVE", default="500.00")
NEGOTIATION_APPROVAL_TENOR_ABOVE = env.int("NEGOTIATION_APPROVAL_TENOR_ABOVE", default=24)
NEGOTIATION_APPROVAL_FEE_RATE_ABOVE = env.str("NEGOTIATION_APPROVAL_FEE_RATE_ABOVE", default="0.006")
# Affordability: warn when the new monthly payment is above this share of the declared income.
NEGOTIATION_AFFORDABILITY_SHARE = env.str("NEGOTIATION_AFFORDABILITY_SHARE", default="0.50")

# --- REST API (/api/v1/) -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # simplejwt's, plus the per-user token version check (accounts/authentication.py).
        "accounts.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",  # the browser, with CSRF
    ],
    # IsAuthenticated, answering in the customer's saved language when the request names none.
    "DEFAULT_PERMISSION_CLASSES": ["core.api_auth.IsAuthenticatedCustomer"],
    # JSON bodies only; the two upload endpoints (negotiations/, negotiations/{id}/documents/) add
    # multipart themselves. The schema then advertises one body type per operation, which generated
    # clients need (a form + multipart + JSON body made openapi-python-client's package not import).
    # Their JSON parser turns too-deep nesting into a 400 (core/api_parsers.py).
    "DEFAULT_PARSER_CLASSES": ["core.api_parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "core.api_schema.ApiSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "core.api_pagination.NewestFirstCursorPagination",
    "PAGE_SIZE": 20,
    # DRF's throttles keyed on core.client_ip (trusts only TRUSTED_PROXY_COUNT proxies), failing open
    # (one warning a minute) when the cache is down: core/api_throttles.py.
    "DEFAULT_THROTTLE_CLASSES": [
        "core.api_throttles.AnonRateThrottle",
        "core.api_throttles.UserRateThrottle",
        "core.api_throttles.ScopedRateThrottle",
    ],
    # The same rule for anything in DRF that reads the client address itself.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="120/min"),
        "user": env.str("API_THROTTLE_USER", default="1200/min"),
        "login": env.str("API_THROTTLE_LOGIN", default="10/min"),
        "otp": env.str("API_THROTTLE_OTP", default="10/min"),
        "payments": env.str("API_THROTTLE_PAYMENTS", default="60/min"),
    },
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    # A refresh token works once: refreshing blacklists it (token_blacklist app) and returns a new one.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    # Tokens name the user by the public id, never the database id.
    "USER_ID_FIELD": "public_id",
    "USER_ID_CLAIM": "sub",
    "UPDATE_LAST_LOGIN": True,
}
SPECTACULAR_SETTINGS = {
    # ASCII: generators turn the title into a package name (installment-repayment-api-client).
    "TITLE": "Installment Repayment API",
    "DESCRIPTION": (
        "分期还款: everything a customer can do on the web, for mobile clients. Money is a string with "
        'two decimals ("106.00"), dates are ISO 8601, ids are UUIDs. Errors share one shape: '
        '{"code": ..., "message": ..., "fields": {...}}. Money-moving and plan-changing POSTs need an '
        "Idempotency-Key header.\n\n" + markdown_table()
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "RepaymentStatusEnum": "repayments.models.RepaymentStatus",
        "PlanStatusEnum": "installments.models.PlanStatus",
        "NotificationStatusEnum": "notifications.models.NotificationStatus",
    },
}
# Idempotency keys are kept this long (a cleanup task removes older ones).
API_IDEMPOTENCY_KEEP_HOURS = env.int("API_IDEMPOTENCY_KEEP_HOURS", default=48)
