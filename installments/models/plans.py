"""Products, plans and their installments.

A plan freezes its product's terms when it is created: a later change to the product never changes what
a customer already signed for. The database states every money invariant it can as a constraint, so a
bug in any writer is refused at the row instead of found in a reconciliation.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

from core.ids import new_public_id, short_ref
from core.money import ZERO
from core.money_input import AsciiDecimalModelField, MoneyModelField
from installments.schedules import FeeMethod

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


def money_field(verbose_name: StrOrPromise, **kwargs: Any) -> models.DecimalField:
    """Amounts are yuan with two decimals, up to 999,999,999,999.99 (DESIGN.md, Money)."""
    kwargs.setdefault("default", ZERO)
    return MoneyModelField(verbose_name, max_digits=14, decimal_places=2, **kwargs)


def rate_field(verbose_name: StrOrPromise, **kwargs: Any) -> models.DecimalField:
    """Rates as fractions (0.005 = 0.5%), precise enough for a daily penalty rate like 0.0005."""
    return AsciiDecimalModelField(verbose_name, max_digits=9, decimal_places=6, **kwargs)


# Days past due at which a plan is charged off (核销) unless its product says otherwise.
DEFAULT_CHARGE_OFF_AFTER_DAYS = 180


def default_tenors() -> list[int]:
    return [3, 6, 12, 24]


def default_restage_tenors() -> list[int]:
    return [6, 12, 24]


class FeeMethodChoices(models.TextChoices):
    FLAT_FEE = FeeMethod.FLAT_FEE.value, _("flat fee per period")
    EQUAL_INSTALLMENT = FeeMethod.EQUAL_INSTALLMENT.value, _("equal installments")
    EQUAL_PRINCIPAL = FeeMethod.EQUAL_PRINCIPAL.value, _("equal principal")


class PrepaymentFeePolicy(models.TextChoices):
    WAIVE_FUTURE_FEES = "waive_future_fees", _("paying off early waives the fees of future periods")
    CHARGE_REMAINING_FEES = "charge_remaining_fees", _("paying off early still owes every fee")
    PERCENT_OF_PRINCIPAL = "percent_of_principal", _("a fee of a rate x the principal paid early")


class PenaltyBase(models.TextChoices):
    """What the daily penalty is charged on. Never the penalty itself (no penalty on penalty)."""

    PRINCIPAL = "principal", _("overdue principal only")
    PRINCIPAL_FEE = "principal_fee", _("overdue principal and fee")


class HolidayFeePolicy(models.TextChoices):
    """What a payment holiday (staff) costs for the periods it skips."""

    FREE = "free", _("no fee for the skipped periods")
    PERIOD_FEE = "period_fee", _("each skipped period adds one period's fee")


# The all-in cost ceiling defaults to the regulators' 24% line; a product may follow 4 x the one-year LPR.
DEFAULT_ALL_IN_APR = Decimal("24.00")
DEFAULT_PENALTY_CAP_PERCENT = Decimal("25.00")
DEFAULT_ARREARS_TOLERANCE = Decimal("1.00")


class ReinstallmentFeeTreatment(models.TextChoices):
    """What happens to the source plan's unpaid fees when it is re-staged (二次分期)."""

    WAIVE_FUTURE_FEES = "waive_future_fees", _("fees not yet due are waived; billed ones move over")
    CAPITALIZE_FEES = "capitalize_fees", _("every unpaid fee moves into the new plan's principal")


