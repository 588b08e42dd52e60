"""The error codes of accounts, each with the HTTP status it always answers (core.error_codes)."""

from core.error_codes import ErrorCode


class AccountsError(ErrorCode):
    IDEMPOTENCY_KEY_REQUIRED = "idempotency_key_required", 400, "this request needs an Idempotency-Key header"
    IDEMPOTENCY_KEY_INVALID = (
        "idempotency_key_invalid",
        400,
        "the Idempotency-Key is empty, too long or not printable",
    )
    IDEMPOTENCY_KEY_IN_PROGRESS = (
        "idempotency_key_in_progress",
        409,
        "a request with this key is still running",
    )
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused", 422, "this key was used for a different request"
    USER_INACTIVE = "user_inactive", 403, "the account is disabled"
    INVALID_PASSWORD = "invalid_password", 422, "the new password is too weak"
    OTP_INVALID_PURPOSE = "otp_invalid_purpose", 400, "unknown purpose"
    OTP_TOO_SOON = "otp_too_soon", 429, "wait before asking for another code"
    OTP_HOURLY_LIMIT = "otp_hourly_limit", 429, "too many codes this hour"
    OTP_NOT_REQUESTED = "otp_not_requested", 422, "no code is waiting; request one"
    OTP_EXPIRED = "otp_expired", 422, "the code expired"
    OTP_INVALID = "otp_invalid", 422, "wrong code"
    OTP_TOO_MANY_ATTEMPTS = "otp_too_many_attempts", 422, "too many wrong tries; request a new code"
    INVALID_CONTACT_WINDOW = "invalid_contact_window", 400, "give both times of the window, or neither"
