from pathlib import Path

from django.apps import AppConfig
from django.conf import settings


class ProjectConfig(AppConfig):
    """The composition root as an app: what every process does once at start-up (web, worker, beat,
    ``manage.py``), so that neither settings nor a domain app does it on import."""

    name = "config"
    label = "config"
    verbose_name = "Project"

    def ready(self) -> None:
        from config import checks  # noqa: F401  (registers the deployment's system checks)

        # The folders a local run writes to before anything could make them: the SQLite file's and the
        # local-disk broker's (settings.LOCAL_DIRECTORIES; none of the broker's with Redis).
        for directory in getattr(settings, "LOCAL_DIRECTORIES", []):
            Path(directory).mkdir(parents=True, exist_ok=True)
