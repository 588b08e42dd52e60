"""Production: no default secret, HTTPS only, and ``manage.py check --deploy`` passes with no warning."""

from django.core.exceptions import ImproperlyConfigured

from config.providers import HTTP_GATEWAY, provider_path, simulated_providers

from .base import *  # noqa: F403
from .base import INSTALLED_APPS, PAYMENT_GATEWAY, SMS_SENDER, env

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if len(SECRET_KEY) < 50 or SECRET_KEY.startswith(("dev-", "django-insecure")):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a random value of at least 50 characters in production "
        "(python -c 'import secrets; print(secrets.token_urlsafe(64))')."
    )

# Old keys, still accepted after a rotation: sessions, password-reset links and sealed SMS codes.
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])

DEBUG = False
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
ALLOW_DEMO_DATA = env.bool("ALLOW_DEMO_DATA", default=False)

# The console SMS sender (codes in the log, nothing on a phone) and the simulated bank (no money moves)
# are refused unless a staging or demo deployment says so; `check --deploy` still warns (config.W001).
ALLOW_SIMULATED_PROVIDERS = env.bool("ALLOW_SIMULATED_PROVIDERS", default=False)
_simulated = simulated_providers(sms_sender=SMS_SENDER, payment_gateway=PAYMENT_GATEWAY)
if _simulated and not ALLOW_SIMULATED_PROVIDERS:
    raise ImproperlyConfigured(
        f"Simulated providers in production: {', '.join(_simulated)}. Configure the real SMS sender and bank "
        "gateway (SMS_SENDER, PAYMENT_GATEWAY), or set ALLOW_SIMULATED_PROVIDERS=true for a staging or demo "
        "deployment that must not reach real phones or banks."
    )
# The bank's shared secret: the development default is public, so a bank that accepted it would take
# anyone's charges (and anyone could forge its answers to us).
GATEWAY_HTTP_SECRET = env.str("GATEWAY_HTTP_SECRET", default="")
if provider_path("PAYMENT_GATEWAY", PAYMENT_GATEWAY) == HTTP_GATEWAY and (
    len(GATEWAY_HTTP_SECRET) < 32 or GATEWAY_HTTP_SECRET.startswith("dev-")
):
    raise ImproperlyConfigured(
        "PAYMENT_GATEWAY=http needs GATEWAY_HTTP_SECRET: the secret shared with the bank, at least 32 random "
        "characters (never the development default)."
    )
# The bank's result notifications (POST /webhooks/bank/) are signed with BANK_WEBHOOK_SECRET, or the API
# secret above when it is empty. A public or short one would let anyone forge "charge succeeded" for a
# payment of ours; with neither set (an acquirer adapter that sends no webhooks) the endpoint is off.
BANK_WEBHOOK_SECRET = env.str("BANK_WEBHOOK_SECRET", default="")
_webhook_secret = BANK_WEBHOOK_SECRET or GATEWAY_HTTP_SECRET
if _webhook_secret and (len(_webhook_secret) < 32 or _webhook_secret.startswith("dev-")):
    raise ImproperlyConfigured(
        "BANK_WEBHOOK_SECRET (or GATEWAY_HTTP_SECRET, which it falls back to) signs the bank's webhooks: "
        "at least 32 random characters, never the development default."
    )
if not ALLOW_SIMULATED_PROVIDERS:
    # Nothing may run on them, so their app (models, tables, migrations) is not installed at all.
    INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "simulators"]

SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"

# One JSON object per log line (request id, task, run and chunk included) unless LOG_FORMAT says otherwise.
LOGGING["handlers"]["console"]["formatter"] = env.str("LOG_FORMAT", default="json")  # noqa: F405
