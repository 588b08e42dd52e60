"""Products and plans in the staff workspace.

Plans are created through ``plan_create`` (the admin's add page is a form over the service) and their money
fields are read-only: a staff member changes a plan only through the services later issues add.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.http import AuthenticatedHttpRequest
from accounts.models import User
from core.admin_display import MoneyAdminMixin, percent_text
from core.admin_forms import ServiceFormMixin, show_on_form
from core.errors import ApplicationError
from core.money import format_yuan
from core.money_input import AsciiDecimalField
from installments import cost
from installments.admin.chargeoff import undo_request_view
from installments.disclosure import plan_headroom
from installments.models import (
    INSTALLMENT_MONEY_FIELDS,
    CreditEvent,
    Installment,
    InstallmentPlan,
    InstallmentProduct,
    LoanPrimeRate,
    PlanAgreement,
    PlanStatus,
)
from installments.services import LPR_MULTIPLE, all_in_ceiling, plan_create

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldOpts
    from django_stubs_ext import StrOrPromise

PRODUCT_FIELDSETS: tuple[tuple[StrOrPromise | None, _FieldOpts], ...] = (
    (None, {"fields": ("code", "name", "description", "is_active")}),
    (
        _("Pricing"),
        {
            "fields": (
                "fee_method",
                "fee_rate",
                "tenors",
                "max_apr_percent",
                "min_principal",
                "max_principal",
            )
        },
    ),
    (_("Late payment"), {"fields": ("penalty_daily_rate", "grace_days", "charge_off_after_days")}),
    (
        _("Cost of paying late / relief"),
        {
            "description": _(
                "Frozen onto each new plan. The penalty never passes the cap, and fees, extension fees "
                "and penalties together never pass the all-in ceiling (IRR over the dated flows)."
            ),
            "fields": (
                "penalty_base",
                "penalty_cap_percent",
                "max_all_in_apr_percent",
                "ceiling_follows_lpr",
                "arrears_tolerance",
                "extension_max",
                "extension_max_days",
                "extension_fee_rate",
                "holiday_max_periods",
                "holiday_fee_policy",
            ),
        },
    ),
    (
        _("Prepayment and cards"),
        {
            "fields": (
                "prepayment_fee_policy",
                "prepayment_fee_rate",
                "allow_credit_cards",
                "autodebit_slots_per_day",
                "autodebit_retry_in_grace",
            )
        },
    ),
    (
        _("Re-installment (二次分期)"),
        {
            "fields": (
                "restage_allowed",
                "restage_max_times",
                "restage_min_principal",
                "restage_tenors",
                "restage_fee_rate",
                "restage_fee_treatment",
                "negotiated_max_tenor",
            )
        },
    ),
)


class InstallmentProductForm(forms.ModelForm):
    """The product's terms must agree with each other: a schedule may not cost more than the all-in
    ceiling allows, or no penalty could ever accrue and the disclosure would promise a ceiling the
    schedule alone passes."""

    class Meta:
        model = InstallmentProduct
        fields = [field for section in PRODUCT_FIELDSETS for field in section[1]["fields"]]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        max_apr = data.get("max_apr_percent")
        ceiling = data.get("max_all_in_apr_percent")
        if max_apr is not None and ceiling is not None and max_apr > ceiling:
            self.add_error(
                "max_apr_percent",
                _("The maximum APR (%(apr)s%%) must not be above the all-in cost ceiling (%(ceiling)s%%).")
                % {"apr": max_apr, "ceiling": ceiling},
            )
        if max_apr is not None and data.get("ceiling_follows_lpr"):
            lpr_ceiling = all_in_ceiling_today(data)
            if lpr_ceiling is not None and max_apr > lpr_ceiling:
                self.add_error(
                    "ceiling_follows_lpr",
                    _(
                        "4 x the one-year LPR in force today is %(ceiling)s%%, below the maximum APR "
                        "(%(apr)s%%): lower the maximum APR or do not follow the LPR."
                    )
                    % {"apr": max_apr, "ceiling": lpr_ceiling},
                )
        return data


def all_in_ceiling_today(data: dict[str, Any]) -> Decimal | None:
    """The ceiling a plan created today would freeze under the form's figures (None: not decidable)."""
    ceiling = data.get("max_all_in_apr_percent")
    if ceiling is None:
        return None
    product = InstallmentProduct(max_all_in_apr_percent=ceiling, ceiling_follows_lpr=True)
    return all_in_ceiling(product, on=timezone.localdate())


@admin.register(InstallmentProduct)
class InstallmentProductAdmin(MoneyAdminMixin, admin.ModelAdmin):
    form = InstallmentProductForm
    list_display = (
        "code",
        "name",
        "fee_method",
        "fee_rate_percent",
        "tenors",
        "max_apr",
        "grace_days",
        "is_active",
    )
    list_filter = ("fee_method", "is_active")
    search_fields = ("code", "name")
    fieldsets = PRODUCT_FIELDSETS

    def has_delete_permission(self, request: HttpRequest, obj: InstallmentProduct | None = None) -> bool:
        return False  # plans keep pointing at their product; retire a product with "active" instead

    @admin.display(description=_("fee or interest rate per period"), ordering="fee_rate")
    def fee_rate_percent(self, obj: InstallmentProduct) -> str:
        return percent_text(obj.fee_rate)

    @admin.display(description=_("maximum APR"), ordering="max_apr_percent")
    def max_apr(self, obj: InstallmentProduct) -> str:
        return f"{obj.max_apr_percent}%"