class InstallmentProduct(models.Model):
    """分期产品: the terms offered. Plans copy what they need of it when created."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=80)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    fee_method = models.CharField(_("fee method"), max_length=24, choices=FeeMethodChoices.choices)
    tenors = models.JSONField(
        _("tenors"),
        default=default_tenors,
        help_text=_("Allowed numbers of periods, e.g. [3, 6, 12, 24]."),
    )
    fee_rate = rate_field(
        _("fee or interest rate"),
        help_text=_(
            "flat fee: the fee per period as a fraction of the principal (0.005 = 0.5%); "
            "equal installment / equal principal: the annual interest rate (0.12 = 12%)."
        ),
    )
    penalty_daily_rate = rate_field(_("penalty daily rate"), default=Decimal("0.000500"))
    grace_days = models.PositiveSmallIntegerField(_("grace days"), default=3)
    max_apr_percent = AsciiDecimalModelField(
        _("maximum APR (%)"), max_digits=6, decimal_places=2, default=Decimal("24.00")
    )
    min_principal = money_field(_("minimum principal"), default=Decimal("100.00"))
    max_principal = money_field(_("maximum principal"), default=Decimal("50000.00"))
    prepayment_fee_policy = models.CharField(
        _("prepayment fee policy"),
        max_length=24,
        choices=PrepaymentFeePolicy.choices,
        default=PrepaymentFeePolicy.WAIVE_FUTURE_FEES,
    )
    prepayment_fee_rate = rate_field(_("prepayment fee rate"), default=ZERO)
    allow_credit_cards = models.BooleanField(_("credit cards allowed for repayment"), default=False)
    # Auto-debit retry policy (自动扣款): how many of the day's debit slots (AUTODEBIT_SLOTS) a due date
    # uses, and whether the plan is retried once a day during its grace days.
    autodebit_slots_per_day = models.PositiveSmallIntegerField(
        _("auto-debit: attempts on the due date"), default=3, validators=[MinValueValidator(1)]
    )
    autodebit_retry_in_grace = models.BooleanField(
        _("auto-debit: retry daily during grace days"), default=True
    )
    # Re-installment (二次分期) rules, used by the secondary-plan flow.
    restage_allowed = models.BooleanField(_("re-installment allowed"), default=True)
    restage_max_times = models.PositiveSmallIntegerField(_("re-installment: max times per plan"), default=1)
    restage_min_principal = money_field(
        _("re-installment: minimum outstanding principal"), default=Decimal("100.00")
    )
    restage_tenors = models.JSONField(_("re-installment tenors"), default=default_restage_tenors)
    restage_fee_rate = rate_field(
        _("re-installment fee rate"),
        default=Decimal("0.006000"),
        help_text=_("Secondary plans charge a flat fee per period: this fraction of their principal."),
    )
    restage_fee_treatment = models.CharField(
        _("re-installment: source plan's unpaid fees"),
        max_length=24,
        choices=ReinstallmentFeeTreatment.choices,
        default=ReinstallmentFeeTreatment.WAIVE_FUTURE_FEES,
    )
    negotiated_max_tenor = models.PositiveSmallIntegerField(_("negotiated plan: maximum tenor"), default=36)
    # 核销: the daily run charges off a plan this many days past due (its oldest overdue installment's).
    charge_off_after_days = models.PositiveSmallIntegerField(
        _("charge off after days past due"),
        default=DEFAULT_CHARGE_OFF_AFTER_DAYS,
        validators=[MinValueValidator(1)],
        help_text=_("The daily run charges off a plan this many days past due (frozen onto new plans)."),
    )
    # The cost of paying late (README "Fair cost"), frozen onto each plan like the other terms.
    penalty_base = models.CharField(
        _("penalty charged on"), max_length=16, choices=PenaltyBase.choices, default=PenaltyBase.PRINCIPAL
    )
    penalty_cap_percent = AsciiDecimalModelField(
        _("penalty cap (% of principal)"),
        max_digits=5,
        decimal_places=2,
        default=DEFAULT_PENALTY_CAP_PERCENT,
        help_text=_("The penalty a plan can ever owe in all, as a percentage of its principal."),
    )
    max_all_in_apr_percent = AsciiDecimalModelField(
        _("all-in cost ceiling (annualised %)"),
        max_digits=6,
        decimal_places=2,
        default=DEFAULT_ALL_IN_APR,
        help_text=_("Fees, extension fees and penalties together never cost more than this (IRR)."),
    )
    ceiling_follows_lpr = models.BooleanField(
        _("ceiling follows 4 x the one-year LPR"),
        default=False,
        help_text=_("New plans take the lower of the ceiling above and 4 x the LPR staff keep current."),
    )
    arrears_tolerance = money_field(
        _("arrears tolerance"),
        default=DEFAULT_ARREARS_TOLERANCE,
        help_text=_("An open amount at or below this does not make an installment overdue."),
    )
    # 延期: the customer moves one installment's due date by a few days, on request.
    extension_max = models.PositiveSmallIntegerField(_("extension: max times per plan"), default=1)
    extension_max_days = models.PositiveSmallIntegerField(
        _("extension: max days"), default=14, validators=[MinValueValidator(1)]
    )
    extension_fee_rate = rate_field(
        _("extension fee rate"),
        default=ZERO,
        help_text=_("A fee of this fraction of the moved installment's principal (0 = free)."),
    )
    # Payment holiday (staff): skip periods and extend the term.
    holiday_max_periods = models.PositiveSmallIntegerField(_("payment holiday: max periods"), default=3)
    holiday_fee_policy = models.CharField(
        _("payment holiday: fees"),
        max_length=16,
        choices=HolidayFeePolicy.choices,
        default=HolidayFeePolicy.FREE,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("installment product")
        verbose_name_plural = _("installment products")
        ordering = ("code",)
        constraints = [
            models.CheckConstraint(condition=Q(fee_rate__gte=0), name="product_fee_rate_gte_0"),
            models.CheckConstraint(condition=Q(penalty_daily_rate__gte=0), name="product_penalty_rate_gte_0"),
            models.CheckConstraint(condition=Q(max_apr_percent__gt=0), name="product_max_apr_gt_0"),
            models.CheckConstraint(condition=Q(min_principal__gt=0), name="product_min_principal_gt_0"),
            models.CheckConstraint(
                condition=Q(max_principal__gte=F("min_principal")), name="product_principal_range"
            ),
            models.CheckConstraint(condition=Q(prepayment_fee_rate__gte=0), name="product_prepay_rate_gte_0"),
            models.CheckConstraint(condition=Q(restage_fee_rate__gte=0), name="product_reinst_rate_gte_0"),
            models.CheckConstraint(
                condition=Q(restage_min_principal__gte=0), name="product_reinst_min_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(charge_off_after_days__gte=1), name="product_charge_off_gte_1"
            ),
            models.CheckConstraint(condition=Q(penalty_cap_percent__gte=0), name="product_penalty_cap_gte_0"),
            models.CheckConstraint(condition=Q(max_all_in_apr_percent__gt=0), name="product_all_in_apr_gt_0"),
            models.CheckConstraint(condition=Q(arrears_tolerance__gte=0), name="product_tolerance_gte_0"),
            models.CheckConstraint(condition=Q(extension_fee_rate__gte=0), name="product_ext_fee_gte_0"),
        ]

    def __str__(self) -> str:
        return self.name


class PlanStatus(models.TextChoices):
    ACTIVE = "active", _("active")
    OVERDUE = "overdue", _("overdue")
    PAID_OFF = "paid_off", _("paid off")
    RESTRUCTURED = "restructured", _("restructured")
    CANCELLED = "cancelled", _("cancelled")
    # 核销: staff see this; customers see the plan as overdue with "please contact us" (never this word).
    CHARGED_OFF = "charged_off", _("charged off")


class DelinquencyBucket(models.TextChoices):
    """逾期阶段, by days past due of the oldest overdue installment (DESIGN.md glossary)."""

    M0 = "M0", _("M0 current")
    M1 = "M1", _("M1 (1-30 days)")
    M2 = "M2", _("M2 (31-60 days)")
    M3 = "M3", _("M3 (61-90 days)")
    M3_PLUS = "M3+", _("M3+ (over 90 days)")


class PlanKind(models.TextChoices):
    ORIGINAL = "original", _("original")
    SECONDARY = "secondary", _("secondary installment")
    NEGOTIATED = "negotiated", _("negotiated")


class InstallmentPlan(models.Model):
    """分期计划: one financed purchase (or a re-staged balance) with the terms frozen at creation."""

    public_id = models.UUIDField(_("reference number"), default=new_public_id, unique=True, editable=False)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="plans",
        verbose_name=_("customer"),
    )
    product = models.ForeignKey(
        InstallmentProduct,
        on_delete=models.PROTECT,
        related_name="plans",
        verbose_name=_("product"),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=PlanKind.choices, default=PlanKind.ORIGINAL)
    source_plan = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="secondary_plans",
        verbose_name=_("source plan"),
    )
    merchant_order_ref = models.CharField(_("merchant order reference"), max_length=64, blank=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    principal = money_field(_("principal"), default=None)
    tenor = models.PositiveSmallIntegerField(_("tenor"), validators=[MinValueValidator(1)])
    # Terms frozen from the product at creation.
    fee_method = models.CharField(_("fee method"), max_length=24, choices=FeeMethodChoices.choices)
    fee_rate = rate_field(_("fee or interest rate"))
    penalty_daily_rate = rate_field(_("penalty daily rate"))
    grace_days = models.PositiveSmallIntegerField(_("grace days"))
    prepayment_fee_policy = models.CharField(
        _("prepayment fee policy"), max_length=24, choices=PrepaymentFeePolicy.choices
    )
    prepayment_fee_rate = rate_field(_("prepayment fee rate"))
    charge_off_after_days = models.PositiveSmallIntegerField(
        _("charge off after days past due"), default=DEFAULT_CHARGE_OFF_AFTER_DAYS
    )
    total_fee = money_field(_("total fee"), default=None)
    apr_percent = AsciiDecimalModelField(_("APR (%)"), max_digits=6, decimal_places=2)
    purchase_date = models.DateField(_("purchase date"))
    first_due_date = models.DateField(_("first due date"))
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=PlanStatus.choices,
        default=PlanStatus.ACTIVE,
    )
    # Written only by the daily overdue sweep, as of its business date.
    days_past_due = models.PositiveIntegerField(_("days past due"), default=0)
    delinquency_bucket = models.CharField(
        _("delinquency bucket"),
        max_length=3,
        choices=DelinquencyBucket.choices,
        default=DelinquencyBucket.M0,
    )
    # The business date of the plan's charge-off (核销), written only by ``installments.ledger.charge_off``
    # and cleared by ``charge_off_undo``. It stays set when a charged-off plan is paid in full (paid off,
    # and it was charged off): the ledger keeps such a plan charged off again if a payment is reversed.
    charged_off_on = models.DateField(_("charged off on"), null=True, blank=True)
    # The cost of paying late, frozen from the product (installments/cost.py says how they are used).
    penalty_base = models.CharField(
        _("penalty charged on"), max_length=16, choices=PenaltyBase.choices, default=PenaltyBase.PRINCIPAL
    )
    penalty_cap_amount = money_field(_("penalty cap"), default=None)
    max_all_in_apr_percent = AsciiDecimalModelField(
        _("all-in cost ceiling (annualised %)"), max_digits=6, decimal_places=2, default=DEFAULT_ALL_IN_APR
    )
    arrears_tolerance = money_field(_("arrears tolerance"), default=DEFAULT_ARREARS_TOLERANCE)
    extension_max = models.PositiveSmallIntegerField(_("extension: max times"), default=1)
    extensions_used = models.PositiveSmallIntegerField(_("extensions used"), default=0)
    # Written only by the sweep (and the ledger when a schedule changes): every penalty ever charged (a
    # waiver does not give the room back), the present value left under the ceiling (NULL: the sweep
    # computes it before it charges), and the day accrual stopped for good at the cap or the ceiling.
    penalty_total = money_field(_("penalty charged in all"))
    ceiling_headroom = models.DecimalField(
        _("room under the cost ceiling (present value)"),
        max_digits=20,
        decimal_places=8,
        null=True,
        blank=True,
    )
    penalty_capped_on = models.DateField(_("penalty stopped at its cap on"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("installment plan")
        verbose_name_plural = _("installment plans")
        ordering = ("-created_at", "-id")
        # No index names status, days_past_due or the bucket: the sweep and every repayment rewrite them, and
        # on PostgreSQL an update that changes no indexed column is a HOT update (no index is touched). The
        # table has fillfactor 70 (migration 0004) so the new row version fits on its page.
        constraints = [
            models.CheckConstraint(condition=Q(principal__gt=0), name="plan_principal_gt_0"),
            models.CheckConstraint(condition=Q(tenor__gte=1), name="plan_tenor_gte_1"),
            models.CheckConstraint(condition=Q(total_fee__gte=0), name="plan_total_fee_gte_0"),
            models.CheckConstraint(condition=Q(fee_rate__gte=0), name="plan_fee_rate_gte_0"),
            models.CheckConstraint(condition=Q(penalty_daily_rate__gte=0), name="plan_penalty_rate_gte_0"),
            models.CheckConstraint(condition=Q(apr_percent__gte=0), name="plan_apr_gte_0"),
            models.CheckConstraint(
                condition=Q(first_due_date__gt=F("purchase_date")),
                name="plan_first_due_after_purchase",
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind=PlanKind.ORIGINAL, source_plan__isnull=True)
                    | (~Q(kind=PlanKind.ORIGINAL) & Q(source_plan__isnull=False))
                ),
                name="plan_source_iff_not_original",
            ),
            models.CheckConstraint(
                condition=~Q(status="charged_off") | Q(charged_off_on__isnull=False),
                name="plan_charged_off_has_date",
            ),
            models.CheckConstraint(condition=Q(penalty_cap_amount__gte=0), name="plan_penalty_cap_gte_0"),
            models.CheckConstraint(condition=Q(penalty_total__gte=0), name="plan_penalty_total_gte_0"),
            models.CheckConstraint(condition=Q(arrears_tolerance__gte=0), name="plan_tolerance_gte_0"),
            # One merchant order is financed once per customer.
            models.UniqueConstraint(
                fields=["customer", "merchant_order_ref"],
                condition=Q(kind=PlanKind.ORIGINAL) & ~Q(merchant_order_ref=""),
                name="plan_unique_merchant_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.tenor})"

    @property
    def display_name(self) -> str:
        """How SMS and pages name the plan: its description, else the order, else a short id."""
        return self.description or self.merchant_order_ref or short_ref(self.public_id)

    @property
    def customer_status(self) -> str:
        """The status a customer is shown (pages and API): a charged-off plan is "overdue" to them; the
        charge-off is an internal accounting state they are never told the name of."""
        return PlanStatus.OVERDUE if self.status == PlanStatus.CHARGED_OFF else self.status

    @property
    def contact_us(self) -> bool:
        """The customer should call support about this plan (it was charged off: no more reminders)."""
        return self.status == PlanStatus.CHARGED_OFF

    @property
    def customer_status_label(self) -> StrOrPromise:
        if self.contact_us:
            return CONTACT_US
        return PlanStatus(self.status).label


# What a customer is told about a charged-off plan (已逾期，请联系客服), on pages, in the API and SMS.
CONTACT_US = _("Overdue, please contact us")
# The plan statuses a customer can be shown (the API's PlanStatusEnum): every one but charged off.
CUSTOMER_PLAN_STATUS_CHOICES = [c for c in PlanStatus.choices if c[0] != PlanStatus.CHARGED_OFF]


class InstallmentStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    OVERDUE = "overdue", _("overdue")
    PAID = "paid", _("paid")
    RESTRUCTURED = "restructured", _("restructured")
    WAIVED = "waived", _("waived")


# An installment's money columns, component by component (the ledger's rows, the admin and the constraints
# name them from here).
INSTALLMENT_MONEY_FIELDS: tuple[str, ...] = tuple(
    f"{part}_{kind}" for kind in ("due", "paid", "waived") for part in ("principal", "fee", "penalty")
)


class Installment(models.Model):
    """期: one scheduled due amount. Due, paid and waived are kept per component (冲账 needs them)."""

    # Indexed by the unique (plan, sequence) constraint.
    plan = models.ForeignKey(
        InstallmentPlan,
        on_delete=models.PROTECT,
        related_name="installments",
        verbose_name=_("plan"),
        db_index=False,
    )
    sequence = models.PositiveSmallIntegerField(_("sequence"))
    due_date = models.DateField(_("due date"))
    principal_due = money_field(_("principal due"))
    fee_due = money_field(_("fee due"))
    penalty_due = money_field(_("penalty due"))
    principal_paid = money_field(_("principal paid"))
    fee_paid = money_field(_("fee paid"))
    penalty_paid = money_field(_("penalty paid"))
    principal_waived = money_field(_("principal waived"))
    fee_waived = money_field(_("fee waived"))
    penalty_waived = money_field(_("penalty waived"))
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=InstallmentStatus.choices,
        default=InstallmentStatus.PENDING,
    )
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    # The last day penalty was charged for: the sweep charges only the days after it, so a re-run is a no-op.
    penalty_accrued_through = models.DateField(_("penalty accrued through"), null=True, blank=True)
    # Whether the fee has moved from unearned to earned income in the journal: when the installment fell
    # due, or earlier if it was paid or capitalised first (installments/journal.py).
    fee_billed = models.BooleanField(_("fee billed"), default=False)

    class Meta:
        verbose_name = _("installment")
        verbose_name_plural = _("installments")
        ordering = ("plan_id", "sequence")
        # As for plans: status and the amounts are in no index, so marking, accruing and paying are HOT
        # updates on PostgreSQL (fillfactor 70 too); the due-date scans filter status on the row.
        constraints = [
            models.UniqueConstraint(fields=["plan", "sequence"], name="installment_unique_plan_sequence"),
            models.CheckConstraint(condition=Q(sequence__gte=1), name="installment_sequence_gte_1"),
            *[
                models.CheckConstraint(condition=Q(**{f"{field}__gte": 0}), name=f"installment_{field}_gte_0")
                for field in INSTALLMENT_MONEY_FIELDS
            ],
            *[
                models.CheckConstraint(
                    condition=Q(**{f"{part}_due__gte": F(f"{part}_paid") + F(f"{part}_waived")}),
                    name=f"installment_{part}_paid_lte_due",
                )
                for part in ("principal", "fee", "penalty")
            ],
            models.CheckConstraint(
                condition=~Q(status=InstallmentStatus.PAID) | Q(paid_at__isnull=False),
                name="installment_paid_has_paid_at",
            ),
        ]
        indexes = [
            models.Index(fields=["due_date"], name="installment_due_date"),
            # The sweep's fee billing reads only installments whose fee is not yet earned.
            models.Index(fields=["due_date"], condition=Q(fee_billed=False), name="installment_fee_unbilled"),
            # The sweep's plan step and case amounts read the overdue installments by plan (few on a day).
            models.Index(
                fields=["plan", "due_date"],
                condition=Q(status=InstallmentStatus.OVERDUE),
                name="installment_overdue",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan_id}#{self.sequence} {self.due_date}"

    @property
    def total_due(self) -> Decimal:
        return self.principal_due + self.fee_due + self.penalty_due

    @property
    def total_paid(self) -> Decimal:
        return self.principal_paid + self.fee_paid + self.penalty_paid

    @property
    def total_waived(self) -> Decimal:
        return self.principal_waived + self.fee_waived + self.penalty_waived

    @property
    def outstanding(self) -> Decimal:
        return self.total_due - self.total_paid - self.total_waived

    @property
    def owed(self) -> Decimal:
        """What the customer still owes on this installment, as they are shown it. A restructured
        installment owes nothing here: its open amount moved to the successor plan (the ledger's
        restructuring check still reads ``outstanding``, the amount that moved)."""
        return ZERO if self.status == InstallmentStatus.RESTRUCTURED else self.outstanding

    @staticmethod
    def open_amount() -> models.Expression:
        """``outstanding`` as a database expression, for aggregates and filters over many rows."""
        return (
            F("principal_due") + F("fee_due") + F("penalty_due")
            - F("principal_paid") - F("fee_paid") - F("penalty_paid")
            - F("principal_waived") - F("fee_waived") - F("penalty_waived")
        )  # fmt: skip

    @property
    def principal_outstanding(self) -> Decimal:
        return self.principal_due - self.principal_paid - self.principal_waived


class CreditEventKind(models.TextChoices):
    BECAME_LATE = "became_late", _("became late")
    CURED = "cured", _("cured")
    BUCKET_CHANGED = "bucket_changed", _("delinquency bucket changed")
    RESTRUCTURED = "restructured", _("restructured")
    CHARGED_OFF = "charged_off", _("charged off")
    # A charge-off undone by staff on its business day (the plan is back to overdue).
    REINSTATED = "reinstated", _("charge-off undone")
    # Relief the customer asked for and got: not adverse (an extension, a payment holiday).
    EXTENDED = "extended", _("due date extended")
    HOLIDAY = "holiday", _("payment holiday")


class CreditEvent(models.Model):
    """信用记录: an append-only fact about a customer's record, written once per plan, kind and day."""

    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="credit_events",
        verbose_name=_("customer"),
        db_index=False,  # credit_event_customer_date (customer, business_date) serves it
    )
    plan = models.ForeignKey(
        InstallmentPlan,
        on_delete=models.PROTECT,
        related_name="credit_events",
        verbose_name=_("plan"),
        db_index=False,  # credit_event_unique_per_day (plan, ...) serves it
    )
    kind = models.CharField(_("kind"), max_length=16, choices=CreditEventKind.choices)
    from_bucket = models.CharField(_("from bucket"), max_length=3, choices=DelinquencyBucket.choices)
    to_bucket = models.CharField(_("to bucket"), max_length=3, choices=DelinquencyBucket.choices)
    business_date = models.DateField(_("business date"))
    # A database default, because the sweep writes events with INSERT ... SELECT.
    created_at = models.DateTimeField(_("created at"), db_default=Now())

    class Meta:
        verbose_name = _("credit event")
        verbose_name_plural = _("credit events")
        ordering = ("business_date", "id")
        constraints = [
            # A re-run of the sweep for the same business date writes nothing twice.
            models.UniqueConstraint(
                fields=["plan", "kind", "business_date", "to_bucket"], name="credit_event_unique_per_day"
            ),
        ]
        indexes = [models.Index(fields=["customer", "business_date"], name="credit_event_customer_date")]

    def __str__(self) -> str:
        return f"{self.business_date} {self.get_kind_display()}: {self.from_bucket} → {self.to_bucket}"
