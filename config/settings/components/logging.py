"""Log lines: plain text for a terminal, or one JSON object per line with the request id, or the task,
auto-debit run and chunk (production's default, config/settings/production.py)."""

from typing import Any

from config.settings.env import env

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# LOG_FORMAT=json (production default) writes one JSON object per line with the request id, or the task,
# auto-debit run and chunk; "plain" is easier to read in a terminal.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "core.logcontext.ContextFilter"},
        "client_errors": {"()": "core.logcontext.ClientErrorFilter"},
    },
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
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context", "client_errors"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # httpx logs every request at INFO: one line per charge of a debit run says nothing our own lines don't.
    # "django" is listed so its own console handler (Django's default logging, on under DEBUG) is removed:
    # otherwise every django.request warning prints twice, once there and once through the root.
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}
