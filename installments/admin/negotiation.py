"""The support workspace for negotiated plans (协商还款): the application queue, each application with its
documents, log and contacts, and the staff actions. Every action calls a service in
``installments.services.negotiation``, which enforces permissions and maker-checker itself."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import DecimalField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from accounts.axes import normalise_login
from accounts.http import AuthenticatedHttpRequest, signed_in_user
from accounts.models import User
from core.admin_forms import ServiceFormMixin, show_on_form
from core.errors import ApplicationError
from core.money_input import AsciiDecimalField
from installments.models import (
    ContactChannel,
    ContactLog,
    ContactOutcome,
    ContactParty,
    Installment,
    InstallmentStatus,
    NegotiationApplication,
    NegotiationDocument,
    NegotiationEvent,
    NegotiationState,
)
from installments.services import (
    APPROVE_PERMISSION,
    REJECTION_REASONS,
    REVIEW_PERMISSION,
    OfferTerms,
    contact_log_create,
    negotiation_approve,
    negotiation_make_offer,
    negotiation_offer_preview,
    negotiation_reject,
    negotiation_request_info,
    negotiation_return_offer,
    negotiation_start_review,
)

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

MONEY = DecimalField(max_digits=16, decimal_places=2)


def _outstanding_subquery() -> Subquery:
    open_amount = Installment.open_amount()
    return Subquery(
        Installment.objects.filter(
            plan=OuterRef("plan"), status__in=[InstallmentStatus.PENDING, InstallmentStatus.OVERDUE]
        )
        .values("plan")
        .annotate(total=Sum(open_amount))
        .values("total"),
        output_field=MONEY,
    )


class DaysOverdueFilter(admin.SimpleListFilter):
    title = _("days overdue")
    parameter_name = "dpd"
    RANGES = {"1-30": (1, 30), "31-60": (31, 60), "61-90": (61, 90), "91+": (91, None)}

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(key, key) for key in self.RANGES]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value is None or value not in self.RANGES:
            return queryset
        low, high = self.RANGES[value]
        queryset = queryset.filter(plan__days_past_due__gte=low)
        return queryset if high is None else queryset.filter(plan__days_past_due__lte=high)


class OutstandingFilter(admin.SimpleListFilter):
    title = _("amount outstanding")
    parameter_name = "owed"
    RANGES = {
        "<1k": (None, Decimal("1000")),
        "1k-5k": (Decimal("1000"), Decimal("5000")),
        "5k-20k": (Decimal("5000"), Decimal("20000")),
        ">20k": (Decimal("20000"), None),
    }

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(key, f"¥{key}") for key in self.RANGES]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value is None or value not in self.RANGES:
            return queryset
        low, high = self.RANGES[value]
        if low is not None:
            queryset = queryset.filter(outstanding__gte=low)
        if high is not None:
            queryset = queryset.filter(outstanding__lt=high)
        return queryset


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class DocumentInline(ReadOnlyInline):
    model = NegotiationDocument
    fields = ("original_name", "content_type", "size", "uploaded_at", "download")
    readonly_fields = fields

    @admin.display(description=_("file"))
    def download(self, obj: NegotiationDocument) -> str:
        url = reverse("installments:negotiation_document", args=[obj.public_id])
        return format_html('<a href="{}">{}</a>', url, _("download"))


class EventInline(ReadOnlyInline):
    model = NegotiationEvent
    fields = ("created_at", "actor", "action", "from_state", "to_state", "note")
    readonly_fields = fields
    verbose_name_plural = _("log (who, when, what)")


class ContactInline(ReadOnlyInline):
    model = ContactLog
    fields = ("created_at", "staff", "channel", "outcome", "promise_to_pay_date", "promise_amount", "notes")
    readonly_fields = fields


class InfoRequestForm(forms.Form):
    message = forms.CharField(
        label=_("what the customer should send"), widget=forms.Textarea, max_length=1000
    )


class OfferForm(forms.Form):
    tenor = forms.IntegerField(label=_("installments"), min_value=1)
    fee_rate = AsciiDecimalField(label=_("fee rate per period"), max_digits=9, decimal_places=6, min_value=0)
    penalty_waiver = AsciiDecimalField(
        label=_("penalty to waive (¥)"), max_digits=14, decimal_places=2, min_value=0, initial=Decimal("0")
    )
    first_due_date = forms.DateField(
        label=_("first due date"), required=False, help_text=_("Empty: one month from today.")
    )
    note = forms.CharField(label=_("note to the customer"), required=False, widget=forms.Textarea)

    def terms(self) -> OfferTerms:
        data = self.cleaned_data
        return OfferTerms(data["tenor"], data["fee_rate"], data["penalty_waiver"], data["first_due_date"])


class RejectForm(forms.Form):
    reason = forms.ChoiceField(label=_("reason"), choices=[(r, r) for r in REJECTION_REASONS])
    note = forms.CharField(label=_("note (internal)"), required=False, widget=forms.Textarea)


class ReturnForm(forms.Form):
    note = forms.CharField(label=_("why it goes back"), widget=forms.Textarea)


class ConfirmForm(forms.Form):
    pass


@admin.register(NegotiationApplication)
class NegotiationApplicationAdmin(ServiceFormMixin, admin.ModelAdmin):
    list_display = (
        "created_at", "customer_display", "plan", "state", "bucket", "days_overdue", "outstanding_display",
        "requested_tenor", "assigned_to",
    )  # fmt: skip
    list_filter = ("state", "plan__delinquency_bucket", DaysOverdueFilter, OutstandingFilter, "reason")
    search_fields = ("customer__phone", "=public_id", "=plan__public_id")
    list_select_related = ("customer", "plan", "assigned_to")
    date_hierarchy = "created_at"
    inlines = [DocumentInline, EventInline, ContactInline]
    fieldsets = (
        (
            _("Application"),
            {
                "fields": (
                    "public_id", "customer_display", "workspace", "plan", "state", "action_buttons",
                    "reason", "reason_detail", "declared_monthly_income", "affordable_monthly_payment",
                    "employer", "requested_tenor", "assigned_to", "info_request", "rejection_reason",
                    "result_plan",
                )
            },
        ),
        (
            _("Offer"),
            {
                "fields": (
                    "offer_tenor", "offer_fee_rate", "offer_penalty_waiver", "offer_first_due_date",
                    "offer_principal", "offer_monthly_payment", "offer_total_fee", "offer_apr_percent",
                    "offer_approval_reasons", "offer_note", "offered_by", "offered_at", "approved_by",
                    "offer_expires_at",
                )
            },
        ),
    )  # fmt: skip
    # The stubs allow nested field groups in a fieldset; these are flat names.
    readonly_fields = [f for _, spec in fieldsets for f in spec["fields"]]  # type: ignore[misc]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(
                outstanding=Coalesce(_outstanding_subquery(), Value(Decimal("0.00")), output_field=MONEY)
            )
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # customers apply; staff act on applications

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description=_("customer"), ordering="customer__phone")
    def customer_display(self, obj: NegotiationApplication) -> str:
        return f"{obj.customer.masked_name} {obj.customer.masked_phone}"

    @admin.display(description=_("bucket"), ordering="plan__delinquency_bucket")
    def bucket(self, obj: NegotiationApplication) -> str:
        return obj.plan.delinquency_bucket

    @admin.display(description=_("days overdue"), ordering="plan__days_past_due")
    def days_overdue(self, obj: NegotiationApplication) -> int:
        return obj.plan.days_past_due

    @admin.display(description=_("outstanding"), ordering="outstanding")
    def outstanding_display(self, obj: NegotiationApplication) -> str:
        return f"¥{getattr(obj, 'outstanding', Decimal('0.00')):,.2f}"

    @admin.display(description=_("customer workspace"))
    def workspace(self, obj: NegotiationApplication) -> str:
        url = reverse("admin:support_customer", args=[obj.customer_id])
        return format_html('<a href="{}">{}</a>', url, _("plans, repayments, messages and contacts"))

    @admin.display(description=_("actions"))
    def action_buttons(self, obj: NegotiationApplication) -> str:
        """The buttons this state allows; the services refuse anything else anyway."""
        by_state: dict[str, list[tuple[str, StrOrPromise]]] = {
            NegotiationState.SUBMITTED: [("review", _("Start review")), ("reject", _("Reject"))],
            NegotiationState.IN_REVIEW: [
                ("offer", _("Make an offer")),
                ("request_info", _("Request information")),
                ("reject", _("Reject")),
            ],
            NegotiationState.INFO_REQUESTED: [("reject", _("Reject"))],
            NegotiationState.OFFER_PENDING_APPROVAL: [
                ("approve", _("Approve and send the offer")),
                ("return", _("Send back to review")),
                ("reject", _("Reject")),
            ],
        }
        links: list[tuple[str, StrOrPromise]] = [
            (reverse(f"admin:installments_negotiation_{name}", args=[obj.pk]), label)
            for name, label in by_state.get(obj.state, [])
        ]
        links.append(
            (reverse("admin:installments_contactlog_add") + f"?application={obj.pk}", _("Log a call"))
        )
        return format_html_join(" ", '<a class="button" href="{}">{}</a>', links)

    # --- action pages -------------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        views = {
            "review": self.review_view,
            "request_info": self.request_info_view,
            "offer": self.offer_view,
            "approve": self.approve_view,
            "return": self.return_view,
            "reject": self.reject_view,
        }
        return [
            *[
                path(
                    f"<int:pk>/{name.replace('_', '-')}/",
                    self.admin_site.admin_view(view),
                    name=f"installments_negotiation_{name}",
                )
                for name, view in views.items()
            ],
            *super().get_urls(),
        ]

    def _application(self, request: AuthenticatedHttpRequest, pk: int) -> NegotiationApplication:
        if not request.user.has_perm(REVIEW_PERMISSION):
            raise PermissionDenied
        return get_object_or_404(NegotiationApplication.objects.select_related("plan", "customer"), pk=pk)

    def _done(
        self, request: AuthenticatedHttpRequest, application: NegotiationApplication, message: str
    ) -> HttpResponse:
        self.log_change(request, application, message)
        messages.success(request, message)
        return HttpResponseRedirect(
            reverse("admin:installments_negotiationapplication_change", args=[application.pk])
        )

    def _act(
        self,
        request: AuthenticatedHttpRequest,
        pk: int,
        form_class: type[forms.Form],
        title: StrOrPromise,
        intro: StrOrPromise,
        call: Callable[[NegotiationApplication, dict], object],
        done: StrOrPromise,
    ) -> HttpResponse:
        application = self._application(request, pk)
        form = form_class(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                call(application, form.cleaned_data)
            except ApplicationError as exc:
                show_on_form(form, exc)
            else:
                return self._done(request, application, str(done))
        return self.form_page(request, form, f"{title}: {application}", intro)

    def review_view(self, request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
        return self._act(
            request, pk, ConfirmForm, _("Start review"), _("The application is assigned to you."),
            lambda app, data: negotiation_start_review(staff=request.user, application=app),
            _("Review started."),
        )  # fmt: skip

    def request_info_view(self, request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
        return self._act(
            request, pk, InfoRequestForm, _("Request information"),
            _("The customer gets an SMS and sees your message when they sign in."),
            lambda app, data: negotiation_request_info(
                staff=request.user, application=app, message=data["message"]
            ),
            _("Information requested."),
        )  # fmt: skip

    def approve_view(self, request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
        application = self._application(request, pk)
        if not request.user.has_perm(APPROVE_PERMISSION):
            raise PermissionDenied
        if application.state != NegotiationState.OFFER_PENDING_APPROVAL:
            # Nothing waits for approval (sent back, never made, already sent): say so; a POST is refused
            # by the service with the same words.
            intro = _("This application is %(state)s; that step is not possible now.") % {
                "state": application.get_state_display()
            }
        else:
            intro = _(
                "Offer by %(maker)s: %(tenor)s installments of about ¥%(monthly)s, APR %(apr)s%%. "
                "Needs approval: %(why)s."
            ) % {
                "maker": application.offered_by,
                "tenor": application.offer_tenor,
                "monthly": application.offer_monthly_payment,
                "apr": application.offer_apr_percent,
                "why": application.offer_approval_reasons,
            }
        return self._act(
            request, pk, ConfirmForm, _("Approve the offer"), intro,
            lambda app, data: negotiation_approve(staff=request.user, application=app),
            _("Offer approved and sent to the customer."),
        )  # fmt: skip

    def return_view(self, request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
        return self._act(
            request, pk, ReturnForm, _("Send the offer back"), _("It goes back to review with your reason."),
            lambda app, data: negotiation_return_offer(
                staff=request.user, application=app, note=data["note"]
            ),
            _("Offer sent back to review."),
        )  # fmt: skip

    def reject_view(self, request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
        return self._act(
            request, pk, RejectForm, _("Reject the application"),
            _("The customer gets an SMS with the reason."),
            lambda app, data: negotiation_reject(
                staff=request.user, application=app, reason=data["reason"], note=data["note"]
            ),
            _("Application rejected."),
        )  # fmt: skip

    def offer_view(self, request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
        """Preview first (schedule, APR, affordability, whether approval is needed), then send."""
        application = self._application(request, pk)
        initial = {
            "tenor": application.requested_tenor,
            "fee_rate": application.plan.product.restage_fee_rate,
            "penalty_waiver": Decimal("0.00"),
        }
        form = OfferForm(request.POST or None, initial=initial)
        preview = None
        if request.method == "POST" and form.is_valid():
            try:
                if "send" in request.POST:
                    negotiation_make_offer(
                        staff=request.user,
                        application=application,
                        terms=form.terms(),
                        note=form.cleaned_data["note"],
                    )
                    application.refresh_from_db()
                    done = (
                        _("Offer saved; it waits for an approver.")
                        if application.state == NegotiationState.OFFER_PENDING_APPROVAL
                        else _("Offer sent to the customer.")
                    )
                    return self._done(request, application, str(done))
                preview = negotiation_offer_preview(application=application, terms=form.terms())
            except ApplicationError as exc:
                show_on_form(form, exc)
        return self.form_page(
            request,
            form,
            _("Offer terms: %(app)s") % {"app": application},
            _("Outstanding now ¥%(owed)s; declared income ¥%(income)s a month. Preview before sending.")
            % {
                "owed": self.outstanding_display(self.get_queryset(request).get(pk=application.pk))[1:],
                "income": application.declared_monthly_income,
            },
            extra={"preview": preview, "today": timezone.localdate()},
            template="admin/installments/negotiation_offer.html",
        )


class ContactLogForm(forms.Form):
    customer = forms.ModelChoiceField(
        label=_("customer"),
        queryset=User.objects.filter(is_staff=False),
        widget=forms.HiddenInput,
        required=False,
    )
    customer_phone = forms.CharField(label=_("customer phone"), required=False)
    application = forms.ModelChoiceField(
        label=_("application"), queryset=NegotiationApplication.objects.all(), required=False
    )
    channel = forms.ChoiceField(label=_("channel"), choices=ContactChannel.choices)
    outcome = forms.ChoiceField(label=_("outcome"), choices=ContactOutcome.choices)
    party = forms.ChoiceField(
        label=_("who was contacted"),
        choices=ContactParty.choices,
        initial=ContactParty.DEBTOR,
        required=False,  # not sent: the customer, as the form shows it chosen
    )
    promise_to_pay_date = forms.DateField(label=_("promise-to-pay date"), required=False)
    promise_amount = AsciiDecimalField(
        label=_("promised amount (¥)"), max_digits=14, decimal_places=2, min_value=0, required=False
    )
    notes = forms.CharField(label=_("notes"), widget=forms.Textarea, required=False)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        application = data.get("application")
        if application is not None:
            data["customer"] = application.customer
        elif data.get("customer_phone"):
            # Any spelling of the number finds the account, as at sign-in ("138 1234 5678", "+86…").
            phone = normalise_login(data["customer_phone"])
            data["customer"] = User.objects.filter(phone=phone, is_staff=False).first()
        if data.get("customer") is None:
            raise forms.ValidationError(_("Choose an application or give the customer's phone number."))
        return data


@admin.register(ContactLog)
class ContactLogAdmin(ServiceFormMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "customer",
        "staff",
        "channel",
        "outcome",
        "party",
        "promise_to_pay_date",
        "promise_amount",
    )
    list_filter = ("channel", "outcome", "party", "promise_to_pay_date")
    search_fields = ("customer__phone", "notes")
    list_select_related = ("customer", "staff")
    readonly_fields = (
        "created_at", "customer", "application", "staff", "channel", "outcome", "party",
        "promise_to_pay_date", "promise_amount", "notes",
    )  # fmt: skip
    fields = readonly_fields

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # the log is what was said then; a correction is a new entry

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        # From an application (?application=) or the customer workspace (?customer=): the customer is
        # carried, so the agent never retypes (or sees) the full phone number.
        initial = {"application": request.GET.get("application"), "customer": request.GET.get("customer")}
        form = ContactLogForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                entry = contact_log_create(
                    staff=signed_in_user(request),
                    customer=data["customer"],
                    application=data["application"],
                    channel=data["channel"],
                    outcome=data["outcome"],
                    party=data["party"] or ContactParty.DEBTOR,
                    promise_to_pay_date=data["promise_to_pay_date"],
                    promise_amount=data["promise_amount"],
                    notes=data["notes"],
                )
            except ApplicationError as exc:
                show_on_form(form, exc)
            else:
                self.log_addition(request, entry, [{"added": {}}])
                messages.success(request, _("Contact logged."))
                if entry.application_id:
                    return HttpResponseRedirect(
                        reverse(
                            "admin:installments_negotiationapplication_change", args=[entry.application_id]
                        )
                    )
                return HttpResponseRedirect(reverse("admin:installments_contactlog_changelist"))
        return self.form_page(
            request,
            form,
            _("Log a contact"),
            _(
                "A hotline call, a call out, an SMS or a chat. Calls out and SMS follow the contact rules: "
                "the customer's contact hours, at most the day's connected calls, the customer alone."
            ),
        )
