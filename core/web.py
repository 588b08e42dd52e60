"""Small helpers shared by the customer pages of every app."""

from __future__ import annotations

from django import forms

from core.errors import ApplicationError


def apply_errors(form: forms.Form, exc: ApplicationError, *, rename: dict[str, str] | None = None) -> None:
    """Show a service's refusal on the form: per-field messages next to their fields, the rest on top.

    ``rename`` maps a service's field names to the form's (``{"otp": "code"}``); errors about a field the
    form does not have go on top, so nothing the service said is lost.
    """
    rename = rename or {}
    if exc.code.startswith("otp") and rename.get("otp") in form.fields:
        form.add_error(rename["otp"], exc.message)  # a code refused: shown next to the code box
        return
    placed = False
    for field, message in (exc.fields or {}).items():
        name = rename.get(field, field)
        if name in form.fields:
            form.add_error(name, str(message))
            placed = True
    if not placed:
        form.add_error(None, exc.message)
