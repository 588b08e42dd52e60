from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SimulatorsConfig(AppConfig):
    """The simulated bank and SMS gateway: plugins chosen by setting (``PAYMENT_GATEWAY``, ``SMS_SENDER``),
    never imported by the domain apps. Installed in development and tests always, in production only
    with ``ALLOW_SIMULATED_PROVIDERS=true`` (config/settings/production.py)."""

    name = "simulators"
    verbose_name = _("Simulators")
