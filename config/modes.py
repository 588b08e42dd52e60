"""Which settings module a process starts with."""

import os


def default_settings_module() -> str:
    """``DJANGO_ENV=production`` switches every entry point (manage.py, WSGI, Celery) to production."""
    if os.environ.get("DJANGO_ENV", "").lower() == "production":
        return "config.settings.production"
    return "config.settings.base"
