"""The published error-code catalogue covers every code the code base can raise."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from rest_framework import exceptions

from core.api import exception_handler
from core.error_codes import CommonError, ErrorCode, catalogue, merged
from core.errors import ApplicationError

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "config", "core", "installments", "notifications", "repayments", "simulators")
# Everything that takes an error code as its first argument.
RAISERS = {"ApplicationError", "Refusal", "DocumentError", "_wait_error"}
CATALOGUE = catalogue()


def _raise_sites() -> list[tuple[str, int, ast.expr]]:
    """(path, line, first argument) of every call that raises an error code, in application code."""
    sites = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and _name(node.func) in RAISERS and node.args:
                    sites.append((str(path.relative_to(ROOT)), node.lineno, node.args[0]))
    return sites


def _name(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)


def test_every_raise_site_names_an_enum_member() -> None:
    """A raise site names ``<App>Error.MEMBER``, never a string: the status travels with the code, so one
    code answers one status on every path (14 sites answered another status while codes were strings)."""
    sites = _raise_sites()
    assert len(sites) > 100  # the scan found the raise sites
    literal = [f"{path}:{line}" for path, line, arg in sites if isinstance(arg, ast.Constant)]
    assert not literal, "use the app's ErrorCode enum: " + ", ".join(literal)


def test_every_member_named_at_a_raise_site_exists() -> None:
    enums = {cls.__name__: cls for cls in [CommonError, *ErrorCode.__subclasses__()]}
    missing = []
    for path, line, arg in _raise_sites():
        if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) and arg.value.id in enums:
            if arg.attr not in enums[arg.value.id].__members__:
                missing.append(f"{path}:{line} {arg.value.id}.{arg.attr}")
    assert not missing


def test_codes_are_unique_and_carry_a_status_and_meaning() -> None:
    assert len(CATALOGUE) > 80
    for value, code in CATALOGUE.items():
        assert value == code.value
        assert value.islower()
        assert " " not in value
        assert 400 <= code.status < 600, value
        assert code.meaning, value


def test_a_code_declared_twice_fails_the_catalogue() -> None:
    class Clash(ErrorCode):
        NOTHING_DUE = "nothing_due", 418, "a second declaration"

    with pytest.raises(RuntimeError, match="declared twice"):
        merged([*{type(code) for code in CATALOGUE.values()}, Clash])


def test_the_schema_lists_the_codes(client, db) -> None:
    text = client.get("/api/schema/").content.decode()
    for code in ("amount_exceeds_outstanding", "idempotency_key_reused", "overdue_beyond_grace"):
        assert f"| `{code}` | {CATALOGUE[code].status} |" in text


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_the_status_comes_from_the_code(code: str) -> None:
    """A raise site cannot pick another status, now or later: there is no argument to pass one."""
    member = CATALOGUE[code]
    assert ApplicationError(member, "m").status == member.status
    assert ApplicationError(code, "m").code is member  # a computed code is looked up
    with pytest.raises(TypeError):
        ApplicationError(member, "m", status=599)  # type: ignore[call-arg]


def test_an_unpublished_computed_code_is_a_bug() -> None:
    with pytest.raises(KeyError):
        ApplicationError("card_made_up", "m")


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
    assert code in CATALOGUE, code
    assert response.status_code == CATALOGUE[code].status, (code, response.status_code)


def test_the_schema_lists_each_code_under_its_status(client, db) -> None:
    """The schema's error responses are generated from the catalogue (they listed invalid_amount under
    400 while some raise sites answered 422; it is 400 everywhere now, a malformed amount being bad input)."""
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    responses = schema["paths"]["/api/v1/repayments/"]["post"]["responses"]
    assert "invalid_amount" in responses["400"]["description"]
    assert "invalid_amount" not in responses["422"]["description"]
    assert "card_holder_mismatch" in responses["422"]["description"]
