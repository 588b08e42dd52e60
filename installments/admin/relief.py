"""暂停计息 in the staff workspace: the freezes, read-only and in words, and the two staff actions (open a
hardship freeze with a reason note, end a freeze early) as form pages that call
``installments.services.relief`` (audited there). The collection case and the customer workspace link to
them by plan."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _

from accounts.http import AuthenticatedHttpRequest
from core.admin_display import MoneyAdminMixin
from core.admin_forms import ServiceFormMixin, show_on_form
from core.errors import ApplicationError
from installments.admin.collections import staff_label
from installments.freezes import open_freeze
from installments.models import FREEZE_MAX_DAYS, InstallmentPlan, PlanFreeze
from installments.services import FREEZE_PERMISSIONS, hardship_freeze_end, hardship_freeze_open


def can_freeze(user: object) -> bool:
    """Whether the signed-in staff member may open or end a hardship freeze (the service checks again)."""
    return any(user.has_perm(p) for p in FREEZE_PERMISSIONS)  # type: ignore[attr-defined]


class FreezeOpenForm(forms.Form):
    note = forms.CharField(
        label=_("reason"),
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Why the customer's penalties are paused (kept with the freeze and the audit log)."),
    )


class FreezeEndForm(forms.Form):
    note = forms.CharField(label=_("note"), max_length=300, required=False)


class OpenFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "open"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", str(_("open"))), ("no", str(_("ended")))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(ended_on__isnull=True)
        if self.value() == "no":
            return queryset.filter(ended_on__isnull=False)
        return queryset


@admin.register(PlanFreeze)
class PlanFreezeAdmin(MoneyAdminMixin, ServiceFormMixin, admin.ModelAdmin):
    list_display = (
        "plan_link", "customer_display", "reason", "started_by", "started_on", "planned_end", "ended_on",
        "end_reason", "autodebit_display",
    )  # fmt: skip
    list_display_links = None
    list_filter = (OpenFilter, "reason", "end_reason", "self_started")
    search_fields = ("=plan__public_id", "plan__customer__phone")
    list_select_related = ("plan", "plan__customer", "created_by", "application")
    date_hierarchy = "started_on"
    fields = (
        "plan_link", "customer_display", "reason", "started_by", "application_link", "started_on",
        "planned_end", "ended_on", "end_reason", "autodebit_display", "note", "created_at",
    )  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a 协商 application or the staff action below opens a freeze

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description=_("plan"), ordering="plan_id")
    def plan_link(self, obj: PlanFreeze) -> str:
        url = reverse("admin:installments_installmentplan_change", args=[obj.plan_id])
        return format_html('<a href="{}">{}</a>', url, obj.plan.display_name)

    @admin.display(description=_("customer"))
    def customer_display(self, obj: PlanFreeze) -> str:
        url = reverse("admin:support_customer", args=[obj.plan.customer_id])
        return format_html('<a href="{}">{}</a>', url, str(obj.plan.customer))

    @admin.display(description=_("started by"))
    def started_by(self, obj: PlanFreeze) -> str:
        if obj.self_started:
            return str(_("the customer's application"))
        return staff_label(obj.created_by)

    @admin.display(description=_("协商 application"))
    def application_link(self, obj: PlanFreeze) -> str:
        if obj.application_id is None:
            return "-"
        url = reverse("admin:installments_negotiationapplication_change", args=[obj.application_id])
        return format_html('<a href="{}">{}</a>', url, str(obj.application))

    @admin.display(description=_("auto-debit during the freeze"))
    def autodebit_display(self, obj: PlanFreeze) -> str:
        return str(_("continues") if obj.autodebit_opt_in else _("paused"))

    # --- the staff actions ----------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "plan/<int:plan_id>/open/",
                self.admin_site.admin_view(self.open_view),
                name="installments_planfreeze_open",
            ),
            path(
                "plan/<int:plan_id>/end/",
                self.admin_site.admin_view(self.end_view),
                name="installments_planfreeze_end",
            ),
            *super().get_urls(),
        ]

    def _plan(self, request: AuthenticatedHttpRequest, plan_id: int) -> InstallmentPlan:
        if not can_freeze(request.user):
            raise PermissionDenied
        return get_object_or_404(InstallmentPlan.objects.select_related("customer"), pk=plan_id)

    def _back(self, request: HttpRequest, plan: InstallmentPlan) -> HttpResponse:
        target = request.GET.get("next", "")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = reverse("admin:support_customer", args=[plan.customer_id])
        return HttpResponseRedirect(target or reverse("admin:support_customer", args=[plan.customer_id]))

    def open_view(self, request: AuthenticatedHttpRequest, plan_id: int) -> HttpResponse:
        plan = self._plan(request, plan_id)
        today = timezone.localdate()
        form = FreezeOpenForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                freeze = hardship_freeze_open(
                    staff=request.user, plan=plan, note=form.cleaned_data["note"], today=today
                )
            except ApplicationError as exc:
                show_on_form(form, exc)
            else:
                messages.success(
                    request,
                    _("Penalties on %(plan)s are paused until %(date)s.")
                    % {"plan": plan.display_name, "date": freeze.planned_end.isoformat()},
                )
                return self._back(request, plan)
        return self.form_page(
            request,
            form,
            _("Pause penalties (hardship freeze): %(plan)s") % {"plan": plan.display_name},
            _(
                "From today no penalty accrues on %(plan)s and it does not age, for %(days)s days at most "
                "(until %(date)s) or until you end it; overdue SMS and auto-debit pause meanwhile. Frozen "
                "days are never charged later."
            )
            % {
                "plan": plan.display_name,
                "days": FREEZE_MAX_DAYS,
                "date": (today + timedelta(days=FREEZE_MAX_DAYS)).isoformat(),
            },
        )

    def end_view(self, request: AuthenticatedHttpRequest, plan_id: int) -> HttpResponse:
        plan = self._plan(request, plan_id)
        today = timezone.localdate()
        freeze = open_freeze(plan.pk, today=today)
        form = FreezeEndForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                hardship_freeze_end(
                    staff=request.user, plan=plan, today=today, note=form.cleaned_data["note"]
                )
            except ApplicationError as exc:
                show_on_form(form, exc)
            else:
                messages.success(
                    request, _("The freeze on %(plan)s ended today.") % {"plan": plan.display_name}
                )
                return self._back(request, plan)
        return self.form_page(
            request,
            form,
            _("End the hardship freeze: %(plan)s") % {"plan": plan.display_name},
            _("Penalties on %(plan)s are paused until %(date)s. Ending it now resumes them from today.")
            % {"plan": plan.display_name, "date": freeze.planned_end.isoformat() if freeze else "-"},
        )
