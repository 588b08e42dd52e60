from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The composition root as an app, so the deployment's system checks register the way Django asks
    (in ``ready``) without a domain app importing ``config``."""

    name = "config"
    label = "config"
    verbose_name = "Project"

    def ready(self) -> None:
        from config import checks  # noqa: F401  (registers the deployment's system checks)
