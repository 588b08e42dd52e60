"""Cards and repayments in the staff workspace. Staff act only through services, so every action is
audited (RepaymentEvent: who, when, why) and follows the same rules as the customer channels."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from accounts.http import AuthenticatedHttpRequest, signed_in_user
from accounts.models import User
from core.admin_display import MoneyAdminMixin, age_text, period_filter, state_filter
from core.admin_forms import ServiceFormMixin, show_as_message, show_on_form
from core.errors import ApplicationError
from core.money import format_yuan
from core.money_input import AsciiDecimalField
from installments.models import InstallmentPlan
from repayments.gateway import ChargeStatus
from repayments.labels import (
    EVENT_DATA_LABELS,
    REASONS,
    event_kind_label,
    failure_reason,
    system_reason_label,
    webhook_kind_label,
)
from repayments.models import (
    Allocation,
    AutoDebitMandate,
    BankCard,
    BankWebhookEvent,
    BreakState,
    DebitAttempt,
    DebitRun,
    DebitRunStatus,
    ReconciliationBreak,
    Repayment,
    RepaymentChannel,
    RepaymentEvent,
    RepaymentStatus,
    SettlementFile,
)
from repayments.selectors import customer_summary, customer_workspace
from repayments.services import (
    PAYMENT_LINK_PERMISSION,
    SWITCH_AUTODEBIT_PERMISSION,
    UNLOCK_SIGNIN_PERMISSION,
    autodebit_switch_for_customer,
    customer_phone_reveal,
    payment_link_send,
    reconciliation_break_resolve,
    repayment_record_offline,
    repayment_reverse,
    signin_unlock,
    slots,
)
from repayments.support_selectors import customer_audit, customer_search
from repayments.tasks import debit_slot

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


# The customer 360's tabs (templates/admin/support/customer.html), in the order shown.
CUSTOMER_TABS = [
    ("plans", _("Plans")),
    ("payments", _("Payments")),
    ("debits", _("Debit attempts")),
    ("sms", _("SMS")),
    ("documents", _("Documents")),
    ("contacts", _("Contacts")),
    ("audit", _("Audit")),
]


@admin.register(BankCard)
class BankCardAdmin(admin.ModelAdmin):
    list_display = ("__str__", "customer", "card_type", "is_default", "status", "bound_at")
    list_filter = ("status", "card_type", "bank_code")
    search_fields = ("customer__phone", "last4")
    list_select_related = ("customer",)
    fields = (
        "public_id", "customer", "bank_name", "bank_code", "card_type", "last4", "reserved_phone_masked",
        "is_default", "status", "bound_at", "removed_at",
    )  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # customers bind their own cards, with an SMS code

    def has_delete_permission(self, request: HttpRequest, obj: BankCard | None = None) -> bool:
        return False


@admin.register(AutoDebitMandate)
class AutoDebitMandateAdmin(admin.ModelAdmin):
    list_display = ("plan", "card", "enabled", "updated_at")
    list_filter = ("enabled",)
    list_select_related = ("plan", "card")
    readonly_fields = ("plan", "card", "enabled", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class AllocationInline(MoneyAdminMixin, admin.TabularInline):
    model = Allocation
    extra = 0
    can_delete = False
    fields = ("installment", "component", "amount", "waived", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Repayment | None = None) -> bool:
        return False


def event_details(data: dict[str, object]) -> str:
    """An event's facts as "label: value" lines: amounts in ¥, reasons, channels and states in words."""
    words = {
        "code": failure_reason,
        "previous_failure_code": failure_reason,
        "previous_status": lambda v: str(dict(RepaymentStatus.choices).get(v, v)),
        "channel": lambda v: str(dict(RepaymentChannel.choices).get(v, v)),
        "amount": format_yuan,
    }
    rows = [
        (str(EVENT_DATA_LABELS.get(key, key)), words.get(key, str)(value))
        for key, value in (data or {}).items()
        if value not in ("", None)
    ]
    return format_html_join("\n", "<div>{}: {}</div>", rows) or "-"


