"""SMS (notifications): the sender, signatures, quiet hours, limits and retries."""

from config.settings.env import VAR_DIR, env

# Which sender delivers SMS: console | memory | file | simulated | http | a dotted path
# (notifications/senders.py; simulated is simulators.sms.SimulatedSmsGateway).
# (notifications/senders.py).
SMS_SENDER = env.str("SMS_SENDER", default="console")
SMS_SIGNATURE_ZH = env.str("SMS_SIGNATURE_ZH", default="【分期还款】")
SMS_SIGNATURE_EN = env.str("SMS_SIGNATURE_EN", default="【FenqiPay】")
# The customer service number: in every page footer, on every "what next" panel and in every SMS that says
# "联系客服" / "contact us" (a fake number by default: set the real one in production).
SERVICE_HOTLINE = env.str("SERVICE_HOTLINE", default="400-820-5566")
SMS_SIMULATED_LATENCY_MS = env.int("SMS_SIMULATED_LATENCY_MS", default=0)
SMS_SIMULATED_FAILURE_RATE = env.float("SMS_SIMULATED_FAILURE_RATE", default=0.0)
SMS_SIMULATED_PERMANENT_FAILURE_RATE = env.float("SMS_SIMULATED_PERMANENT_FAILURE_RATE", default=0.0)
SMS_SIMULATED_SEED = env.int("SMS_SIMULATED_SEED", default=None)
SMS_HTTP_URL = env.str("SMS_HTTP_URL", default="")
SMS_HTTP_SECRET = env.str("SMS_HTTP_SECRET", default="")
SMS_HTTP_TIMEOUT = env.float("SMS_HTTP_TIMEOUT", default=5.0)
# SMS_SENDER=file: where each number's messages (codes included) are written, the developer's "phone".
SMS_FILE_DIR = env.str("SMS_FILE_DIR", default=str(VAR_DIR / "sms"))
# Reminders wait out the quiet hours (local time, the window may cross midnight).
SMS_QUIET_HOURS_START = env.str("SMS_QUIET_HOURS_START", default="21:00")
SMS_QUIET_HOURS_END = env.str("SMS_QUIET_HOURS_END", default="08:00")
# Reminder + transactional messages per phone per local day; security messages (codes) are not counted.
SMS_DAILY_LIMIT_PER_PHONE = env.int("SMS_DAILY_LIMIT_PER_PHONE", default=10)
SMS_MAX_ATTEMPTS = env.int("SMS_MAX_ATTEMPTS", default=5)
SMS_RETRY_BASE_SECONDS = env.float("SMS_RETRY_BASE_SECONDS", default=30.0)
SMS_RETRY_MAX_SECONDS = env.float("SMS_RETRY_MAX_SECONDS", default=3600.0)
SMS_CLAIM_SECONDS = env.int("SMS_CLAIM_SECONDS", default=120)
# Provider calls in flight per batch (a debit chunk's messages): the provider is slow, our side is not.
SMS_SEND_CONCURRENCY = env.int("SMS_SEND_CONCURRENCY", default=8)
