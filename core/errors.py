"""The one error type services raise for a refused request.

Every refusal carries a stable machine-readable ``code`` (API clients and tests key on it), a message a
customer can read, and optional per-field messages. Web forms, the admin, the API and management
commands all turn it into their own kind of error, so the rule lives in one place: the service.

The HTTP status is not the raise site's to choose: it is the one the published catalogue
(``core/error_codes.py``) gives the code, so one code always answers one status whatever the path
(a mobile client switches on either). A ``status`` passed by older call sites is ignored; a code missing
from the catalogue answers ``status`` (or 422) and fails ``tests/core/test_error_codes.py``.
"""

from collections.abc import Mapping

from core.error_codes import ERROR_CODES


def error_status(code: str, default: int = 422) -> int:
    """The published HTTP status of ``code``."""
    entry = ERROR_CODES.get(code)
    return entry[0] if entry else default


class ApplicationError(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        *,
        fields: Mapping[str, str] | None = None,
        status: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = dict(fields or {})
        self.status = error_status(code, default=status or 422)
        # Seconds until a 429 may be retried (the API sends it as Retry-After); older call sites put it in
        # fields["retry_after"].
        if retry_after is None and str(self.fields.get("retry_after", "")).isdigit():
            retry_after = int(self.fields["retry_after"])
        self.retry_after = retry_after

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": str(self.message), "fields": self.fields}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
