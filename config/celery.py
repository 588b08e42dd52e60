"""The Celery app. Its settings live in Django settings under the ``CELERY_`` prefix."""

import os

from celery import Celery

from config.modes import default_settings_module

os.environ.setdefault("DJANGO_SETTINGS_MODULE", default_settings_module())

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
