from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RepaymentsConfig(AppConfig):
    name = "repayments"
    verbose_name = _("Repayments")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from repayments import receivers  # noqa: F401  (connects the re-staging receivers)
        from repayments.staff import ensure_staff_groups

        # Permissions are created by post_migrate too, app by app: re-applied after each one.
        post_migrate.connect(ensure_staff_groups, dispatch_uid="repayments-staff-groups")
