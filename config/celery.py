"""The Celery app. Its settings live in Django settings under the ``CELERY_`` prefix."""

import logging.config
import os

from celery import Celery, signals
from django.conf import settings

from config.modes import default_settings_module
from core import logcontext

os.environ.setdefault("DJANGO_SETTINGS_MODULE", default_settings_module())

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect
def _logging_from_django(**kwargs: object) -> None:
    """The worker and beat log through Django's LOGGING (JSON lines with task, run and chunk fields in
    production), not through handlers of Celery's own. With a receiver on this signal Celery installs
    none; ``worker_hijack_root_logger = False`` (settings) says the same for the root logger."""
    logging.config.dictConfig(settings.LOGGING)


@signals.task_prerun.connect
def _log_context_in(task_id: str | None = None, task: object = None, **kwargs: object) -> None:
    """Task name and id on every log line the task writes (run and chunk ids are set by the debit task)."""
    logcontext.task.set(f"{getattr(task, 'name', '')}:{task_id}")
    logcontext.run_id.set("")
    logcontext.chunk.set("")


@signals.task_postrun.connect
def _log_context_out(**kwargs: object) -> None:
    logcontext.task.set("")
    logcontext.run_id.set("")
    logcontext.chunk.set("")
