"""Settings shared by every mode, all read from environment variables with safe local defaults.

With no variable set the service runs on SQLite under ``var/`` and a Celery broker on local disk, so a
fresh clone needs nothing but Python. ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis.

Split by concern, the HackSoft way: this module holds Django's own core (apps, middleware, templates, the
database, users, static files) and star-imports one module per concern from ``components/``:

- ``env.py`` (beside this file): ``BASE_DIR``, ``VAR_DIR`` and ``env``, which every module reads with;
- ``components/i18n.py``: language and time zone;
- ``components/security.py``: django-axes lockouts, ``TRUSTED_PROXY_COUNT``, password-reset limits,
  one-time codes;
- ``components/logging.py``: ``LOGGING`` (plain or JSON lines);
- ``components/sms.py``: the SMS sender, quiet hours, limits and retries;
- ``components/gateway.py``: the bank gateway, the simulated bank, charge leases, reconciliation;
- ``components/autodebit.py``: auto-debit slots and chunks, grace-day retries, reminders;
- ``components/negotiation.py``: negotiated plans and proof documents;
- ``components/chargeoff.py``: the charge-off undo's approval threshold;
- ``components/contact.py``: the contact gate (contact hours, the daily call limit), the SMS link address;
- ``components/complaints.py``: complaint deadlines and attachments;
- ``components/adjustments.py``: the staff waiver's approval threshold;
- ``components/collections.py``: promises to pay (``PTP_MAX_DAYS``);
- ``components/holidays.py``: the payment holiday's approval threshold and offer validity;
- ``components/celery.py``: Redis or the local-disk broker and cache, Celery, queues, the beat schedule;
- ``components/api.py``: DRF, JWT, the OpenAPI schema, idempotency keys.

The modes (``production.py``, ``test.py``) import this module and override. Importing settings has no
side effect: the folders a local run needs (``LOCAL_DIRECTORIES``) are created at start-up by
``config.apps.ProjectConfig.ready``.
"""

from config.settings.components.adjustments import *  # noqa: F403
from config.settings.components.api import *  # noqa: F403
from config.settings.components.autodebit import *  # noqa: F403
from config.settings.components.celery import *  # noqa: F403
from config.settings.components.celery import LOCAL_BROKER_DIRECTORIES
from config.settings.components.chargeoff import *  # noqa: F403
from config.settings.components.collections import *  # noqa: F403
from config.settings.components.complaints import *  # noqa: F403
from config.settings.components.contact import *  # noqa: F403
from config.settings.components.gateway import *  # noqa: F403
from config.settings.components.holidays import *  # noqa: F403
from config.settings.components.i18n import *  # noqa: F403
from config.settings.components.logging import *  # noqa: F403
from config.settings.components.negotiation import *  # noqa: F403
from config.settings.components.security import *  # noqa: F403
from config.settings.components.sms import *  # noqa: F403
from config.settings.env import BASE_DIR, VAR_DIR, env

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
    # The simulated bank and SMS gateway; production installs them only when it may run on them.
    "simulators",
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
    # A signed-in customer's pages speak their account's language, whatever the browser asks.
    "accounts.middleware.AccountLanguageMiddleware",
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
                "core.context_processors.service",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------
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

# --- Static files -------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=VAR_DIR / "static")
STATICFILES_DIRS = [BASE_DIR / "static"]

# Made at start-up (config.apps.ProjectConfig.ready): the SQLite file's folder and the local-disk broker's.
LOCAL_DIRECTORIES = [VAR_DIR, *LOCAL_BROKER_DIRECTORIES]

# --- Business settings --------------------------------------------------------------------------
# Demo data is refused in production; see simulators/management/commands/seed_demo.py.
ALLOW_DEMO_DATA = env.bool("ALLOW_DEMO_DATA", default=True)
