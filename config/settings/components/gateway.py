"""The bank-card gateway (repayments): which one, the simulated bank's knobs, charge leases and
reconciliation."""

from config import providers
from config.settings.env import env

# SMS_SENDER and PAYMENT_GATEWAY name a class by dotted path or by one of these short names (core.providers).
PROVIDER_ALIASES = providers.PROVIDER_ALIASES

# simulated (default, simulators.bank.SimulatedGateway), http (repayments.http_gateway.HttpGateway: the bank
# service, `python -m simulators.bank_service`, or an acquirer with the same API) or a dotted path to a
# class implementing repayments.gateway.PaymentGateway.
PAYMENT_GATEWAY = env.str("PAYMENT_GATEWAY", default="simulated")
# Production refuses simulated providers (console/memory/simulated SMS, the simulated bank) unless this is
# true (config/settings/production.py); elsewhere they are the defaults.
ALLOW_SIMULATED_PROVIDERS = env.bool("ALLOW_SIMULATED_PROVIDERS", default=True)
GATEWAY_SIM_DEFAULT_BALANCE = env.str("GATEWAY_SIM_DEFAULT_BALANCE", default="10000.00")
GATEWAY_SIM_LATENCY_MS = env.int("GATEWAY_SIM_LATENCY_MS", default=0)
GATEWAY_SIM_FAILURE_RATE = env.float("GATEWAY_SIM_FAILURE_RATE", default=0.0)
GATEWAY_SIM_TIMEOUT_RATE = env.float("GATEWAY_SIM_TIMEOUT_RATE", default=0.0)
GATEWAY_SIM_SEED = env.int("GATEWAY_SIM_SEED", default=None)
# A charge's lease: from the moment a caller stamps a repayment to call the gateway until this many seconds
# later, reconciliation may not decide the bank "never saw" it (the call may still be on its way). Must
# exceed the gateway client's longest call (its read timeout); the caller ends the lease when its call
# returns. Reconciliation asks about a pending repayment whose lease is over and that is older than
# RECONCILE_AFTER_SECONDS.
CHARGE_LEASE_SECONDS = env.int("CHARGE_LEASE_SECONDS", default=600)
RECONCILE_AFTER_SECONDS = env.int("RECONCILE_AFTER_SECONDS", default=300)
# The simulated bank's own database connections per process (callers in flight wait without one).
GATEWAY_SIM_CONNECTIONS = env.int("GATEWAY_SIM_CONNECTIONS", default=4)
# PAYMENT_GATEWAY=http: where the bank listens and the secret both sides sign with. The default secret is the
# bank service's development default; production refuses it (config/settings/production.py).
GATEWAY_HTTP_URL = env.str("GATEWAY_HTTP_URL", default="http://127.0.0.1:8100")
GATEWAY_HTTP_SECRET = env.str("GATEWAY_HTTP_SECRET", default="dev-bank-secret-not-for-production")
# The bank's result notifications (POST /webhooks/bank/): the secret they are signed with (empty: the API
# secret above) and how old a notification's X-Timestamp may be, in seconds.
BANK_WEBHOOK_SECRET = env.str("BANK_WEBHOOK_SECRET", default="")
BANK_WEBHOOK_WINDOW_SECONDS = env.int("BANK_WEBHOOK_WINDOW_SECONDS", default=300)
# How long the record of a webhook event acted on (BankWebhookEvent) is kept, in days: far past the bank's
# retry horizon and the signature window; beat's repayments.prune_webhook_events deletes older ones daily.
BANK_WEBHOOK_KEEP_DAYS = env.int("BANK_WEBHOOK_KEEP_DAYS", default=30)
# Seconds. The read timeout must stay well under CHARGE_LEASE_SECONDS (a charge outlives its lease otherwise).
GATEWAY_HTTP_CONNECT_TIMEOUT = env.float("GATEWAY_HTTP_CONNECT_TIMEOUT", default=3.0)
GATEWAY_HTTP_READ_TIMEOUT = env.float("GATEWAY_HTTP_READ_TIMEOUT", default=10.0)
# More attempts for a request that never reached the bank, and for status reads (never for a sent charge).
GATEWAY_HTTP_RETRIES = env.int("GATEWAY_HTTP_RETRIES", default=2)
# Pooled connections per process (the debit engine calls from AUTODEBIT_GATEWAY_CONCURRENCY threads).
GATEWAY_HTTP_MAX_CONNECTIONS = env.int("GATEWAY_HTTP_MAX_CONNECTIONS", default=64)