class InstallmentInline(MoneyAdminMixin, admin.TabularInline):
    model = Installment
    extra = 0
    can_delete = False
    fields: ClassVar[tuple[str, ...]] = (
        "sequence",
        "due_date",
        "status",
        *INSTALLMENT_MONEY_FIELDS,
        "penalty_accrued_through",
        "paid_at",
    )
    readonly_fields = fields
    ordering = ("sequence",)

    def has_add_permission(self, request: HttpRequest, obj: InstallmentPlan | None = None) -> bool:
        return False


class CreditEventInline(admin.TabularInline):
    """The plan's 信用记录, newest last; written by the sweep and the plan services only."""

    model = CreditEvent
    extra = 0
    can_delete = False
    fields = ("business_date", "kind", "from_bucket", "to_bucket", "created_at")
    readonly_fields = fields
    ordering = ("business_date", "id")

    def has_add_permission(self, request: HttpRequest, obj: InstallmentPlan | None = None) -> bool:
        return False


class PlanCreateForm(forms.Form):
    customer = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True, is_staff=False).order_by("phone"),
        label=_("customer"),
    )
    product = forms.ModelChoiceField(
        queryset=InstallmentProduct.objects.filter(is_active=True), label=_("product")
    )
    principal = AsciiDecimalField(label=_("principal"), max_digits=14, decimal_places=2, min_value=0)
    tenor = forms.IntegerField(label=_("tenor"), min_value=1)
    purchase_date = forms.DateField(label=_("purchase date"), initial=timezone.localdate)
    merchant_order_ref = forms.CharField(label=_("merchant order reference"), max_length=64, required=False)
    description = forms.CharField(label=_("description"), max_length=200, required=False)


