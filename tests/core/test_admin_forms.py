"""Staff see a service's refusal one way in every admin: ``core.admin_forms.show_on_form`` on a form page,
``show_as_message`` in a list action."""

from __future__ import annotations

import ast
from pathlib import Path

from django import forms
from django.contrib.messages import WARNING
from django.contrib.messages.storage.fallback import FallbackStorage
from django.test import RequestFactory

from core.admin_forms import show_as_message, show_on_form
from core.errors import ApplicationError
from repayments.errors import RepaymentsError

ROOT = Path(__file__).resolve().parents[2]
APPS = ("core", "accounts", "notifications", "installments", "repayments", "simulators", "config")
HELPERS = {"show_on_form", "show_as_message"}


class _Form(forms.Form):
    reference = forms.CharField(required=False)


def _refusal() -> ApplicationError:
    return ApplicationError(
        RepaymentsError.REFERENCE_REQUIRED,
        "Enter the bank transfer reference.",
        fields={"reference": "Required.", "not_on_the_form": "Ignored."},
    )


def test_on_a_form_the_message_goes_on_top_and_each_known_field_gets_its_own() -> None:
    form = _Form({"reference": ""})
    assert form.is_valid()
    show_on_form(form, _refusal())
    assert form.non_field_errors() == ["Enter the bank transfer reference."]
    assert form.errors["reference"] == ["Required."]
    assert set(form.errors) == {"__all__", "reference"}


def test_as_a_message_it_is_a_warning_naming_the_item() -> None:
    request = RequestFactory().post("/")
    request.session = {}  # type: ignore[attr-defined]
    storage = FallbackStorage(request)
    request._messages = storage  # type: ignore[attr-defined]
    show_as_message(request, _refusal(), subject="N-1")
    [message] = list(storage)
    assert (message.level, message.message) == (WARNING, "N-1: Enter the bank transfer reference.")


def _admin_modules() -> list[Path]:
    return [
        path
        for app in APPS
        for path in sorted((ROOT / app).rglob("*.py"))
        if "admin" in path.stem or "admin" in path.parent.name
    ]


def test_every_admin_handler_of_a_refusal_uses_the_helpers() -> None:
    modules = _admin_modules()
    apps = {path.relative_to(ROOT).parts[0] for path in modules}
    assert apps >= {"installments", "repayments", "notifications"}
    by_hand = []
    for path in modules:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ExceptHandler) or not (
                isinstance(node.type, ast.Name) and node.type.id == "ApplicationError"
            ):
                continue
            called = {
                call.func.id
                for statement in node.body
                for call in ast.walk(statement)
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
            }
            if not called & HELPERS:
                by_hand.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert by_hand == [], f"an ApplicationError shown by hand in the admin: {by_hand}"
