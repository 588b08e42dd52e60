"""Sign-in and account safety: django-axes lockouts, the client address behind proxies, the password
reset's limits and the one-time codes (accounts)."""

from datetime import timedelta

from config.settings.env import env

# Sign-in throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one phone from one address,
# that pair is locked for AXES_COOLOFF_MINUTES. Keyed on the pair so nobody can lock a customer out from
# elsewhere by guessing on their number; the customer can still reset the password with an SMS code.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.axes.lockout_response"
# One counter per account whatever the spelling of the number: the callable returns the phone exactly as
# the sign-in query looks it up (E.164), on every surface (/login/, /admin/login/, /api/v1/auth/token/).
AXES_USERNAME_CALLABLE = "accounts.axes.username"
# The client address axes keys on is the one the API throttles use (see TRUSTED_PROXY_COUNT below).
AXES_CLIENT_IP_CALLABLE = "core.client_ip.axes_client_ip"
AXES_VERBOSE = False

# --- Client address behind proxies -----------------------------------------------------------------
# How many reverse proxies of ours stand in front of gunicorn. 0 (default): X-Forwarded-For is ignored and
# REMOTE_ADDR is the client. Behind the TLS proxy of docs/operations.md set it to 1: the proxy's appended
# X-Forwarded-For entry is the client. core/client_ip.py is the one function every limit uses (DRF
# throttles, django-axes, the password-reset limits); a wrong value either trusts forged headers (too high)
# or puts every client behind the proxy on one address (too low).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- Password reset by SMS (accounts) -------------------------------------------------------------
# Limits on the two steps of /password-reset/, counted in the cache for every number asked about (known
# or not, so they reveal nothing) per client address, per number and over the whole site, each "N/period"
# with period s, min, h or d. Over a limit the page says so (429) whatever the number.
PASSWORD_RESET_REQUEST_LIMITS = {
    "address": env.str("PASSWORD_RESET_REQUESTS_PER_ADDRESS", default="5/h"),
    "phone": env.str("PASSWORD_RESET_REQUESTS_PER_PHONE", default="5/h"),
    "global": env.str("PASSWORD_RESET_REQUESTS_GLOBAL", default="300/h"),
}
PASSWORD_RESET_CODE_LIMITS = {
    "address": env.str("PASSWORD_RESET_CODE_TRIES_PER_ADDRESS", default="20/h"),
    "phone": env.str("PASSWORD_RESET_CODE_TRIES_PER_PHONE", default="10/h"),
    "global": env.str("PASSWORD_RESET_CODE_TRIES_GLOBAL", default="1000/h"),
}

# --- One-time codes (accounts) ------------------------------------------------------------------
OTP_TTL_MINUTES = env.int("OTP_TTL_MINUTES", default=5)
OTP_MAX_ATTEMPTS = env.int("OTP_MAX_ATTEMPTS", default=5)
OTP_MIN_INTERVAL_SECONDS = env.int("OTP_MIN_INTERVAL_SECONDS", default=60)
OTP_MAX_PER_HOUR = env.int("OTP_MAX_PER_HOUR", default=5)

# --- The public check of a payoff certificate (/verify/<code>/, repayments) ----------------------------
# Codes are 12 random characters (~59 bits): unguessable anyway; the limit keeps a scan from being cheap.
CERTIFICATE_VERIFY_LIMITS = {
    "address": env.str("CERTIFICATE_VERIFY_PER_ADDRESS", default="20/h"),
    "global": env.str("CERTIFICATE_VERIFY_GLOBAL", default="2000/h"),
}
