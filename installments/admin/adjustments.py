"""Staff waivers (减免) in the workspace: the "Waive a penalty or fee" page (reached from the customer
workspace with the plan filled in), the list of waivers, and the approver's Approve / Reject pages for those
above ``ADJUSTMENT_APPROVAL_ABOVE``. Every step is a service call (``installments.services.adjustments``);
the rows and the customer's ``StaffAction``s are the audit."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, reverse
from django.utils.translation import gettext_lazy as _

from accounts.http import AuthenticatedHttpRequest, signed_in_user
from core.admin_forms import SecondPersonMixin, show_on_form
from core.errors import ApplicationError
from core.money_input import AsciiDecimalField
from installments.ledger import PAYABLE_PLAN_STATUSES, installment_rows, open_component
from installments.models import Adjustment, AdjustmentKind, AdjustmentReason, AdjustmentState, InstallmentPlan
from installments.services import (
    APPROVE_ADJUSTMENT_PERMISSION,
    adjustment_approval_threshold,
    adjustment_approve,
    adjustment_create,
    adjustment_reject,
)


class AdjustmentForm(forms.Form):
    plan = forms.ModelChoiceField(queryset=InstallmentPlan.objects.none(), label=_("plan"))
    kind = forms.ChoiceField(
        label=_("what to waive"), choices=AdjustmentKind.choices, widget=forms.RadioSelect
    )
    amount = AsciiDecimalField(label=_("amount"), max_digits=14, decimal_places=2, min_value=0)
    reason_code = forms.ChoiceField(label=_("reason"), choices=AdjustmentReason.choices)
    note = forms.CharField(
        label=_("note"), max_length=255, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, customer_id: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plans = InstallmentPlan.objects.filter(status__in=PAYABLE_PLAN_STATUSES).select_related("customer")
        if customer_id is not None:
            plans = plans.filter(customer_id=customer_id)
        field = cast(forms.ModelChoiceField, self.fields["plan"])
        field.queryset = plans.order_by("-id")


class RejectForm(forms.Form):
    note = forms.CharField(label=_("reason"), max_length=255, widget=forms.Textarea(attrs={"rows": 3}))


class ApproveForm(forms.Form):
    pass


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@admin.register(Adjustment)
class AdjustmentAdmin(SecondPersonMixin, admin.ModelAdmin):
    approve_label = _("Approve and apply")

    list_display = (
        "created_at",
        "plan",
        "kind",
        "amount_display",
        "reason_code",
        "state",
        "requested_by",
        "approved_by",
        "action_buttons",
    )
    list_filter = ("state", "kind", "reason_code")
    search_fields = ("plan__public_id", "plan__merchant_order_ref")
    list_select_related = ("plan", "requested_by", "approved_by")
    fields = (
        "plan",
        "kind",
        "amount_display",
        "reason_code",
        "note",
        "state",
        "requested_by",
        "created_at",
        "approved_by",
        "decided_at",
        "decision_note",
        "action_buttons",
    )
    readonly_fields = fields

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description=_("amount"), ordering="amount")
    def amount_display(self, obj: Adjustment) -> str:
        return f"¥{obj.amount:,.2f}"

    @admin.display(description=_("actions"))
    def action_buttons(self, obj: Adjustment) -> str:
        if obj.state != AdjustmentState.REQUESTED:
            return ""
        return self.review_buttons(obj.pk)

    def get_urls(self) -> list[URLPattern]:
        return [
            *self.review_urls(),
            *super().get_urls(),
        ]

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        """ "Waive a penalty or fee": ``?customer=<pk>&plan=<pk>`` from the workspace fills the plan in."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        customer_id = _int(request.GET.get("customer"))
        plan_id = _int(request.GET.get("plan"))
        form = AdjustmentForm(
            request.POST if request.method == "POST" else None,
            customer_id=customer_id,
            initial={"plan": plan_id, "kind": AdjustmentKind.WAIVE_PENALTY},
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                adjustment = adjustment_create(
                    plan=data["plan"],
                    kind=data["kind"],
                    amount=data["amount"],
                    reason_code=data["reason_code"],
                    note=data["note"],
                    actor=signed_in_user(request),
                )
            except ApplicationError as exc:
                show_on_form(form, exc)
            else:
                self.log_addition(request, adjustment, [{"added": {}}])
                if adjustment.state == AdjustmentState.APPLIED:
                    messages.success(request, _("Waiver applied; the customer is told by SMS."))
                else:
                    messages.warning(
                        request,
                        _("Above ¥%(limit)s: the waiver now waits for a second staff member to approve it.")
                        % {"limit": f"{adjustment_approval_threshold():,.2f}"},
                    )
                return HttpResponseRedirect(
                    reverse("admin:support_customer", args=[data["plan"].customer_id])
                )
        return self.form_page(request, form, _("Waive a penalty or fee"), self._intro(plan_id))

    def _intro(self, plan_id: int | None) -> str:
        limit = f"{adjustment_approval_threshold():,.2f}"
        text = str(
            _("Up to ¥%(limit)s it applies at once; above, a second staff member approves it.")
            % {"limit": limit}
        )
        if plan_id is None:
            return text
        rows = installment_rows([plan_id], open_only=True).get(plan_id, [])
        open_now = str(_("Open now on this plan: penalty ¥%(penalty)s, fee ¥%(fee)s.")) % {
            "penalty": f"{open_component(rows, 'penalty'):,.2f}",
            "fee": f"{open_component(rows, 'fee'):,.2f}",
        }
        return f"{open_now} {text}"

    def _requested(self, request: AuthenticatedHttpRequest, pk: int) -> Adjustment:
        if not request.user.has_perm(APPROVE_ADJUSTMENT_PERMISSION):
            raise PermissionDenied
        return get_object_or_404(Adjustment.objects.select_related("plan", "requested_by"), pk=pk)

    def _summary(self, adjustment: Adjustment) -> str:
        return str(
            _("%(who)s asks to %(kind)s ¥%(amount)s on %(plan)s: %(reason)s. %(note)s")
            % {
                "who": adjustment.requested_by,
                "kind": adjustment.get_kind_display(),
                "amount": f"{adjustment.amount:,.2f}",
                "plan": adjustment.plan,
                "reason": adjustment.get_reason_code_display(),
                "note": adjustment.note,
            }
        )

    def approve_view(self, request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
        adjustment = self._requested(request, pk)
        form = ApproveForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                adjustment_approve(adjustment=adjustment, actor=request.user)
            except ApplicationError as exc:
                show_on_form(form, exc)
            else:
                self.log_change(request, adjustment, "approved")
                messages.success(request, _("Waiver approved and applied; the customer is told by SMS."))
                return HttpResponseRedirect(reverse("admin:installments_adjustment_changelist"))
        return self.form_page(request, form, _("Approve the waiver"), self._summary(adjustment))

    def reject_view(self, request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
        adjustment = self._requested(request, pk)
        form = RejectForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                adjustment_reject(adjustment=adjustment, actor=request.user, note=form.cleaned_data["note"])
            except ApplicationError as exc:
                show_on_form(form, exc)
            else:
                self.log_change(request, adjustment, "rejected")
                messages.success(request, _("Waiver rejected: nothing changed on the plan."))
                return HttpResponseRedirect(reverse("admin:installments_adjustment_changelist"))
        return self.form_page(request, form, _("Reject the waiver"), self._summary(adjustment))
