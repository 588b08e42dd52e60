"""The support workspace for negotiated plans (协商还款): the application queue, each application with its
documents, log and contacts, and the staff actions. Every action calls a service in
``installments.services.negotiation``, which enforces permissions and maker-checker itself."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import DecimalField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from accounts.axes import normalise_login
from accounts.http import AuthenticatedHttpRequest, signed_in_user
from accounts.models import User
from core.admin_forms import ServiceFormMixin, show_on_form
from core.errors import ApplicationError
from core.money_input import AsciiDecimalField
from installments.models import (
    CollectionCase,
    ContactChannel,
    ContactLog,
    ContactOutcome,
    ContactParty,
    Installment,
    InstallmentPlan,
    InstallmentStatus,
    NegotiationApplication,
    NegotiationDocument,
    NegotiationEvent,
    NegotiationState,
)
from installments.models.negotiation import OPEN_NEGOTIATION_STATES
from installments.negotiation_review import (
    REJECTION_REASON_LABELS,
    event_label,
    negotiation_facts,
    offer_on_file,
    person_name,
    rejection_reason_label,
    state_label,
    waiting,
)
from installments.services import (
    APPROVE_PERMISSION,
    REJECTION_REASONS,
    REVIEW_PERMISSION,
    OfferPreset,
    OfferPreview,
    OfferTerms,
    contact_log_create,
    negotiation_approve,
    negotiation_make_offer,
    negotiation_offer_preset,
    negotiation_offer_preview,
    negotiation_reject,
    negotiation_request_info,
    negotiation_return_offer,
    negotiation_start_review,
    promise_to_pay_record,
    rate_percent,
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
    """The log in words: "Started the review: submitted → in review" by a named colleague, never the
    stored codes ("submitted: -> submitted", "ACTOR")."""

    model = NegotiationEvent
    fields = ("created_at", "who", "what", "state_change", "note")
    readonly_fields = fields
    verbose_name_plural = _("log (who, when, what)")

    @admin.display(description=_("who"))
    def who(self, obj: NegotiationEvent) -> str:
        return person_name(obj.actor)

    @admin.display(description=_("what"))
    def what(self, obj: NegotiationEvent) -> str:
        return event_label(obj.action)

    @admin.display(description=_("state"))
    def state_change(self, obj: NegotiationEvent) -> str:
        if not obj.from_state or obj.from_state == obj.to_state:
            return state_label(obj.to_state)
        return f"{state_label(obj.from_state)} → {state_label(obj.to_state)}"


class ContactInline(ReadOnlyInline):
    model = ContactLog
    fields = ("created_at", "staff_name", "channel", "outcome", "promise_to_pay_date", "promise", "notes")
    readonly_fields = fields

    @admin.display(description=_("staff"))
    def staff_name(self, obj: ContactLog) -> str:
        return person_name(obj.staff)

    @admin.display(description=_("promised amount"))
    def promise(self, obj: ContactLog) -> str:
        return yuan(obj.promise_amount) if obj.promise_amount else ""


class InfoRequestForm(forms.Form):
    message = forms.CharField(
        label=_("what the customer should send"), widget=forms.Textarea, max_length=1000
    )


def yuan(amount: Decimal | None) -> str:
    """¥1,234.56, as every amount in the admin."""
    return "" if amount is None else f"¥{amount:,.2f}"


class OfferForm(forms.Form):
    """The terms as staff type them: the fee rate in percent a month (0.60, stored as 0.006)."""

    tenor = forms.IntegerField(label=_("installments"), min_value=1)
    fee_rate_percent = AsciiDecimalField(
        label=_("fee rate per month (%)"),
        max_digits=8,
        decimal_places=4,
        min_value=0,
        max_value=Decimal("99.9999"),
        help_text=_("In percent: 0.60 means 0.60 % of the new principal each month."),
    )
    penalty_waiver = AsciiDecimalField(
        label=_("penalty to waive (¥)"), max_digits=14, decimal_places=2, min_value=0, initial=Decimal("0")
    )
    first_due_date = forms.DateField(
        label=_("first due date"), required=False, help_text=_("Empty: one month from today.")
    )
    note = forms.CharField(label=_("note to the customer"), required=False, widget=forms.Textarea)
    monthly_limit = AsciiDecimalField(
        label=_("at most ¥ a month"), max_digits=14, decimal_places=2, min_value=0, required=False
    )
    terms_hash = forms.CharField(widget=forms.HiddenInput, required=False)

    def terms(self) -> OfferTerms:
        data = self.cleaned_data
        return OfferTerms(
            data["tenor"], data["fee_rate_percent"] / 100, data["penalty_waiver"], data["first_due_date"]
        )

    def show_rate_error(self, exc: ApplicationError) -> None:
        """After ``show_on_form``: the service names the stored ``fee_rate``, typed here in percent."""
        if exc.fields and "fee_rate" in exc.fields:
            self.add_error("fee_rate_percent", str(exc.fields["fee_rate"]))


def offer_form_data(terms: OfferTerms, *, note: str = "", monthly_limit: Decimal | None = None) -> dict:
    return {
        "tenor": str(terms.tenor),
        "fee_rate_percent": rate_percent(terms.fee_rate).removesuffix(" %"),  # 0.60, as it is shown
        "penalty_waiver": f"{terms.penalty_waiver:.2f}",
        "first_due_date": terms.first_due_date.isoformat() if terms.first_due_date else "",
        "note": note,
        "monthly_limit": "" if monthly_limit is None else f"{monthly_limit:.2f}",
    }


class RejectForm(forms.Form):
    reason = forms.ChoiceField(
        label=_("reason"), choices=[(r, REJECTION_REASON_LABELS[r]) for r in REJECTION_REASONS]
    )
    note = forms.CharField(label=_("note (internal)"), required=False, widget=forms.Textarea)


class ReturnForm(forms.Form):
    note = forms.CharField(label=_("why it goes back"), widget=forms.Textarea)


class ConfirmForm(forms.Form):
    pass


class QueueFilter(admin.SimpleListFilter):
    """Open applications by default (the review: no default to open, oldest, mine)."""

    title = _("queue")
    parameter_name = "queue"
    OPEN_STATES = tuple(s.value for s in OPEN_NEGOTIATION_STATES)

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, StrOrPromise]]:
        return [("open", _("open")), ("closed", _("closed")), ("all", _("all"))]

    def value(self) -> str:
        return super().value() or "open"

    def choices(self, changelist: Any) -> Any:
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "open":
            return queryset.filter(state__in=self.OPEN_STATES)
        if self.value() == "closed":
            return queryset.exclude(state__in=self.OPEN_STATES)
        return queryset


class HandlerFilter(admin.SimpleListFilter):
    """Mine and the unassigned by default; the team's (everyone's) one click away."""

    title = _("handler")
    parameter_name = "handler"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, StrOrPromise]]:
        return [
            ("mine", _("mine and unassigned")),
            ("only_mine", _("only mine")),
            ("unassigned", _("unassigned")),
            ("team", _("the team's (everyone's)")),
        ]

    def value(self) -> str:
        return super().value() or "mine"

    def choices(self, changelist: Any) -> Any:
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        me = request.user.pk
        value = self.value()
        if value == "mine":
            mine = Q(assigned_to_id=me) | Q(assigned_to__isnull=True)
            if request.user.has_perm(APPROVE_PERMISSION):
                # An approver's work is the offers others made that wait for a checker.
                mine |= Q(state=NegotiationState.OFFER_PENDING_APPROVAL) & ~Q(offered_by_id=me)
            return queryset.filter(mine)
        if value == "only_mine":
            return queryset.filter(assigned_to_id=me)
        if value == "unassigned":
            return queryset.filter(assigned_to__isnull=True)
        return queryset


_HEX_REF = re.compile(r"^[0-9a-fA-F-]{6,36}$")


@admin.register(NegotiationApplication)
class NegotiationApplicationAdmin(ServiceFormMixin, admin.ModelAdmin):
    list_display = (
        "created_at", "age", "waiting_display", "customer_display", "plan", "state", "bucket", "days_overdue",
        "outstanding_display", "requested_tenor", "handler", "next_step",
    )  # fmt: skip
    list_filter = (
        QueueFilter, HandlerFilter, "state", "plan__delinquency_bucket", DaysOverdueFilter, OutstandingFilter,
        "reason",
    )  # fmt: skip
    # Searched by get_search_results: a name, a phone in any spelling, an application or plan id.
    search_fields = ("customer__real_name",)
    search_help_text = _("A name, a phone number in any spelling, or an application or plan id.")
    list_select_related = ("customer", "plan", "assigned_to")
    ordering = ("created_at", "id")  # oldest first: the longest wait comes first
    date_hierarchy = "created_at"
    inlines = [DocumentInline, EventInline, ContactInline]
    application_fields = (
        "reference", "customer_display", "workspace", "plan", "state", "action_buttons", "facts", "reason",
        "reason_detail", "income_display", "affordable_display", "employer", "requested_tenor", "handler",
        "info_request", "rejection_reason_display", "result_plan",
    )  # fmt: skip
    offer_fields = (
        "offer_tenor", "offer_rate_display", "offer_waiver_display", "offer_first_due_date",
        "offer_principal_display", "offer_monthly_display", "offer_total_fee_display", "offer_apr_percent",
        "offer_approval_reasons", "offer_note", "offered_by_name", "offered_at", "approved_by_name",
        "offer_expires_at",
    )  # fmt: skip
    readonly_fields = [*application_fields, *offer_fields]

    class Media:
        css = {"all": ("css/admin-negotiation.css",)}

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        """No empty "Offer" block: it shows once an offer was made."""
        fieldsets: list[tuple[StrOrPromise, dict[str, Any]]] = [
            (_("Application"), {"fields": self.application_fields})
        ]
        if obj is not None and obj.offer_tenor is not None:
            fieldsets.append((_("Offer"), {"fields": self.offer_fields}))
        return fieldsets

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(
                outstanding=Coalesce(_outstanding_subquery(), Value(Decimal("0.00")), output_field=MONEY)
            )
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        query = Q(customer__real_name__icontains=term)
        phone = normalise_login(term)
        if phone and phone.startswith("+"):
            query |= Q(customer__phone=phone)
        digits = re.sub(r"\D", "", term)
        if len(digits) >= 4 and len(digits) == len(re.sub(r"[\s+()-]", "", term)):
            query |= Q(customer__phone__endswith=digits)  # the last digits the caller reads out
        if term.isdigit():
            query |= Q(pk=int(term))
        if _HEX_REF.match(term):
            try:
                exact = uuid.UUID(term)
            except ValueError:
                ref = term.replace("-", "").lower()
                query |= Q(public_id__iendswith=ref) | Q(plan__public_id__iendswith=ref)
            else:
                query |= Q(public_id=exact) | Q(plan__public_id=exact)
        query |= Q(plan__merchant_order_ref=term)
        return queryset.filter(query), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # customers apply; staff act on applications

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    # --- columns and fields ----------------------------------------------------------------------------

    @admin.display(description=_("reference"))
    def reference(self, obj: NegotiationApplication) -> str:
        return str(obj.public_id)

    @admin.display(description=_("customer"), ordering="customer__phone")
    def customer_display(self, obj: NegotiationApplication) -> str:
        return f"{obj.customer.masked_name} {obj.customer.masked_phone}"

    @admin.display(description=_("age"), ordering="created_at")
    def age(self, obj: NegotiationApplication) -> str:
        days = waiting(obj).days
        return str(_("%(days)s d") % {"days": days})

    @admin.display(description=_("waiting (3 working days promised)"))
    def waiting_display(self, obj: NegotiationApplication) -> str:
        return render_to_string("admin/installments/negotiation_waiting.html", {"w": waiting(obj)})

    @admin.display(description=_("handler"), ordering="assigned_to__real_name")
    def handler(self, obj: NegotiationApplication) -> str:
        return person_name(obj.assigned_to) if obj.assigned_to_id else "—"

    @admin.display(description=_("bucket"), ordering="plan__delinquency_bucket")
    def bucket(self, obj: NegotiationApplication) -> str:
        return obj.plan.delinquency_bucket

    @admin.display(description=_("days overdue"), ordering="plan__days_past_due")
    def days_overdue(self, obj: NegotiationApplication) -> int:
        return obj.plan.days_past_due

    @admin.display(description=_("outstanding"), ordering="outstanding")
    def outstanding_display(self, obj: NegotiationApplication) -> str:
        return yuan(getattr(obj, "outstanding", Decimal("0.00")))

    @admin.display(description=_("next step"))
    def next_step(self, obj: NegotiationApplication) -> str:
        if obj.state in (NegotiationState.SUBMITTED, NegotiationState.IN_REVIEW):
            url = reverse("admin:installments_negotiation_offer", args=[obj.pk])
            return format_html('<a class="button" href="{}">{}</a>', url, _("Make an offer"))
        if obj.state == NegotiationState.OFFER_PENDING_APPROVAL:
            url = reverse("admin:installments_negotiation_approve", args=[obj.pk])
            return format_html('<a class="button" href="{}">{}</a>', url, _("Review for approval"))
        return ""

    @admin.display(description=_("declared monthly income"))
    def income_display(self, obj: NegotiationApplication) -> str:
        return yuan(obj.declared_monthly_income)

    @admin.display(description=_("can pay each month (customer's word)"))
    def affordable_display(self, obj: NegotiationApplication) -> str:
        return yuan(obj.affordable_monthly_payment) or str(_("not given"))

    @admin.display(description=_("rejection reason"))
    def rejection_reason_display(self, obj: NegotiationApplication) -> str:
        return rejection_reason_label(obj.rejection_reason) if obj.rejection_reason else ""

    @admin.display(description=_("facts"))
    def facts(self, obj: NegotiationApplication) -> str:
        return render_to_string(
            "admin/installments/negotiation_facts.html", {"facts": negotiation_facts(obj)}
        )

    @admin.display(description=_("offer: fee rate per month"))
    def offer_rate_display(self, obj: NegotiationApplication) -> str:
        return rate_percent(obj.offer_fee_rate)

    @admin.display(description=_("offer: penalty waived"))
    def offer_waiver_display(self, obj: NegotiationApplication) -> str:
        return _("%(waived)s of %(penalty)s accrued when offered") % {
            "waived": yuan(obj.offer_penalty_waiver),
            "penalty": yuan(obj.offer_penalties_at_offer),
        }

    @admin.display(description=_("offer: new principal"))
    def offer_principal_display(self, obj: NegotiationApplication) -> str:
        return yuan(obj.offer_principal)

    @admin.display(description=_("offer: first monthly payment"))
    def offer_monthly_display(self, obj: NegotiationApplication) -> str:
        return yuan(obj.offer_monthly_payment)

    @admin.display(description=_("offer: total fee"))
    def offer_total_fee_display(self, obj: NegotiationApplication) -> str:
        return yuan(obj.offer_total_fee)

    @admin.display(description=_("offered by"))
    def offered_by_name(self, obj: NegotiationApplication) -> str:
        return person_name(obj.offered_by) if obj.offered_by_id else ""

    @admin.display(description=_("approved by"))
    def approved_by_name(self, obj: NegotiationApplication) -> str:
        return person_name(obj.approved_by) if obj.approved_by_id else ""

    @admin.display(description=_("customer workspace"))
    def workspace(self, obj: NegotiationApplication) -> str:
        url = reverse("admin:support_customer", args=[obj.customer_id])
        return format_html('<a href="{}">{}</a>', url, _("plans, repayments, messages and contacts"))

    @admin.display(description=_("actions"))
    def action_buttons(self, obj: NegotiationApplication) -> str:
        """The buttons this state allows; the services refuse anything else anyway."""
        by_state: dict[str, list[tuple[str, StrOrPromise]]] = {
            NegotiationState.SUBMITTED: [
                ("offer", _("Make an offer")),
                ("review", _("Start review")),
                ("reject", _("Reject")),
            ],
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
            "offer_preview": self.offer_preview_view,
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
        return get_object_or_404(
            NegotiationApplication.objects.select_related("plan__product", "customer"), pk=pk
        )

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
        """The checker's page: the same facts as the maker saw, the full schedule, the share of income and
        the waiver against the penalty. The service refuses the maker (``self_approval``)."""
        application = self._application(request, pk)
        if not request.user.has_perm(APPROVE_PERMISSION):
            raise PermissionDenied
        form = ConfirmForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                negotiation_approve(staff=request.user, application=application)
            except ApplicationError as exc:
                show_on_form(form, exc)
            else:
                return self._done(request, application, str(_("Offer approved and sent to the customer.")))
        pending = application.state == NegotiationState.OFFER_PENDING_APPROVAL
        own = application.offered_by_id == request.user.pk
        intro: StrOrPromise
        if not pending:
            intro = _("This application is %(state)s; that step is not possible now.") % {
                "state": application.get_state_display()
            }
        elif own:
            intro = _("You made this offer: another approver must approve it.")
        else:
            intro = _("Check the offer against the facts, then approve it or send it back with a reason.")
        context = {
            **self.admin_site.each_context(request),
            "title": _("Approve the offer: %(app)s") % {"app": application},
            "intro": intro,
            "form": form,
            "opts": self.model._meta,
            "app": application,
            "facts": negotiation_facts(application),
            "offer": offer_on_file(application),
            "can_approve": pending and not own,
            "return_url": reverse("admin:installments_negotiation_return", args=[application.pk]),
        }
        return TemplateResponse(request, "admin/installments/negotiation_approve.html", context)

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

    # --- the offer page ---------------------------------------------------------------------------------

    def _offer_form(
        self, request: AuthenticatedHttpRequest, application: NegotiationApplication
    ) -> tuple[OfferForm, OfferPreview | None, list[str]]:
        """The form as posted (or the default terms on the first visit), a preset applied, and the preview
        of what it now holds. A preset changes the terms on the form, never sends."""
        if request.method == "POST":
            form = OfferForm(request.POST)
        else:
            form = OfferForm(
                offer_form_data(
                    OfferTerms(
                        application.requested_tenor, application.plan.product.restage_fee_rate, Decimal("0")
                    ),
                    monthly_limit=application.affordable_monthly_payment,
                )
            )
        if not form.is_valid():
            return form, None, []
        preset = request.POST.get("preset") if request.method == "POST" else None
        if preset in OfferPreset.ALL:
            try:
                terms = negotiation_offer_preset(
                    application=application,
                    terms=form.terms(),
                    preset=preset,
                    monthly_limit=form.cleaned_data["monthly_limit"],
                )
            except ApplicationError as exc:
                show_on_form(form, exc)
                form.show_rate_error(exc)
                return form, None, []
            form = OfferForm(
                offer_form_data(
                    terms, note=form.cleaned_data["note"], monthly_limit=form.cleaned_data["monthly_limit"]
                )
            )
            form.is_valid()
        try:
            return form, negotiation_offer_preview(application=application, terms=form.terms()), []
        except ApplicationError as exc:
            show_on_form(form, exc)
            form.show_rate_error(exc)
            return form, None, [exc.message]

    def offer_view(self, request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
        """One page from the queue: the facts beside the terms, the preview of the terms on the form, and
        "Send", which carries the preview's hash (the service refuses terms that were not previewed).
        Sending on a submitted application starts its review too."""
        application = self._application(request, pk)
        if request.method == "POST" and "send" in request.POST:
            form = OfferForm(request.POST)
            if form.is_valid():
                try:
                    negotiation_make_offer(
                        staff=request.user,
                        application=application,
                        terms=form.terms(),
                        previewed_hash=form.cleaned_data["terms_hash"],
                        note=form.cleaned_data["note"],
                    )
                except ApplicationError as exc:
                    # Refused: the same page with the refusal on top and the preview of the terms now on
                    # the form (so "send" again sends what is shown).
                    form, preview, errors = self._offer_form(request, application)
                    show_on_form(form, exc)
                    form.show_rate_error(exc)
                    return self._offer_page(request, application, form, preview, errors)
                else:
                    application.refresh_from_db()
                    done = (
                        _("Offer saved; it waits for an approver.")
                        if application.state == NegotiationState.OFFER_PENDING_APPROVAL
                        else _("Offer sent to the customer.")
                    )
                    return self._done(request, application, str(done))
        form, preview, errors = self._offer_form(request, application)
        return self._offer_page(request, application, form, preview, errors)

    def offer_preview_view(self, request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
        """The preview fragment alone, for the page's script: re-posted as the terms change."""
        application = self._application(request, pk)
        if request.method != "POST":
            return HttpResponse(status=405)
        form, preview, errors = self._offer_form(request, application)
        if not form.is_valid():
            errors = [str(e) for field_errors in form.errors.values() for e in field_errors]
        return TemplateResponse(
            request,
            "admin/installments/negotiation_preview.html",
            {"preview": preview, "preview_errors": errors, "preview_rate": self._rate(preview)},
        )

    @staticmethod
    def _rate(preview: OfferPreview | None) -> str:
        return rate_percent(preview.terms.fee_rate) if preview else ""

    def _offer_page(
        self,
        request: AuthenticatedHttpRequest,
        application: NegotiationApplication,
        form: OfferForm,
        preview: OfferPreview | None,
        errors: list[str],
    ) -> HttpResponse:
        can_send = application.state in (NegotiationState.SUBMITTED, NegotiationState.IN_REVIEW)
        intro = (
            _("Change the terms or pick a preset; the preview follows. Send sends what the preview shows.")
            if can_send
            else _("This application is %(state)s; no offer can be made now.")
            % {"state": application.get_state_display()}
        )
        return self.form_page(
            request,
            form,
            _("Offer terms: %(app)s") % {"app": application},
            intro,
            extra={
                "preview": preview,
                "preview_errors": errors,
                "preview_rate": self._rate(preview),
                "facts": negotiation_facts(application),
                "can_send": can_send,
                "preview_url": reverse("admin:installments_negotiation_offer_preview", args=[application.pk]),
            },
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
    plan = forms.ModelChoiceField(
        label=_("plan (for a promise to pay: the plan with an open collection case)"),
        queryset=InstallmentPlan.objects.filter(collection_cases__closed_at__isnull=True).distinct(),
        required=False,
    )
    notes = forms.CharField(label=_("notes"), widget=forms.Textarea, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The plan list is the customer's own open-case plans when the customer is known (from the
        # workspace or an application); a phone typed in is checked against the plan in clean().
        customer = self.data.get("customer") or self.initial.get("customer")
        application = self.data.get("application") or self.initial.get("application")
        plans = cast(forms.ModelChoiceField, self.fields["plan"])
        open_case_plans = InstallmentPlan.objects.filter(collection_cases__closed_at__isnull=True).distinct()
        if str(customer or "").isdigit():
            plans.queryset = open_case_plans.filter(customer_id=int(str(customer)))
        elif str(application or "").isdigit():
            plans.queryset = open_case_plans.filter(customer__negotiations__pk=int(str(application)))

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
        data["case"] = self._promise_case(data)
        return data

    def _promise_case(self, data: dict[str, Any]) -> CollectionCase | None:
        """A promise to pay from a customer with an open collection case is a PromiseToPay on that case
        (the one the daily check decides), not a second kind of promise in the contact log; with no case
        open the promise is noted on the contact alone, as before cases existed."""
        if data.get("outcome") != ContactOutcome.PROMISE_TO_PAY:
            return None
        cases = list(
            CollectionCase.objects.filter(customer=data["customer"], closed_at__isnull=True).select_related(
                "plan"
            )
        )
        plan = data.get("plan")
        if plan is not None:
            chosen = [c for c in cases if c.plan_id == plan.pk]
            if not chosen:
                self.add_error("plan", _("This customer has no open collection case on that plan."))
                return None
            case = chosen[0]
        elif len(cases) > 1:
            self.add_error("plan", _("The customer has several open cases: choose the plan promised on."))
            return None
        elif cases:
            case = cases[0]
        else:
            return None
        if data.get("promise_amount") in (None, ""):
            self.add_error("promise_amount", _("A promise to pay on a collection case needs its amount."))
        if data.get("promise_to_pay_date") is None:
            self.add_error("promise_to_pay_date", _("A promise to pay needs its date."))
        return case


@admin.register(ContactLog)
class ContactLogAdmin(ServiceFormMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "customer",
        "staff_name",
        "channel",
        "outcome",
        "party",
        "promise_to_pay_date",
        "promise",
    )
    list_filter = ("channel", "outcome", "party", "promise_to_pay_date")
    search_fields = ("customer__phone", "notes")
    list_select_related = ("customer", "staff")
    readonly_fields = (
        "created_at", "customer", "application", "staff", "channel", "outcome", "party",
        "promise_to_pay_date", "promise_amount", "notes",
    )  # fmt: skip
    fields = readonly_fields

    @admin.display(description=_("staff"), ordering="staff__real_name")
    def staff_name(self, obj: ContactLog) -> str:
        return person_name(obj.staff)

    @admin.display(description=_("promised amount"), ordering="promise_amount")
    def promise(self, obj: ContactLog) -> str:
        return yuan(obj.promise_amount) if obj.promise_amount else ""

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
        if request.method == "POST" and form.is_valid() and form.cleaned_data.get("case") is not None:
            return self._promise_on_case(request, form)
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
        return self._contact_form_page(request, form)

    def _promise_on_case(self, request: HttpRequest, form: ContactLogForm) -> HttpResponse:
        """The promise goes through ``promise_to_pay_record`` (which writes the contact log entry too)."""
        data = form.cleaned_data
        case: CollectionCase = data["case"]
        try:
            promise = promise_to_pay_record(
                staff=signed_in_user(request),
                case=case,
                amount=data["promise_amount"],
                promised_date=data["promise_to_pay_date"],
                note=data["notes"],
                channel=data["channel"],
            )
        except ApplicationError as exc:
            # The service names its fields after PromiseToPay; the form's are the contact log's.
            renamed = {"amount": "promise_amount", "promised_date": "promise_to_pay_date"}
            exc.fields = {renamed.get(k, k): v for k, v in (exc.fields or {}).items()}
            show_on_form(form, exc)
            return self._contact_form_page(request, form)
        if promise.contact is not None:
            self.log_addition(request, promise.contact, [{"added": {}}])
        messages.success(request, _("Contact logged and the promise to pay recorded on the collection case."))
        return HttpResponseRedirect(reverse("admin:installments_collectioncase_change", args=[case.pk]))

    def _contact_form_page(self, request: HttpRequest, form: ContactLogForm) -> HttpResponse:
        return self.form_page(
            request,
            form,
            _("Log a contact"),
            _(
                "A hotline call, a call out, an SMS or a chat. Calls out and SMS follow the contact rules: "
                "the customer's contact hours, at most the day's connected calls, the customer alone."
            ),
        )
