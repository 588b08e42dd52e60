"""Staff actions in the admin that call a service (reverse, approve, offer...): the form page in the admin's
look, and the one way a service's refusal (an ``ApplicationError``) is shown to staff."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from core.errors import ApplicationError

if TYPE_CHECKING:
    from django.contrib.admin import AdminSite
    from django.db.models import Model
    from django_stubs_ext import StrOrPromise


def show_on_form(form: forms.Form, exc: ApplicationError) -> None:
    """A refusal on an admin form: the message on top (staff always see why), and each per-field message
    next to its field when the form has that field. The customer pages use ``core.web.apply_errors``."""
    form.add_error(None, exc.message)
    for field, message in (exc.fields or {}).items():
        if field in form.fields:
            form.add_error(field, str(message))


def show_as_message(request: HttpRequest, exc: ApplicationError, *, subject: str = "") -> None:
    """A refusal of one item in a list action (the action goes on with the others): a warning at the top
    of the page, naming the item when ``subject`` is given."""
    messages.warning(request, f"{subject}: {exc.message}" if subject else exc.message)


class ServiceFormMixin:
    """For ModelAdmin subclasses: ``self.form_page(...)`` renders templates/admin/service_form.html."""

    # Declared only: the ModelAdmin this is mixed into has them.
    admin_site: AdminSite
    model: type[Model]

    def form_page(
        self,
        request: HttpRequest,
        form: forms.Form,
        title: StrOrPromise,
        intro: StrOrPromise = "",
        *,
        extra: dict[str, Any] | None = None,
        template: str = "admin/service_form.html",
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "intro": intro,
            "form": form,
            "opts": self.model._meta,
            **(extra or {}),
        }
        return TemplateResponse(request, template, context)
