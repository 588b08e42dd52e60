"""The published error-code catalogue covers every code the code base can raise."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from rest_framework import exceptions

from core.api import exception_handler
from core.error_codes import ERROR_CODES
from core.errors import ApplicationError

ROOT = Path(__file__).resolve().parents[2]
RAISERS = re.compile(
    r"(?:ApplicationError|Refusal|DocumentError|_wait_error|CardRejected)\(\s*f?\"([a-z_]+)\"", re.S
)


def raised_codes() -> set[str]:
    codes = set()
    for app in ("accounts", "config", "installments", "notifications", "repayments"):
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for code in RAISERS.findall(path.read_text(encoding="utf-8")):
                codes.add(code)
    # CardRejected codes reach clients prefixed: ApplicationError(f"card_{exc.code}").
    card_codes = {f"card_{c}" for c in ("invalid_number", "not_supported", "holder_mismatch")}
    return {c for c in codes if c not in {"invalid_number", "not_supported", "holder_mismatch"}} | card_codes


def test_every_raised_code_is_published() -> None:
    missing = raised_codes() - set(ERROR_CODES)
    assert not missing, f"add to core/error_codes.py: {sorted(missing)}"


def test_the_schema_lists_the_codes(client, db) -> None:
    text = client.get("/api/schema/").content.decode()
    for code in ("amount_exceeds_outstanding", "idempotency_key_reused", "overdue_beyond_grace"):
        assert code in text


def _raise_sites() -> list[tuple[str, int, str, int | None]]:
    """(path, line, code, status literal or None) of every ApplicationError(...) with a literal code."""
    sites = []
    for app in ("accounts", "config", "installments", "notifications", "repayments"):
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Call) and _name(node.func) == "ApplicationError"):
                    continue
                if not (node.args and isinstance(node.args[0], ast.Constant)):
                    continue  # a code computed at run time (DocumentError, Refusal): published above
                status = next((k.value for k in node.keywords if k.arg == "status"), None)
                literal = status.value if isinstance(status, ast.Constant) else None
                sites.append((str(path.relative_to(ROOT)), node.lineno, node.args[0].value, literal))
    return sites


def _name(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)


def test_every_raise_site_answers_the_published_status() -> None:
    """What a raise site produces (with whatever status it passes) is the catalogue's status: a mobile
    client sees one status per code on every path. This listed 14 sites on main (invalid_amount as 400
    in payments, reason_required as 422 in negotiation, card_holder_mismatch as 400, ...)."""
    sites = _raise_sites()
    assert len(sites) > 80  # the scan found the raise sites

    def answered(code: str, status: int | None) -> int:
        return ApplicationError(code, "m", **({} if status is None else {"status": status})).status

    wrong = [
        f"{path}:{line} {code} answers {answered(code, status)}, published {ERROR_CODES[code][0]}"
        for path, line, code, status in sites
        if code in ERROR_CODES and answered(code, status) != ERROR_CODES[code][0]
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("code", sorted(ERROR_CODES))
def test_the_status_comes_from_the_catalogue(code: str) -> None:
    """A raise site cannot pick another status for a published code, now or later."""
    for passed in (None, 400, 409, 422, 599):
        assert ApplicationError(code, "m", status=passed).status == ERROR_CODES[code][0]


@pytest.mark.parametrize(
    "exc",
    [
        exceptions.ValidationError({"x": ["bad"]}),
        exceptions.ParseError(),
        exceptions.NotAuthenticated(),
        exceptions.AuthenticationFailed(),
        exceptions.PermissionDenied(),
        exceptions.NotFound(),
        exceptions.MethodNotAllowed("GET"),
        exceptions.NotAcceptable(),
        exceptions.UnsupportedMediaType("text/plain"),
        exceptions.Throttled(wait=5),
    ],
    ids=lambda e: type(e).__name__,
)
def test_drf_errors_answer_their_published_code_and_status(exc: exceptions.APIException) -> None:
    response = exception_handler(exc, {})
    code = response.data["code"]
    assert code in ERROR_CODES, code
    assert response.status_code == ERROR_CODES[code][0], (code, response.status_code)


def test_the_schema_lists_each_code_under_its_status(client, db) -> None:
    """The schema's error responses are generated from the catalogue (they listed invalid_amount under
    400 while some raise sites answered 422; it is 400 everywhere now, a malformed amount being bad input)."""
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    responses = schema["paths"]["/api/v1/repayments/"]["post"]["responses"]
    assert "invalid_amount" in responses["400"]["description"]
    assert "invalid_amount" not in responses["422"]["description"]
    assert "card_holder_mismatch" in responses["422"]["description"]
