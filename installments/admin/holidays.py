"""Payment holidays (还款假期) in the staff workspace: the "Payment holiday" page (reached per plan from the
customer workspace), the read-only list in words, and the approver's Approve / Reject pages for holidays of
more than ``HOLIDAY_APPROVAL_ABOVE_PERIODS`` periods. Every step is a service call
(``installments.services.holidays``); the rows and the customer's ``StaffAction``s are the audit."""

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
from core.admin_display import MoneyAdminMixin
from core.admin_forms import SecondPersonMixin, show_on_form
from core.errors import ApplicationError
from installments.ledger import PAYABLE_PLAN_STATUSES
from installments.models import HolidayReason, HolidayState, InstallmentPlan, PaymentHoliday
from installments.services import (
    APPROVE_HOLIDAY_PERMISSION,
    holiday_approval_threshold,
    holiday_approve,
    holiday_options,
    holiday_propose,
    holiday_reject,
)


class HolidayForm(forms.Form):
    plan = forms.ModelChoiceField(queryset=InstallmentPlan.objects.none(), label=_("plan"))
    periods = forms.IntegerField(label=_("periods to skip"), min_value=1, max_value=36, initial=1)
    reason = forms.ChoiceField(label=_("reason"), choices=HolidayReason.choices)
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


@admin.register(PaymentHoliday)
class PaymentHolidayAdmin(MoneyAdminMixin, SecondPersonMixin, admin.ModelAdmin):
    approve_label = _("Approve and offer")

    list_display = (
        "created_at",
        "plan",
        "periods",
        "fee",
        "next_due_before",
        "next_due_after",
        "reason",
        "state",
        "proposed_by",
        "approved_by",
        "action_buttons",
    )
    list_filter = ("state", "reason")
    search_fields = ("plan__public_id", "plan__merchant_order_ref")
    list_select_related = ("plan", "proposed_by", "approved_by")
    fields = (
        "plan",
        "periods",
        "reason",
        "note",
        "state",
        "fee",
        "first_sequence",
        "installments_moved",
        "next_due_before",
        "next_due_after",
        "last_due_before",
        "last_due_after",
        "next_amount_after",
        "apr_percent_before",
        "apr_percent_after",
        "proposed_by",
        "created_at",
        "approved_by",
        "decided_at",
        "decision_note",
        "offered_at",
        "offered_until",
        "closed_at",
        "action_buttons",
    )
    readonly_fields = fields

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description=_("actions"))
    def action_buttons(self, obj: PaymentHoliday) -> str:
        if obj.state != HolidayState.AWAITING_APPROVAL:
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
        """ "Payment holiday": ``?customer=<pk>&plan=<pk>`` from the workspace fills the plan in."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        customer_id = _int(request.GET.get("customer"))
        plan_id = _int(request.GET.get("plan"))
        form = HolidayForm(
            request.POST if request.method == "POST" else None,
            customer_id=customer_id,
            initial={"plan": plan_id, "periods": 1, "reason": HolidayReason.HARDSHIP},
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                holiday = holiday_propose(
                    plan=data["plan"],
                    periods=data["periods"],
                    reason=data["reason"],
                    note=data["note"],
                    actor=signed_in_user(request),
                )
            except ApplicationError as exc:
                show_on_form(form, exc)
            else:
                self.log_addition(request, holiday, [{"added": {}}])
                if holiday.state == HolidayState.OFFERED:
                    messages.success(request, _("Payment holiday offered; the customer is told by SMS."))
                else:
                    messages.warning(
                        request,
                        _("More than %(limit)s period(s): the holiday now waits for an approver.")
                        % {"limit": holiday_approval_threshold()},
                    )
                return HttpResponseRedirect(
                    reverse("admin:support_customer", args=[data["plan"].customer_id])
                )
        return self.form_page(request, form, _("Payment holiday"), self._intro(plan_id))

    def _intro(self, plan_id: int | None) -> str:
        text = str(
            _(
                "Each open installment from the next unpaid one moves the chosen number of months later; the "
                "customer accepts it with an SMS code. Up to %(limit)s period(s) it is offered at once; more "
                "waits for an approver."
            )
            % {"limit": holiday_approval_threshold()}
        )
        plan = (
            InstallmentPlan.objects.select_related("product").filter(pk=plan_id).first()
            if plan_id is not None
            else None
        )
        if plan is None:
            return text
        lines = []
        for option in holiday_options(plan=plan):
            quote = option.quote
            if quote is None:
                lines.append(
                    str(_("%(n)s: not possible (%(why)s)")) % {"n": option.periods, "why": option.refusal}
                )
            else:
                lines.append(
                    str(_("%(n)s: next due %(before)s -> %(after)s, fee ¥%(fee)s, APR %(apr)s%%"))
                    % {
                        "n": option.periods,
                        "before": quote.next_due_before.isoformat(),
                        "after": quote.next_due_after.isoformat(),
                        "fee": f"{quote.fee:,.2f}",
                        "apr": quote.apr_percent_after,
                    }
                )
        return f"{text} " + "; ".join(lines)

    def _awaiting(self, request: AuthenticatedHttpRequest, pk: int) -> PaymentHoliday:
        if not request.user.has_perm(APPROVE_HOLIDAY_PERMISSION):
            raise PermissionDenied
        return get_object_or_404(PaymentHoliday.objects.select_related("plan", "proposed_by"), pk=pk)

    def _summary(self, holiday: PaymentHoliday) -> str:
        return str(
            _(
                "%(who)s proposes skipping %(n)s period(s) on %(plan)s: next due %(before)s -> %(after)s, "
                "fee ¥%(fee)s. Reason: %(reason)s. %(note)s"
            )
            % {
                "who": holiday.proposed_by,
                "n": holiday.periods,
                "plan": holiday.plan,
                "before": holiday.next_due_before.isoformat(),
                "after": holiday.next_due_after.isoformat(),
                "fee": f"{holiday.fee:,.2f}",
                "reason": holiday.get_reason_display(),
                "note": holiday.note,
            }
        )

    def approve_view(self, request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
        holiday = self._awaiting(request, pk)
        form = ApproveForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                holiday_approve(holiday=holiday, actor=request.user)
            except ApplicationError as exc:
                show_on_form(form, exc)
            else:
                self.log_change(request, holiday, "approved")
                messages.success(
                    request, _("Payment holiday approved and offered; the customer is told by SMS.")
                )
                return HttpResponseRedirect(reverse("admin:installments_paymentholiday_changelist"))
        return self.form_page(request, form, _("Approve the payment holiday"), self._summary(holiday))

    def reject_view(self, request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
        holiday = self._awaiting(request, pk)
        form = RejectForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                holiday_reject(holiday=holiday, actor=request.user, note=form.cleaned_data["note"])
            except ApplicationError as exc:
                show_on_form(form, exc)
            else:
                self.log_change(request, holiday, "rejected")
                messages.success(request, _("Payment holiday rejected: nothing changed on the plan."))
                return HttpResponseRedirect(reverse("admin:installments_paymentholiday_changelist"))
        return self.form_page(request, form, _("Reject the payment holiday"), self._summary(holiday))
