"""The providers' short names, and which of them are simulations: kept apart from Django so settings
modules can use them.

``PROVIDER_ALIASES`` is the one place a short name (``SMS_SENDER=console``, ``PAYMENT_GATEWAY=simulated``)
maps to a class's dotted path; settings hand it to the loader (``core.providers``), so every other value
is a dotted path. The simulators live in their own app (``simulators``), which production installs only
when ``ALLOW_SIMULATED_PROVIDERS=true``.

A simulated provider in production means no SMS reaches a phone (the console sender writes them to the
log) and no money moves (the simulated bank "charges" balances of its own). Production refuses to start
with one unless ``ALLOW_SIMULATED_PROVIDERS=true`` says it is meant (a staging or demo deployment), and
the ``deploy`` system check warns whenever one is configured (config/checks.py).
"""

from __future__ import annotations

SIMULATED_GATEWAY = "simulators.bank.SimulatedGateway"
SIMULATED_SMS_GATEWAY = "simulators.sms.SimulatedSmsGateway"
# Not a simulation: our HTTP client for a bank (the simulated bank service in development, an acquirer
# speaking the same API in production).
HTTP_GATEWAY = "repayments.http_gateway.HttpGateway"

PROVIDER_ALIASES: dict[str, dict[str, str]] = {
    "SMS_SENDER": {
        "console": "notifications.senders.ConsoleSender",
        "memory": "notifications.senders.InMemorySender",
        "file": "notifications.senders.FilePhoneSender",
        "simulated": SIMULATED_SMS_GATEWAY,
        "http": "notifications.senders.HttpSmsSender",
        # Where the simulators lived before their own app: an older .env keeps working.
        "notifications.senders.SimulatedSmsGateway": SIMULATED_SMS_GATEWAY,
    },
    "PAYMENT_GATEWAY": {
        "simulated": SIMULATED_GATEWAY,
        "http": HTTP_GATEWAY,
        "repayments.gateway.SimulatedGateway": SIMULATED_GATEWAY,
    },
}
# What an unset setting means.
PROVIDER_DEFAULTS = {"SMS_SENDER": "simulated", "PAYMENT_GATEWAY": "simulated"}

SIMULATED_PROVIDERS = frozenset(
    {
        "notifications.senders.ConsoleSender",
        "notifications.senders.FilePhoneSender",
        "notifications.senders.InMemorySender",
        SIMULATED_SMS_GATEWAY,
        SIMULATED_GATEWAY,
    }
)


def provider_path(setting: str, value: str) -> str:
    """The dotted path ``value`` stands for (the default's when empty)."""
    value = value or PROVIDER_DEFAULTS[setting]
    return PROVIDER_ALIASES[setting].get(value, value)


def simulated_providers(*, sms_sender: str, payment_gateway: str) -> list[str]:
    """``SETTING=value`` for each configured provider that is a simulation (empty values are the defaults,
    which are simulations)."""
    found = []
    for setting, value in (("SMS_SENDER", sms_sender), ("PAYMENT_GATEWAY", payment_gateway)):
        path = provider_path(setting, value)
        # Anything in the simulators app is one: production without it does not even install the app.
        if path in SIMULATED_PROVIDERS or path.startswith("simulators."):
            found.append(f"{setting}={value or PROVIDER_DEFAULTS[setting]}")
    return found
