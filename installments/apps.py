from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class InstallmentsConfig(AppConfig):
    name = "installments"
    # The admin's section: 分期 (installment business), not "Installments" the count (期数) that the same
    # English word means on the customer pages.
    verbose_name = pgettext_lazy("admin section", "Installments")

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from installments.sqlite_functions import register

        # The sweep's cost-ceiling arithmetic on SQLite (PostgreSQL computes it in numeric).
        connection_created.connect(register, dispatch_uid="installments.sqlite_functions")