class RepaymentEventInline(admin.TabularInline):
    model = RepaymentEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "kind_words", "actor", "reason_words", "details")
    readonly_fields = fields

    @admin.display(description=_("what happened"))
    def kind_words(self, obj: RepaymentEvent) -> str:
        return event_kind_label(obj.kind)

    @admin.display(description=_("reason"))
    def reason_words(self, obj: RepaymentEvent) -> str:
        return system_reason_label(obj.reason) if obj.actor_id is None else obj.reason

    @admin.display(description=_("details"))
    def details(self, obj: RepaymentEvent) -> str:
        return event_details(obj.data)

    def has_add_permission(self, request: HttpRequest, obj: Repayment | None = None) -> bool:
        return False


def _offline_plans() -> QuerySet[InstallmentPlan]:
    return InstallmentPlan.objects.filter(status__in=["active", "overdue"]).select_related("customer")


class OfflinePaymentForm(forms.Form):
    plan = forms.ModelChoiceField(queryset=_offline_plans(), label=_("plan"))
    amount = AsciiDecimalField(label=_("amount"), max_digits=14, decimal_places=2, min_value=0)
    reference = forms.CharField(label=_("bank transfer reference"), max_length=50)
    note = forms.CharField(label=_("note"), max_length=255, required=False)

    def __init__(self, *args: Any, customer_id: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if customer_id is not None:  # from the customer workspace: that customer's plans only
            field = cast(forms.ModelChoiceField, self.fields["plan"])
            field.queryset = _offline_plans().filter(customer_id=customer_id)


class AutoDebitSwitchForm(forms.Form):
    enabled = forms.TypedChoiceField(
        label=_("auto-debit"),
        choices=[("1", _("turn on")), ("0", _("turn off"))],
        coerce=lambda value: value == "1",
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        label=_("reason (what the customer asked)"), max_length=255, widget=forms.Textarea(attrs={"rows": 3})
    )


class UnlockForm(forms.Form):
    reason = forms.CharField(
        label=_("reason (how the customer was identified)"),
        max_length=255,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


class ReversalForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=255, widget=forms.Textarea(attrs={"rows": 3}))


class FailureReasonFilter(admin.SimpleListFilter):
    """The failure codes as the words staff read on the page (``repayments.labels``), not the codes."""

    title = _("failure reason")
    parameter_name = "failure_code"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, StrOrPromise]]:
        return list(REASONS.items())

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        return queryset.filter(failure_code=self.value()) if self.value() else queryset


