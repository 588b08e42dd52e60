from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InstallmentsConfig(AppConfig):
    name = "installments"
    # The admin's section name: 分期 (review: it read 期数, the word for a number of installments).
    verbose_name = _("Installment plans")
