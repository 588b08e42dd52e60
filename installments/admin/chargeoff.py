"""核销 in the staff workspace: a charged-off plan's Undo page (on its business day) and the undo requests
waiting for a second staff member (maker-checker above ``CHARGE_OFF_UNDO_APPROVAL_ABOVE``). Every step is a
service call (``installments.services.chargeoff``); the request rows are the audit."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, reverse
from django.utils.translation import gettext_lazy as _

from accounts.http import AuthenticatedHttpRequest
from core.admin_display import MoneyAdminMixin, age_text, state_filter
from core.admin_forms import SecondPersonMixin, ServiceFormMixin, show_on_form
from core.errors import ApplicationError
from core.money import format_yuan
from installments.models import ChargeOffUndo, ChargeOffUndoState, InstallmentPlan
from installments.services import (
    APPROVE_UNDO_PERMISSION,
    charge_off_undo_approve,
    charge_off_undo_reject,
    charge_off_undo_request,
)


class UndoRequestForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=255, widget=forms.Textarea(attrs={"rows": 3}))


class ApproveForm(forms.Form):
    pass


class RejectForm(forms.Form):
    note = forms.CharField(label=_("reason"), max_length=255, widget=forms.Textarea(attrs={"rows": 3}))


def undo_request_view(
    model_admin: ServiceFormMixin, request: AuthenticatedHttpRequest, pk: int
) -> HttpResponse:
    """The plan admin's "Undo charge-off" page: a reason, then the service decides (done or awaiting
    approval)."""
    if not request.user.is_staff:
        raise PermissionDenied
    plan = get_object_or_404(InstallmentPlan, pk=pk)
    form = UndoRequestForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            undo = charge_off_undo_request(staff=request.user, plan=plan, reason=form.cleaned_data["reason"])
        except ApplicationError as exc:
            show_on_form(form, exc)
        else:
            if undo.state == ChargeOffUndoState.DONE:
                messages.success(request, _("Charge-off undone: the plan is overdue again."))
            else:
                messages.warning(
                    request, _("The amount is above the threshold: the undo now waits for a second approver.")
                )
            return HttpResponseRedirect(reverse("admin:installments_installmentplan_change", args=[plan.pk]))
    intro = _(
        "Charged off on %(date)s. Undoing it puts the plan back to overdue, with reminders and auto-debit, "
        "and writes a credit event. Possible on the charge-off's business day only."
    ) % {"date": plan.charged_off_on}
    return model_admin.form_page(request, form, _("Undo the charge-off: %(plan)s") % {"plan": plan}, intro)


@admin.register(ChargeOffUndo)
class ChargeOffUndoAdmin(MoneyAdminMixin, SecondPersonMixin, admin.ModelAdmin):
    """The approvers' queue: requests awaiting approval, oldest first, with how long each has waited;
    "All" shows the decided ones too."""

    approve_label = _("Approve and undo")

    list_display = (
        "plan",
        "charged_off_on",
        "amount",
        "state",
        "requested_by",
        "decided_by",
        "created_at",
        "age",
        "action_buttons",
    )
    list_filter = (
        state_filter(
            "state", _("state"), ChargeOffUndoState.choices, default=ChargeOffUndoState.PENDING_APPROVAL
        ),
        "charged_off_on",
    )
    ordering = ("created_at", "id")
    search_fields = ("plan__public_id", "plan__customer__phone")
    list_select_related = ("plan", "requested_by", "decided_by")
    fields = (
        "plan",
        "charged_off_on",
        "amount",
        "reason",
        "state",
        "requested_by",
        "created_at",
        "decided_by",
        "decided_at",
        "decision_note",
        "action_buttons",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description=_("waiting"), ordering="created_at")
    def age(self, obj: ChargeOffUndo) -> str:
        if obj.state != ChargeOffUndoState.PENDING_APPROVAL:
            return "-"
        return str(age_text(obj.created_at))

    @admin.display(description=_("actions"))
    def action_buttons(self, obj: ChargeOffUndo) -> str:
        if obj.state != ChargeOffUndoState.PENDING_APPROVAL:
            return ""
        return self.review_buttons(obj.pk)

    def get_urls(self) -> list[URLPattern]:
        return [
            *self.review_urls(),
            *super().get_urls(),
        ]

    def _undo_request(self, request: AuthenticatedHttpRequest, pk: int) -> ChargeOffUndo:
        if not request.user.has_perm(APPROVE_UNDO_PERMISSION):
            raise PermissionDenied
        return get_object_or_404(ChargeOffUndo.objects.select_related("plan", "requested_by"), pk=pk)

    def approve_view(self, request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
        undo = self._undo_request(request, pk)
        form = ApproveForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                charge_off_undo_approve(staff=request.user, request=undo)
            except ApplicationError as exc:
                show_on_form(form, exc)
            else:
                self.log_change(request, undo, _("Approved: the charge-off is undone."))
                messages.success(request, _("Charge-off undone: the plan is overdue again."))
                return HttpResponseRedirect(reverse("admin:installments_chargeoffundo_changelist"))
        intro = _("Asked by %(who)s: %(reason)s. Open amount %(amount)s.") % {
            "who": undo.requested_by,
            "reason": undo.reason,
            "amount": format_yuan(undo.amount),
        }
        return self.form_page(request, form, _("Approve undoing the charge-off"), intro)

    def reject_view(self, request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
        undo = self._undo_request(request, pk)
        form = RejectForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                charge_off_undo_reject(staff=request.user, request=undo, note=form.cleaned_data["note"])
            except ApplicationError as exc:
                show_on_form(form, exc)
            else:
                self.log_change(
                    request, undo, _("Rejected: %(reason)s") % {"reason": form.cleaned_data["note"]}
                )
                messages.success(request, _("Undo rejected: the plan stays charged off."))
                return HttpResponseRedirect(reverse("admin:installments_chargeoffundo_changelist"))
        return self.form_page(request, form, _("Reject undoing the charge-off"), undo.reason)