@admin.register(Repayment)
class RepaymentAdmin(MoneyAdminMixin, ServiceFormMixin, admin.ModelAdmin):
    """The payments list support opens when a customer calls about a charge: the last 7 days, newest first,
    unless another period is chosen ("All" keeps every payment reachable)."""

    list_display = (
        "public_id", "customer", "plan", "amount", "channel", "mode", "status", "failure_words",
        "requested_at",
    )  # fmt: skip
    list_filter = (
        period_filter("requested_at", _("requested"), default="7d"), "status", "channel", "mode",
        FailureReasonFilter,
    )  # fmt: skip
    search_fields = ("public_id", "customer__phone", "gateway_reference", "idempotency_key")
    list_select_related = ("customer", "plan", "card")
    date_hierarchy = "requested_at"
    inlines = [AllocationInline, RepaymentEventInline]
    fields = (
        "public_id", "customer", "plan", "amount", "mode", "channel", "status", "card_display",
        "scheduled_for", "gateway_reference", "failure_words", "failure_message", "note", "created_by",
        "requested_at", "charge_attempted_at", "settled_at", "reverse_link",
    )  # fmt: skip
    readonly_fields = fields

    def has_delete_permission(self, request: HttpRequest, obj: Repayment | None = None) -> bool:
        return False

    @admin.display(description=_("failure reason"), ordering="failure_code")
    def failure_words(self, obj: Repayment) -> str:
        return obj.failure_reason or "-"

    @admin.display(description=_("card"))
    def card_display(self, obj: Repayment) -> str:
        return obj.card_display

    @admin.display(description=_("reverse"))
    def reverse_link(self, obj: Repayment) -> str:
        if obj.status != RepaymentStatus.SUCCEEDED:
            return "-"
        url = reverse("admin:repayments_repayment_reverse", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, _("Reverse this repayment"))

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "customer/<int:user_id>/",
                self.admin_site.admin_view(self.customer_view),
                name="support_customer",
            ),
            path(
                "customer/<int:user_id>/payment-link/",
                self.admin_site.admin_view(self.payment_link_view),
                name="support_payment_link",
            ),
            path(
                "customer/<int:user_id>/autodebit/<int:plan_id>/",
                self.admin_site.admin_view(self.autodebit_switch_view),
                name="support_autodebit_switch",
            ),
            path(
                "customer/<int:user_id>/unlock/",
                self.admin_site.admin_view(self.unlock_view),
                name="support_signin_unlock",
            ),
            path(
                "customer/<int:user_id>/reveal-phone/",
                self.admin_site.admin_view(self.reveal_phone_view),
                name="support_customer_reveal_phone",
            ),
            path(
                "customer/search/",
                self.admin_site.admin_view(self.customer_search_view),
                name="support_customer_search",
            ),
            path(
                "<int:pk>/reverse/",
                self.admin_site.admin_view(self.reverse_view),
                name="repayments_repayment_reverse",
            ),
            *super().get_urls(),
        ]

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        """'Add repayment' records an offline payment (bank transfer) through the service; from the customer
        workspace ``?customer=<pk>&plan=<pk>`` narrows the plans to that customer's and picks the plan."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = OfflinePaymentForm(
            request.POST or None,
            customer_id=_int(request.GET.get("customer")),
            initial={"plan": _int(request.GET.get("plan"))},
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                repayment = repayment_record_offline(
                    staff=signed_in_user(request),
                    plan=data["plan"],
                    amount=data["amount"],
                    reference=data["reference"],
                    note=data["note"],
                )
            except ApplicationError as exc:
                show_on_form(form, exc)
            else:
                self.log_addition(request, repayment, [{"added": {}}])
                messages.success(request, _("Offline payment recorded and allocated."))
                return HttpResponseRedirect(reverse("admin:repayments_repayment_change", args=[repayment.pk]))
        return self.form_page(
            request,
            form,
            _("Record an offline payment"),
            _("For money received by bank transfer. It is allocated at once, oldest installment first."),
        )

    def _may_see_customers(self, request: HttpRequest) -> bool:
        return request.user.has_perm("installments.review_negotiation") or self.has_view_permission(request)

    def customer_view(
        self, request: AuthenticatedHttpRequest, user_id: int, revealed_phone: str = ""
    ) -> HttpResponse:
        """The customer 360: the header (``customer_summary``) and one tab of the customer's history."""
        if not self._may_see_customers(request):
            raise PermissionDenied
        customer = get_object_or_404(User, pk=user_id, is_staff=False)
        tab = request.GET.get("tab", "plans")
        if tab not in dict(CUSTOMER_TABS):
            tab = "plans"
        context = {
            **self.admin_site.each_context(request),
            "title": _("Customer %(name)s") % {"name": customer.masked_name},
            "ws": customer_workspace(customer=customer),
            "summary": customer_summary(customer),
            "tabs": CUSTOMER_TABS,
            "tab": tab,
            "audit": customer_audit(customer=customer) if tab == "audit" else [],
            "revealed_phone": revealed_phone,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/support/customer.html", context)

    @method_decorator(require_POST)
    def payment_link_view(self, request: AuthenticatedHttpRequest, user_id: int) -> HttpResponse:
        """The workspace's 发送还款链接 button: one POST naming the plan; the service checks the permission
        and the contact gate, and the answer (sent, or refused with its code) shows on the workspace."""
        if not request.user.has_perm(PAYMENT_LINK_PERMISSION):
            raise PermissionDenied
        plan = get_object_or_404(InstallmentPlan, pk=request.POST.get("plan") or 0, customer_id=user_id)
        try:
            payment_link_send(staff=request.user, plan=plan)
        except ApplicationError as exc:
            show_as_message(request, exc, subject=plan.display_name)
        else:
            messages.success(
                request, _("Payment link sent by SMS for %(plan)s.") % {"plan": plan.display_name}
            )
        return HttpResponseRedirect(reverse("admin:support_customer", args=[user_id]))

    def autodebit_switch_view(
        self, request: AuthenticatedHttpRequest, user_id: int, plan_id: int
    ) -> HttpResponse:
        """Switch a plan's auto-debit on or off at the customer's request (the card stays as it is)."""
        if not request.user.has_perm(SWITCH_AUTODEBIT_PERMISSION):
            raise PermissionDenied
        plan = get_object_or_404(
            InstallmentPlan.objects.select_related("customer"), pk=plan_id, customer_id=user_id
        )
        mandate = AutoDebitMandate.objects.filter(plan=plan).select_related("card").first()
        on_now = bool(mandate and mandate.enabled)
        form = AutoDebitSwitchForm(request.POST or None, initial={"enabled": "0" if on_now else "1"})
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                autodebit_switch_for_customer(
                    staff=request.user, plan=plan, enabled=data["enabled"], reason=data["reason"]
                )
            except ApplicationError as exc:
                show_on_form(form, exc)
            else:
                messages.success(request, _("Auto-debit switched; the customer is told by SMS."))
                return HttpResponseRedirect(reverse("admin:support_customer", args=[user_id]))
        state = _("on") if on_now else _("off")
        card = mandate.card if mandate else None
        return self.form_page(
            request,
            form,
            _("Switch auto-debit: %(plan)s") % {"plan": plan.display_name},
            _("Auto-debit is %(state)s now (card: %(card)s). The card stays: only the customer changes it.")
            % {"state": state, "card": card or "-"},
        )

    def unlock_view(self, request: AuthenticatedHttpRequest, user_id: int) -> HttpResponse:
        """Clear a customer's sign-in lockout at their request, once they are identified on the call."""
        if not request.user.has_perm(UNLOCK_SIGNIN_PERMISSION):
            raise PermissionDenied
        customer = get_object_or_404(User, pk=user_id)
        form = UnlockForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                signin_unlock(staff=request.user, customer=customer, reason=form.cleaned_data["reason"])
            except ApplicationError as exc:
                show_on_form(form, exc)
            else:
                messages.success(request, _("Sign-in unlocked; the customer is told by SMS."))
                return HttpResponseRedirect(reverse("admin:support_customer", args=[user_id]))
        return self.form_page(
            request,
            form,
            _("Unlock sign-in: %(name)s") % {"name": customer.masked_name},
            _(
                "Clears the pause after too many wrong passwords and any SMS code dead from wrong tries. "
                "Only for the customer themself, identified on the call."
            ),
        )

    def reveal_phone_view(self, request: AuthenticatedHttpRequest, user_id: int) -> HttpResponse:
        """The 360 header's "show the number": POST only (CSRF), the reveal right, one audit row per
        reveal; the number is shown in this response and nowhere else (never stored, never logged)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not (self._may_see_customers(request) and request.user.has_perm("accounts.reveal_phone")):
            raise PermissionDenied
        customer = get_object_or_404(User, pk=user_id, is_staff=False)
        try:
            phone = customer_phone_reveal(staff=signed_in_user(request), customer=customer)
        except ApplicationError as exc:
            show_as_message(request, exc)
            return HttpResponseRedirect(reverse("admin:support_customer", args=[customer.pk]))
        response = self.customer_view(request, user_id, revealed_phone=phone)
        response["Cache-Control"] = "no-store"
        return response

    def customer_search_view(self, request: AuthenticatedHttpRequest) -> HttpResponse:
        """The start page's one search box: name, phone in any spelling, plan or repayment id, card tail +
        name. Customers only, masked."""
        if not self._may_see_customers(request):
            raise PermissionDenied
        query = request.GET.get("q", "").strip()[:100]
        context = {
            **self.admin_site.each_context(request),
            "title": _("Find a customer"),
            "query": query,
            "hits": customer_search(query) if query else [],
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/support/search.html", context)

    def reverse_view(self, request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        repayment = get_object_or_404(Repayment, pk=pk)
        form = ReversalForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                repayment_reverse(staff=request.user, repayment=repayment, reason=form.cleaned_data["reason"])
            except ApplicationError as exc:
                show_on_form(form, exc)
            else:
                self.log_change(
                    request,
                    repayment,
                    _("Reversed and refunded: %(reason)s") % {"reason": form.cleaned_data["reason"]},
                )
                messages.success(request, _("Repayment reversed and refunded."))
                return HttpResponseRedirect(reverse("admin:repayments_repayment_change", args=[repayment.pk]))
        return self.form_page(
            request,
            form,
            _("Reverse repayment %(id)s of %(amount)s")
            % {"id": repayment.public_id, "amount": format_yuan(repayment.amount)},
            _("The money is refunded to the card and the allocations are taken off the installments."),
        )


class RunSlotForm(forms.Form):
    slot = forms.TypedChoiceField(label=_("slot"), coerce=int, choices=())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["slot"]).choices = [
            (i, t) for i, t in enumerate(slots(), start=1)
        ]


def slot_time(slot: int) -> str:
    """A slot as the time it runs ("08:00"), from ``AUTODEBIT_SLOTS``; a slot the setting no longer has
    (the times changed since) keeps its number."""
    times = slots()
    return times[slot - 1] if 1 <= slot <= len(times) else f"#{slot}"


# A running run's list and page reload themselves this often (seconds), and stop once it has finished.
RUN_REFRESH_SECONDS = 5


@admin.register(DebitRun)
class DebitRunAdmin(MoneyAdminMixin, ServiceFormMixin, admin.ModelAdmin):
    list_display = (
        "business_date", "slot_at", "status", "ledger", "progress", "attempts", "succeeded", "failed",
        "amount_charged", "failure_words", "duration",
    )  # fmt: skip
    list_filter = ("status", "business_date")
    readonly_fields = (*list_display, "started_at", "finished_at", "ledger_checked_at", "ledger_breach_list")
    fields = readonly_fields
    change_list_template = "admin/repayments/debitrun/change_list.html"
    change_form_template = "admin/repayments/debitrun/change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: DebitRun | None = None) -> bool:
        return False

    @staticmethod
    def can_run_now(request: HttpRequest) -> bool:
        """Reading runs is for support too; starting a slot moves money, so it needs the change right
        (operators, superusers), not just the view right agents have."""
        return request.user.is_staff and request.user.has_perm("repayments.change_debitrun")

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        running = DebitRun.objects.filter(status=DebitRunStatus.RUNNING).exists()
        return super().changelist_view(
            request,
            {
                **(extra_context or {}),
                "can_run_now": self.can_run_now(request),
                "refresh_seconds": RUN_REFRESH_SECONDS if running else None,
            },
        )

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        running = DebitRun.objects.filter(pk=object_id, status=DebitRunStatus.RUNNING).exists()
        extra = {**(extra_context or {}), "refresh_seconds": RUN_REFRESH_SECONDS if running else None}
        return super().change_view(request, object_id, form_url, extra)

    @admin.display(description=_("slot"), ordering="slot")
    def slot_at(self, obj: DebitRun) -> str:
        return slot_time(obj.slot)

    @admin.display(description=_("progress"))
    def progress(self, obj: DebitRun) -> StrOrPromise:
        if obj.chunks_total == 0 and obj.status == DebitRunStatus.FINISHED:
            return _("nothing was due")
        return _("%(done)d of %(total)d chunks") % {"done": obj.chunks_done, "total": obj.chunks_total}

    @admin.display(description=_("failures by reason"))
    def failure_words(self, obj: DebitRun) -> str:
        rows = sorted(obj.failures_by_reason.items(), key=lambda item: -item[1])
        return (
            format_html_join("\n", "<div>{}: {}</div>", ((failure_reason(code), n) for code, n in rows))
            or "-"
        )

    @admin.display(description=_("ledger"))
    def ledger(self, obj: DebitRun) -> StrOrPromise:
        if obj.ledger_checked_at is None:
            return _("not checked yet")
        if obj.ledger_breaches:
            return _("%(n)d breach(es)") % {"n": len(obj.ledger_breaches)}
        return _("bank = books")

    @admin.display(description=_("ledger breaches"))
    def ledger_breach_list(self, obj: DebitRun) -> str:
        return format_html_join("\n", "<div>{}</div>", ((b,) for b in obj.ledger_breaches)) or "–"

    @admin.display(description=_("duration"))
    def duration(self, obj: DebitRun) -> str:
        end = obj.finished_at or timezone.now()
        return f"{(end - obj.started_at).total_seconds():.1f} s"

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "run-now/", self.admin_site.admin_view(self.run_now_view), name="repayments_debitrun_run_now"
            ),
            *super().get_urls(),
        ]

    def run_now_view(self, request: HttpRequest) -> HttpResponse:
        """Run one of today's slots now on the workers; a slot already done charges nothing more."""
        if not self.can_run_now(request):
            raise PermissionDenied
        form = RunSlotForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            slot = form.cleaned_data["slot"]
            transaction.on_commit(lambda: debit_slot.delay(slot, timezone.localdate().isoformat()))
            messages.success(request, _("Today's %(time)s slot is queued.") % {"time": slot_time(slot)})
            return HttpResponseRedirect(reverse("admin:repayments_debitrun_changelist"))
        return self.form_page(
            request,
            form,
            _("Run today's auto-debit slot now"),
            _("The run is split into chunks for the workers; progress shows on the runs list."),
        )


@admin.register(DebitAttempt)
class DebitAttemptAdmin(MoneyAdminMixin, admin.ModelAdmin):
    """Today's debits first (a customer calls about this morning's charge); "All" lists every day."""

    list_display = (
        "business_date", "attempt_number", "plan", "card", "amount", "status", "failure_words", "created_at",
    )  # fmt: skip
    list_filter = (
        period_filter("business_date", _("business date"), default="today"),
        "status",
        FailureReasonFilter,
    )
    list_select_related = ("plan", "card")
    search_fields = ("plan__public_id", "plan__customer__phone")
    readonly_fields = (
        "run", "plan", "installment", "business_date", "attempt_number", "card", "amount", "repayment",
        "status", "failure_words", "created_at",
    )  # fmt: skip
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: DebitAttempt | None = None) -> bool:
        return False

    @admin.display(description=_("failure reason"), ordering="failure_code")
    def failure_words(self, obj: DebitAttempt) -> str:
        return failure_reason(obj.failure_code) or "-"


