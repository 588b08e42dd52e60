"""Staff actions in the admin that call a service (reverse, approve, offer...): the form page in the admin's
look, and the one way a service's refusal (an ``ApplicationError``) is shown to staff."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

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


class SecondPersonMixin(ServiceFormMixin):
    """For the ModelAdmin of a request a second staff member approves or rejects (maker-checker: waivers,
    charge-off undos, payment holidays): the two pages' URLs (``<pk>/approve/``, ``<pk>/reject/``, named
    ``<app>_<model>_approve`` / ``_reject``) and the list's two buttons. The admin defines
    ``approve_view`` and ``reject_view`` (each calls its service) and ``approve_label``."""

    approve_label: StrOrPromise

    def _review_name(self, step: str) -> str:
        return f"{self.model._meta.app_label}_{self.model._meta.model_name}_{step}"

    def review_buttons(self, pk: int) -> str:
        return format_html(
            '<a class="button" href="{}">{}</a> <a class="button" href="{}">{}</a>',
            reverse(f"admin:{self._review_name('approve')}", args=[pk]),
            self.approve_label,
            reverse(f"admin:{self._review_name('reject')}", args=[pk]),
            _("Reject"),
        )

    def review_urls(self) -> list[URLPattern]:
        views = cast("Any", self)
        return [
            path(
                "<int:pk>/approve/",
                self.admin_site.admin_view(views.approve_view),
                name=self._review_name("approve"),
            ),
            path(
                "<int:pk>/reject/",
                self.admin_site.admin_view(views.reject_view),
                name=self._review_name("reject"),
            ),
        ]
