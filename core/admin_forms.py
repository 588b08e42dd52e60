"""A form page in the admin's look for staff actions that call a service (reverse, approve, offer...)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

if TYPE_CHECKING:
    from django.contrib.admin import AdminSite
    from django.db.models import Model
    from django_stubs_ext import StrOrPromise


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