# --- T+1 reconciliation ------------------------------------------------------------------------------


@admin.register(SettlementFile)
class SettlementFileAdmin(MoneyAdminMixin, admin.ModelAdmin):
    list_display = (
        "business_date", "line_count", "matched_count", "open_breaks", "charged_total", "refunded_total",
        "fee_total", "fetched_at",
    )  # fmt: skip

    def get_queryset(self, request: HttpRequest) -> QuerySet[SettlementFile]:
        open_of_day = (
            ReconciliationBreak.objects.filter(business_date=OuterRef("business_date"), state=BreakState.OPEN)
            .values("business_date")
            .annotate(n=Count("id"))
            .values("n")
        )
        return super().get_queryset(request).annotate(open_break_count=Coalesce(Subquery(open_of_day), 0))

    @admin.display(description=_("open breaks"), ordering="open_break_count")
    def open_breaks(self, obj: SettlementFile) -> str:
        count = getattr(obj, "open_break_count", 0)
        if not count:
            return "0"
        url = reverse("admin:repayments_reconciliationbreak_changelist")
        query = f"?business_date={obj.business_date.isoformat()}&state__exact={BreakState.OPEN}"
        return format_html('<a href="{}{}"><strong>{}</strong></a>', url, query, count)

    readonly_fields = (
        "business_date", "fetched_at", "line_count", "matched_count", "charged_total", "refunded_total",
        "fee_total", "raw",
    )  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: SettlementFile | None = None) -> bool:
        return False


class ResolveBreakForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=255, widget=forms.Textarea(attrs={"rows": 3}))


@admin.register(ReconciliationBreak)
class ReconciliationBreakAdmin(MoneyAdminMixin, ServiceFormMixin, admin.ModelAdmin):
    """Finance's queue: the open breaks, oldest first, with how long each has waited; "All" shows the
    resolved ones too."""

    list_display = (
        "business_date", "kind", "severity", "state", "age", "gateway_key", "bank_amount", "book_amount",
        "resolved_by", "resolve_link",
    )  # fmt: skip
    list_filter = (
        state_filter("state", _("state"), BreakState.choices, default=BreakState.OPEN), "severity", "kind",
        "business_date",
    )  # fmt: skip
    ordering = ("business_date", "id")
    search_fields = ("gateway_key", "bank_reference")
    list_select_related = ("resolved_by",)
    fields = (
        "business_date", "kind", "severity", "state", "gateway_key", "bank_reference", "bank_amount",
        "book_amount", "repayment", "note", "resolved_by", "resolution", "resolved_at", "created_at",
        "resolve_link",
    )  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ReconciliationBreak | None = None) -> bool:
        return False

    @admin.display(description=_("waiting"), ordering="created_at")
    def age(self, obj: ReconciliationBreak) -> StrOrPromise:
        if obj.state != BreakState.OPEN:
            return "-"
        return age_text(obj.created_at)

    @admin.display(description=_("resolve"))
    def resolve_link(self, obj: ReconciliationBreak) -> str:
        if obj.state != BreakState.OPEN:
            return "-"
        url = reverse("admin:repayments_reconciliationbreak_resolve", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, _("Resolve"))

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:pk>/resolve/",
                self.admin_site.admin_view(self.resolve_view),
                name="repayments_reconciliationbreak_resolve",
            ),
            *super().get_urls(),
        ]

    def resolve_view(self, request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
        """Close a break with a reason, once the money was put right (docs/operations.md)."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        item = get_object_or_404(ReconciliationBreak, pk=pk)
        form = ResolveBreakForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            reason = form.cleaned_data["reason"]
            try:
                reconciliation_break_resolve(staff=request.user, item=item, reason=reason)
            except ApplicationError as exc:
                show_on_form(form, exc)
            else:
                self.log_change(request, item, _("Resolved: %(reason)s") % {"reason": reason})
                messages.success(request, _("Break resolved."))
                return HttpResponseRedirect(
                    reverse("admin:repayments_reconciliationbreak_change", args=[item.pk])
                )
        return self.form_page(
            request,
            form,
            _("Resolve the %(kind)s break of %(date)s (%(key)s)")
            % {"kind": item.get_kind_display(), "date": item.business_date, "key": item.gateway_key},
            _("Say what was done about it: the refund, the reversal, the bank's correction."),
        )


# --- the bank's result notifications -------------------------------------------------------------------


class WebhookKindFilter(admin.SimpleListFilter):
    """The event types the bank sends, listed from the contract rather than by a DISTINCT over a table
    that grows by a row per charge."""

    title = _("kind")
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        kinds = [f"charge.{status}" for status in ChargeStatus] + ["refund.succeeded"]
        return [(kind, webhook_kind_label(kind)) for kind in kinds]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        return queryset.filter(kind=self.value()) if self.value() else queryset


@admin.register(BankWebhookEvent)
class BankWebhookEventAdmin(admin.ModelAdmin):
    """Read only: the record of each bank notification acted on (its id refuses a replay). Seen by staff
    with the view permission; rows go after BANK_WEBHOOK_KEEP_DAYS (beat's prune, docs/operations.md)."""

    list_display = ("received_at", "kind_words", "event_id", "idempotency_key")
    list_filter = (WebhookKindFilter, "received_at")
    search_fields = ("=event_id", "=idempotency_key")
    date_hierarchy = "received_at"
    fields = ("event_id", "kind_words", "idempotency_key", "received_at")
    readonly_fields = fields

    @admin.display(description=_("kind"), ordering="kind")
    def kind_words(self, obj: BankWebhookEvent) -> str:
        return webhook_kind_label(obj.kind)

    show_full_result_count = False  # a large table: no second COUNT(*) per page

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: BankWebhookEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: BankWebhookEvent | None = None) -> bool:
        return False


# 投诉: its own module (the queue, the steps, filing for a caller); importing it registers it.
from repayments import admin_complaints  # noqa: E402, F401
