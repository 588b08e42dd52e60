"""The journal in the staff workspace, for finance: entries with their lines (read-only: a correction is an
opposite entry posted by a service, never an edit), the trial balance at a date and a plan's account
statement, each exportable as CSV."""

from __future__ import annotations

import csv
from datetime import date

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core.admin_display import MoneyAdminMixin
from installments.models import InstallmentPlan, JournalEntry, JournalLine
from installments.selectors import plan_statement, trial_balance


class JournalLineInline(MoneyAdminMixin, admin.TabularInline):
    model = JournalLine
    extra = 0
    can_delete = False
    fields = ("account", "debit", "credit", "plan", "customer", "business_date")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: JournalEntry | None = None) -> bool:
        return False


class TrialBalanceForm(forms.Form):
    date = forms.DateField(label=_("Business date"), widget=forms.DateInput(attrs={"type": "date"}))


@admin.register(JournalEntry)
class JournalEntryAdmin(admin.ModelAdmin):
    list_display = ("entry_number", "business_date", "kind", "key", "plan_link", "reference", "created_at")
    list_filter = ("kind", "business_date")
    search_fields = ("key", "reference")
    date_hierarchy = "business_date"
    inlines = [JournalLineInline]
    fields = ("key", "kind", "business_date", "plan", "reference", "memo", "created_at")
    readonly_fields = fields
    list_select_related = ("plan",)
    show_full_result_count = False  # counting millions of entries on every page load costs more than it tells

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: JournalEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: JournalEntry | None = None) -> bool:
        return False

    @admin.display(description=_("entry no."), ordering="id")
    def entry_number(self, obj: JournalEntry) -> int:
        return obj.pk

    @admin.display(description=_("plan"))
    def plan_link(self, obj: JournalEntry) -> str:
        if obj.plan_id is None:
            return "-"
        url = reverse("admin:installments_plan_statement", args=[obj.plan_id])
        return format_html('<a href="{}">{}</a>', url, obj.plan_id)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        extra = {"trial_balance_url": reverse("admin:installments_trial_balance"), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "trial-balance/",
                self.admin_site.admin_view(self.trial_balance_view),
                name="installments_trial_balance",
            ),
            path(
                "plan/<int:plan_id>/statement/",
                self.admin_site.admin_view(self.statement_view),
                name="installments_plan_statement",
            ),
            *super().get_urls(),
        ]

    def _require_view(self, request: HttpRequest) -> None:
        if not self.has_view_permission(request):
            raise PermissionDenied

    def trial_balance_view(self, request: HttpRequest) -> HttpResponse:
        """Every account's debits, credits and balance up to a business date; ``?format=csv`` exports."""
        self._require_view(request)
        form = TrialBalanceForm(request.GET or {"date": timezone.localdate().isoformat()})
        day: date = form.cleaned_data["date"] if form.is_valid() else timezone.localdate()
        tb = trial_balance(as_of=day)
        if request.GET.get("format") == "csv":
            response = HttpResponse(content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="trial-balance-{day}.csv"'
            writer = csv.writer(response)
            writer.writerow(["account", "name", "type", "debit", "credit", "balance"])
            for row in tb.rows:
                writer.writerow([row.account, row.name, row.type, row.debit, row.credit, row.balance])
            writer.writerow(["", "total", "", tb.debit, tb.credit, tb.debit - tb.credit])
            return response
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Trial balance at %(date)s") % {"date": day},
            "form": form,
            "tb": tb,
            "csv_url": f"?date={day.isoformat()}&format=csv",
        }
        return TemplateResponse(request, "admin/installments/trial_balance.html", context)

    def statement_view(self, request: HttpRequest, plan_id: int) -> HttpResponse:
        """A plan's journal lines with running balances per account; ``?format=csv`` exports."""
        self._require_view(request)
        plan = get_object_or_404(InstallmentPlan.objects.select_related("customer"), pk=plan_id)
        lines = plan_statement(plan_id=plan.pk)
        if request.GET.get("format") == "csv":
            response = HttpResponse(content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="statement-{plan.public_id}.csv"'
            writer = csv.writer(response)
            writer.writerow(["date", "event", "reference", "account", "name", "debit", "credit", "balance"])
            for line in lines:
                writer.writerow(
                    [
                        line.business_date,
                        line.kind,
                        line.reference,
                        line.account,
                        line.account_name,
                        line.debit,
                        line.credit,
                        line.balance,
                    ]
                )
            return response
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Account statement of plan %(plan)s") % {"plan": plan.display_name},
            "plan": plan,
            "lines": lines,
            "balances": trial_balance(as_of=date.max, plan_id=plan.pk),
            "csv_url": "?format=csv",
        }
        return TemplateResponse(request, "admin/installments/plan_statement.html", context)
