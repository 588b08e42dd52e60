from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RepaymentsConfig(AppConfig):
    name = "repayments"
    verbose_name = _("Repayments")

    def ready(self) -> None:
        from repayments import receivers  # noqa: F401  (connects the re-staging receivers)
