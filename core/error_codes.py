"""Error codes: each app declares its own as an :class:`ErrorCode` enum whose members carry the HTTP status
they always answer and a one-line meaning (``<app>/errors.py``; the request-shape and auth codes every
surface shares are :class:`CommonError` here). A raise site names a member, ``ApplicationError(
RepaymentsError.NOTHING_DUE, ...)``, so one code answers one status on every path, and the published
catalogue (the API schema's description and its error responses) is generated from the enums: nothing is
kept by hand. ``tests/core/test_error_codes.py`` checks every raise site names a member."""

from __future__ import annotations

import importlib
from enum import StrEnum
from functools import cache
from typing import Self


class ErrorCode(StrEnum):
    """A stable machine-readable code (its value), with ``status`` and ``meaning``."""

    status: int
    meaning: str

    def __new__(cls, value: str, status: int, meaning: str) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.status = status
        member.meaning = meaning
        return member


class CommonError(ErrorCode):
    INVALID_REQUEST = "invalid_request", 400, "the body, query or a field is malformed; see fields"
    NOT_AUTHENTICATED = "not_authenticated", 401, "no credentials"
    AUTHENTICATION_FAILED = "authentication_failed", 401, "wrong phone or password, or a bad token"
    TOKEN_NOT_VALID = "token_not_valid", 401, "the token is expired or invalid"
    PERMISSION_DENIED = "permission_denied", 403, "not allowed for this user"
    NOT_FOUND = "not_found", 404, "no such object, or not the caller's"
    NOT_ACCEPTABLE = "not_acceptable", 406, "ask for application/json"
    METHOD_NOT_ALLOWED = "method_not_allowed", 405, "method not allowed"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", 415, "send JSON (or multipart where documented)"
    THROTTLED = "throttled", 429, "too many requests; retry later"
    REQUEST_TOO_LARGE = "request_too_large", 413, "the request body is larger than the server accepts"
    INVALID_AMOUNT = "invalid_amount", 400, "amounts are strings of ASCII digits with at most two decimals"


ERROR_MODULES = tuple(f"{app}.errors" for app in ("accounts", "notifications", "installments", "repayments"))


@cache
def catalogue() -> dict[str, ErrorCode]:
    """Every code of every app, by value. The apps' enums are found by module name (``<app>.errors``), so
    the kernel imports no app; a code declared twice is a bug and fails here."""
    for name in ERROR_MODULES:
        importlib.import_module(name)
    return merged([CommonError, *ErrorCode.__subclasses__()])


def merged(enums: list[type[ErrorCode]]) -> dict[str, ErrorCode]:
    found: dict[str, ErrorCode] = {}
    for enum in enums:
        for code in enum:
            if found.setdefault(code.value, code) is not code:
                raise RuntimeError(f"error code {code.value!r} is declared twice")
    return found


def error_code(value: str) -> ErrorCode:
    """The member for a code computed at run time (``f"card_{reason}"``); an unknown code is a bug."""
    return catalogue()[value]


def codes_by_status() -> dict[int, str]:
    """Each HTTP status with the codes it carries, for the schema's error responses."""
    by_status: dict[int, list[str]] = {}
    for value, code in sorted(catalogue().items()):
        by_status.setdefault(code.status, []).append(value)
    return {status: ", ".join(codes) for status, codes in sorted(by_status.items())}


def markdown_table() -> str:
    rows = "\n".join(f"| `{v}` | {c.status} | {c.meaning} |" for v, c in sorted(catalogue().items()))
    return "| code | status | meaning |\n|---|---|---|\n" + rows
