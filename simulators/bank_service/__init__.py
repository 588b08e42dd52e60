"""The simulated bank as a separate process: its own storage (a SQLite file, never our tables), an
HTTP/JSON API signed with a shared secret, and the same rules as the in-process simulator
(``simulators.bank_rules``). ``repayments.http_gateway.HttpGateway`` is our client for it, written as a
real acquirer's integration would be.

Run it with ``python -m simulators.bank_service`` (``--help`` for the options). It needs no Django
settings: it imports only ``simulators.bank_rules`` and ``repayments.banks`` (the BIN table), both plain
Python. The API is in ``app.py``, the books in ``books.py``.
"""

# The shared secret's documented development default: the service serves on a loopback address only with it,
# and production refuses it on our side (config/settings/production.py).
DEV_SECRET = "dev-bank-secret-not-for-production"  # noqa: S105 - a documented development default
LOOPBACK = ("127.0.0.1", "localhost", "::1")