@admin.register(InstallmentPlan)
class InstallmentPlanAdmin(MoneyAdminMixin, ServiceFormMixin, admin.ModelAdmin):
    list_display = (
        "public_id",
        "customer",
        "product",
        "kind",
        "principal",
        "tenor",
        "apr",
        "status",
        "delinquency_bucket",
        "days_past_due",
        "purchase_date",
    )
    list_filter = ("status", "delinquency_bucket", "kind", "product")
    search_fields = ("public_id", "merchant_order_ref", "customer__phone")
    list_select_related = ("customer", "product")
    date_hierarchy = "purchase_date"
    inlines = [InstallmentInline, CreditEventInline]
    readonly_fields = (
        "public_id",
        "customer",
        "product",
        "kind",
        "source_plan",
        "merchant_order_ref",
        "description",
        "principal",
        "tenor",
        "fee_method",
        "fee_rate_percent",
        "penalty_rate_percent",
        "grace_days",
        "prepayment_fee_policy",
        "prepayment_fee_rate_percent",
        "total_fee",
        "apr",
        "purchase_date",
        "first_due_date",
        "status",
        "days_past_due",
        "delinquency_bucket",
        "charge_off_after_days",
        "charge_off",
        "penalty_base",
        "penalty_cap_amount",
        "penalty_total",
        "penalty_capped_on",
        "ceiling",
        "room_left",
        "arrears_tolerance",
        "extensions",
        "agreement_display",
        "created_at",
        "updated_at",
        "statement_link",
    )
    fields = readonly_fields

    @admin.display(description=_("all-in cost ceiling"))
    def ceiling(self, obj: InstallmentPlan) -> str:
        return f"{obj.max_all_in_apr_percent}% (IRR)"

    @admin.display(description=_("room under the ceiling"))
    def room_left(self, obj: InstallmentPlan) -> str:
        """The headroom as staff can use it: the most penalty that may still accrue today."""
        today = timezone.localdate()
        room = cost.ceiling_room(
            headroom=plan_headroom(obj),
            apr_percent=obj.max_all_in_apr_percent,
            purchase_date=obj.purchase_date,
            on=today,
        )
        return str(_("room left %(amount)s today") % {"amount": format_yuan(room)})

    @admin.display(description=_("extensions used"))
    def extensions(self, obj: InstallmentPlan) -> str:
        return f"{obj.extensions_used} / {obj.extension_max}"

    @admin.display(description=_("loan agreement (借款协议)"))
    def agreement_display(self, obj: InstallmentPlan) -> str:
        agreement = PlanAgreement.objects.filter(plan_id=obj.pk).first()
        if agreement is None:
            return str(_("agreement from before versioning"))
        return format_html(
            '<div id="plan-agreement">{} {} · {} · {}: <code>{}</code>'
            '<details><summary>{}</summary><pre style="white-space: pre-wrap">{}</pre></details></div>',
            _("version"),
            agreement.version,
            timezone.localtime(agreement.accepted_at).strftime("%Y-%m-%d %H:%M"),
            "SHA-256",
            agreement.text_sha256,
            _("The text as accepted"),
            agreement.text,
        )

    @admin.display(description=_("APR"), ordering="apr_percent")
    def apr(self, obj: InstallmentPlan) -> str:
        return f"{obj.apr_percent}%"

    @admin.display(description=_("fee or interest rate per period"))
    def fee_rate_percent(self, obj: InstallmentPlan) -> str:
        return percent_text(obj.fee_rate)

    @admin.display(description=_("penalty rate per day"))
    def penalty_rate_percent(self, obj: InstallmentPlan) -> str:
        return percent_text(obj.penalty_daily_rate)

    @admin.display(description=_("prepayment fee rate"))
    def prepayment_fee_rate_percent(self, obj: InstallmentPlan) -> str:
        return percent_text(obj.prepayment_fee_rate)

    @admin.display(description=_("account statement"))
    def statement_link(self, obj: InstallmentPlan) -> str:
        url = reverse("admin:installments_plan_statement", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Journal lines and balances of this plan"))

    def has_delete_permission(self, request: HttpRequest, obj: InstallmentPlan | None = None) -> bool:
        return False

    @admin.display(description=_("charge-off (核销)"))
    def charge_off(self, obj: InstallmentPlan) -> str:
        """Staff see the charge-off by its name, with its date and, on that business day, the Undo page."""
        if obj.charged_off_on is None:
            return "-"
        if obj.status != PlanStatus.CHARGED_OFF:
            return str(_("charged off on %(date)s, since paid off") % {"date": obj.charged_off_on})
        text = _("charged off on %(date)s") % {"date": obj.charged_off_on}
        if obj.charged_off_on != timezone.localdate():
            return str(text)
        return format_html(
            '{} <a class="button" href="{}">{}</a>',
            text,
            reverse("admin:installments_installmentplan_undo_charge_off", args=[obj.pk]),
            _("Undo charge-off"),
        )

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:pk>/undo-charge-off/",
                self.admin_site.admin_view(self.undo_charge_off_view),
                name="installments_installmentplan_undo_charge_off",
            ),
            *super().get_urls(),
        ]

    def undo_charge_off_view(self, request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
        return undo_request_view(self, request, pk)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        """The add page is a form over ``plan_create``: the same rules as every other channel."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = PlanCreateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                plan = plan_create(
                    customer=data["customer"],
                    product=data["product"],
                    principal=data["principal"],
                    tenor=data["tenor"],
                    purchase_date=data["purchase_date"],
                    merchant_order_ref=data["merchant_order_ref"],
                    description=data["description"],
                )
            except ApplicationError as exc:
                show_on_form(form, exc)
            else:
                self.log_addition(request, plan, [{"added": {}}])
                messages.success(request, _("Plan created: %(apr)s%% APR.") % {"apr": plan.apr_percent})
                return HttpResponseRedirect(
                    reverse("admin:installments_installmentplan_change", args=[plan.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": _("Create an installment plan"),
            "intro": _(
                "The plan is created with the product's current terms, frozen. The tenor must be one the "
                "product offers and the APR within its maximum."
            ),
            "form": form,
            "opts": self.model._meta,
            "add": True,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/service_form.html", context)


@admin.register(LoanPrimeRate)
class LoanPrimeRateAdmin(admin.ModelAdmin):
    """The one-year LPR, kept current by finance and team leads: a product that follows the LPR freezes
    the lower of its ceiling and 4 x the rate in force on each new plan's purchase date. Plans already
    made keep the ceiling they froze."""

    list_display = ("effective_on", "one_year_percent", "ceiling_percent", "created_by", "created_at")
    date_hierarchy = "effective_on"
    fields = ("effective_on", "one_year_percent", "created_by", "created_at")
    readonly_fields = ("created_by", "created_at")

    @admin.display(description=_("4 x LPR"))
    def ceiling_percent(self, obj: LoanPrimeRate) -> str:
        return f"{obj.one_year_percent * LPR_MULTIPLE}%"

    def save_model(self, request: HttpRequest, obj: LoanPrimeRate, form: Any, change: bool) -> None:
        if obj.created_by_id is None and request.user.is_authenticated:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request: HttpRequest, obj: LoanPrimeRate | None = None) -> bool:
        return False  # the record of which rate was in force when is kept


@admin.register(CreditEvent)
class CreditEventAdmin(admin.ModelAdmin):
    """A customer's credit record is evidence: staff may read it, never edit or delete it."""

    list_display = ("business_date", "kind", "from_bucket", "to_bucket", "customer", "plan", "created_at")
    list_filter = ("kind", "to_bucket", "business_date")
    search_fields = ("customer__phone", "plan__public_id")
    list_select_related = ("customer", "plan")
    date_hierarchy = "business_date"
    fields = ("customer", "plan", "kind", "from_bucket", "to_bucket", "business_date", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: CreditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: CreditEvent | None = None) -> bool:
        return False
