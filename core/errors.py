"""The one error type services raise for a refused request.

Every refusal carries a stable machine-readable ``code`` (API clients and tests key on it), a message a
customer can read, and optional per-field messages. Web forms, the admin, the API and management
commands all turn it into their own kind of error, so the rule lives in one place: the service.

The code is a member of an app's :class:`~core.error_codes.ErrorCode` enum, and it carries the HTTP status:
a raise site cannot choose another, so one code always answers one status whatever the path (a mobile
client switches on either). A code computed at run time is looked up with ``error_code("...")``.
"""

from collections.abc import Mapping

from core.error_codes import ErrorCode, error_code


class ApplicationError(Exception):
    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        fields: Mapping[str, str] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        # A plain string is accepted only if it is a published code (looked up); the enum is the way.
        self.code: ErrorCode = code if isinstance(code, ErrorCode) else error_code(code)
        self.message = message
        self.fields = dict(fields or {})
        self.status = self.code.status
        # Seconds until a 429 may be retried (the API sends it as Retry-After); older call sites put it in
        # fields["retry_after"].
        if retry_after is None and str(self.fields.get("retry_after", "")).isdigit():
            retry_after = int(self.fields["retry_after"])
        self.retry_after = retry_after

    def as_dict(self) -> dict[str, object]:
        return {"code": str(self.code), "message": str(self.message), "fields": self.fields}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
