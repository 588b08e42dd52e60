"""System checks of the deployment as a whole (registered by config.apps.ProjectConfig.ready)."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

from config.providers import simulated_providers


@checks.register(checks.Tags.security, deploy=True)
def check_simulated_providers(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    """``check --deploy`` warns while a simulated SMS sender or bank is configured, even when production
    was told to allow it (``ALLOW_SIMULATED_PROVIDERS``): nothing is delivered and no money moves."""
    found = simulated_providers(
        sms_sender=getattr(settings, "SMS_SENDER", ""),
        payment_gateway=getattr(settings, "PAYMENT_GATEWAY", ""),
    )
    if not found:
        return []
    return [
        checks.Warning(
            f"Simulated providers are configured: {', '.join(found)}. No SMS reaches a phone and no money "
            "moves at a bank.",
            hint="Set SMS_SENDER and PAYMENT_GATEWAY to the real providers' adapters; production starts with "
            "simulated ones only when ALLOW_SIMULATED_PROVIDERS=true (staging, demos).",
            id="config.W001",
        )
    ]
