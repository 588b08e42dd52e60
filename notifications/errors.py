"""The error codes of notifications, each with the HTTP status it always answers (core.error_codes)."""

from core.error_codes import ErrorCode


class NotificationsError(ErrorCode):
    SECRET_EXPIRED = "secret_expired", 409, "a message with a one-time code is not resent; ask for a new code"
    NOT_FAILED = "not_failed", 409, "only a failed notification can be resent"
