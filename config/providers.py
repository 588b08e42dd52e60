"""Which configured providers are simulations: kept apart from Django so settings modules can use it.

A simulated provider in production means no SMS reaches a phone (the console sender writes them to the
log) and no money moves (the simulated bank "charges" balances of its own). Production refuses to start
with one unless ``ALLOW_SIMULATED_PROVIDERS=true`` says it is meant (a staging or demo deployment), and
the ``deploy`` system check warns whenever one is configured (config/checks.py).
"""

from __future__ import annotations

SIMULATED_SMS_SENDERS = frozenset(
    {
        "console",
        "memory",
        "simulated",
        "file",
        "notifications.senders.ConsoleSender",
        "notifications.senders.FilePhoneSender",
        "notifications.senders.InMemorySender",
        "notifications.senders.SimulatedSmsGateway",
    }
)
SIMULATED_GATEWAYS = frozenset({"simulated", "repayments.gateway.SimulatedGateway"})


def simulated_providers(*, sms_sender: str, payment_gateway: str) -> list[str]:
    """``SETTING=value`` for each configured provider that is a simulation (empty values are the defaults,
    which are simulations)."""
    found = []
    if (sms_sender or "simulated") in SIMULATED_SMS_SENDERS:
        found.append(f"SMS_SENDER={sms_sender or 'simulated'}")
    if (payment_gateway or "simulated") in SIMULATED_GATEWAYS:
        found.append(f"PAYMENT_GATEWAY={payment_gateway or 'simulated'}")
    return found
