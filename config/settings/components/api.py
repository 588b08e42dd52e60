"""The REST API (/api/v1/): DRF's defaults, JWT sign-in, the OpenAPI schema, idempotency keys."""

from datetime import timedelta

from config.settings.components.security import TRUSTED_PROXY_COUNT
from config.settings.env import env

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # simplejwt's, plus the per-user token version check (accounts/authentication.py).
        "accounts.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",  # the browser, with CSRF
    ],
    # IsAuthenticated, answering in the customer's saved language when the request names none.
    "DEFAULT_PERMISSION_CLASSES": ["core.api_auth.IsAuthenticatedCustomer"],
    # JSON bodies only; the two upload endpoints (negotiations/, negotiations/{id}/documents/) add
    # multipart themselves. The schema then advertises one body type per operation, which generated
    # clients need (a form + multipart + JSON body made openapi-python-client's package not import).
    # Their JSON parser turns too-deep nesting into a 400 (core/api_parsers.py).
    "DEFAULT_PARSER_CLASSES": ["core.api_parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "core.api_schema.ApiSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "core.api_pagination.NewestFirstCursorPagination",
    "PAGE_SIZE": 20,
    # DRF's throttles keyed on core.client_ip (trusts only TRUSTED_PROXY_COUNT proxies), failing open
    # (one warning a minute) when the cache is down: core/api_throttles.py.
    "DEFAULT_THROTTLE_CLASSES": [
        "core.api_throttles.AnonRateThrottle",
        "core.api_throttles.UserRateThrottle",
        "core.api_throttles.ScopedRateThrottle",
    ],
    # The same rule for anything in DRF that reads the client address itself.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="120/min"),
        "user": env.str("API_THROTTLE_USER", default="1200/min"),
        "login": env.str("API_THROTTLE_LOGIN", default="10/min"),
        "otp": env.str("API_THROTTLE_OTP", default="10/min"),
        "payments": env.str("API_THROTTLE_PAYMENTS", default="60/min"),
    },
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    # A refresh token works once: refreshing blacklists it (token_blacklist app) and returns a new one.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    # Tokens name the user by the public id, never the database id.
    "USER_ID_FIELD": "public_id",
    "USER_ID_CLAIM": "sub",
    "UPDATE_LAST_LOGIN": True,
}
SPECTACULAR_SETTINGS = {
    # ASCII: generators turn the title into a package name (installment-repayment-api-client).
    "TITLE": "Installment Repayment API",
    "DESCRIPTION": (
        "分期还款: everything a customer can do on the web, for mobile clients. Money is a string with "
        'two decimals ("106.00"), dates are ISO 8601, ids are UUIDs. Errors share one shape: '
        '{"code": ..., "message": ..., "fields": {...}}. Money-moving and plan-changing POSTs need an '
        "Idempotency-Key header.\n\n"
        "Changes in 1.1.0 (issue 18): POST /reinstallments/ needs `otp_code` (an SMS code from POST /otp/ "
        "with purpose `restage`) and refuses an option the quote lists under `dropped` (422 "
        "`tenor_not_offered`); PATCH /me/ changes `language`; applications take and return "
        "`affordable_monthly_payment`; accepting an offer takes `autodebit`.\n\n"
        "The error codes, each with the one status it answers, follow."
    ),
    # The error-code table is appended to the description from the apps' enums (core.api_schema).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api_schema.append_error_catalogue",
    ],
    "VERSION": "1.1.0",  # 1.1.0: issue 18 (see the description)
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "RepaymentStatusEnum": "repayments.models.RepaymentStatus",
        # What customers are shown: a charged-off plan is "overdue" to them (installments/api.py).
        "PlanStatusEnum": "installments.models.plans.CUSTOMER_PLAN_STATUS_CHOICES",
        "NotificationStatusEnum": "notifications.models.NotificationStatus",
    },
}
# Idempotency keys are kept this long (a cleanup task removes older ones).
API_IDEMPOTENCY_KEEP_HOURS = env.int("API_IDEMPOTENCY_KEEP_HOURS", default=48)
