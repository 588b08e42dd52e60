"""The one error type services raise for a refused request.

Every refusal carries a stable machine-readable ``code`` (API clients and tests key on it), a message a
customer can read, and optional per-field messages. Web forms, the admin, the API and management
commands all turn it into their own kind of error, so the rule lives in one place: the service.
"""

from collections.abc import Mapping


class ApplicationError(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        *,
        fields: Mapping[str, str] | None = None,
        status: int = 422,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = dict(fields or {})
        self.status = status

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": str(self.message), "fields": self.fields}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
