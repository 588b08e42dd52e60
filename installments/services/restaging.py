"""Re-staging (二次分期): what is left of a plan becomes a new, longer plan, the old and new together.

Self-service re-staging (``plan_restage``) and a negotiated plan's acceptance (``negotiation`` module) share
``restage_locked``: one place moves the balance, so the two can never disagree on what moved. Money already
paid stays on the source plan's installments; what is unpaid becomes ``restructured`` there and is the new
plan's principal, less whatever the rules waive. So for every restructured plan:

    outstanding before = new plan's principal + waived at re-staging

and ``check_ledger`` verifies it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import OtpPurpose, User
from accounts.services import otp_verify
from core.error_codes import ErrorCode
from core.errors import ApplicationError
from core.money import quantize_money
from installments.errors import InstallmentsError
from installments.ledger import (
    PAYABLE_PLAN_STATUSES,
    InstallmentRow,
    PlanRow,
    Successor,
    lock_plan,
    open_installments,
    owing,
    restructure,
)
from installments.models import (
    ZERO,
    Installment,
    InstallmentPlan,
    InstallmentStatus,
    PlanKind,
    PlanStatus,
    ReinstallmentFeeTreatment,
)
from installments.schedules import FeeMethod, Schedule, ScheduleError, build_schedule
from installments.services.agreements import agreement_record
from installments.services.costs import frozen_cost_terms
from installments.signals import RESTAGE, plan_changed, plan_changing
from notifications.services import notification_create


@dataclass(frozen=True)
class Refusal:
    """Why a plan cannot be re-staged: a stable code for clients and a sentence for people."""

    code: ErrorCode
    message: str


@dataclass(frozen=True)
class RestageBalance:
    """What is unpaid on the source plan and how it moves (amounts in yuan)."""

    principal: Decimal  # unpaid principal
    fees: Decimal  # unpaid fees, billed and not yet billed
    penalties: Decimal  # unpaid penalties
    waived_fees: Decimal  # fees of periods not yet due, waived under WAIVE_FUTURE_FEES
    waived_penalties: Decimal = ZERO  # penalties a negotiated offer waives

    @property
    def outstanding(self) -> Decimal:
        return self.principal + self.fees + self.penalties

    @property
    def waived(self) -> Decimal:
        return self.waived_fees + self.waived_penalties

    @property
    def new_principal(self) -> Decimal:
        return self.outstanding - self.waived


@dataclass(frozen=True)
class CurrentPlanSummary:
    """Keeping the current plan, for the comparison a quote shows next to each option."""

    next_payment: Decimal
    remaining_installments: int
    total_cost: Decimal  # everything still to pay, fees and penalties included
    end_date: date | None

    @property
    def average_payment(self) -> Decimal:
        """What a month costs on average: a declining schedule's (等额本金) first payment overstates it,
        so an option is said to lower the monthly payment only when it pays less than this."""
        if not self.remaining_installments:
            return ZERO
        return quantize_money(self.total_cost / self.remaining_installments)


@dataclass(frozen=True)
class RestageOption:
    tenor: int
    schedule: Schedule
    available: bool
    reason: str = ""  # why not, when unavailable (e.g. above the maximum APR)
    extra_cost: Decimal = ZERO  # total to pay under this option - total left under the current plan

    @property
    def monthly_payment(self) -> Decimal:
        return self.schedule.rows[0].total

    @property
    def saving(self) -> Decimal:
        """What the option saves against keeping the plan, when it costs less (for "少付 ¥X")."""
        return -self.extra_cost

    @property
    def highest_payment(self) -> Decimal:
        return max(row.total for row in self.schedule.rows)

    @property
    def total_fee(self) -> Decimal:
        return self.schedule.total_fee

    @property
    def total_cost(self) -> Decimal:
        return self.schedule.total_repayment

    @property
    def apr_percent(self) -> Decimal:
        return self.schedule.apr_percent

    @property
    def end_date(self) -> date:
        return self.schedule.rows[-1].due_date


@dataclass(frozen=True)
class RestageQuote:
    """The options a customer may choose (``options``) and those left out because they only cost more
    (``dropped``: more to pay without a lower monthly payment than keeping the plan)."""

    plan: InstallmentPlan
    balance: RestageBalance
    current: CurrentPlanSummary
    options: list[RestageOption] = field(default_factory=list)
    dropped: list[RestageOption] = field(default_factory=list)

    def option(self, tenor: int) -> RestageOption | None:
        return next((o for o in self.options if o.tenor == tenor and o.available), None)


# --- reads ---------------------------------------------------------------------------------------------


def restage_balance(
    installments: list[InstallmentRow],
    *,
    today: date,
    fee_treatment: str,
    penalty_waiver: Decimal = ZERO,
) -> RestageBalance:
    """Split what is unpaid into what moves and what is waived. ``penalty_waiver`` is capped by the
    penalties actually unpaid (an offer never waives money that is not owed)."""
    principal = fees = penalties = waived_fees = ZERO
    for inst in installments:
        principal += inst.principal_outstanding
        fee = inst.fee_due - inst.fee_paid - inst.fee_waived
        fees += fee
        penalties += inst.penalty_due - inst.penalty_paid - inst.penalty_waived
        if fee_treatment == ReinstallmentFeeTreatment.WAIVE_FUTURE_FEES and inst.due_date > today:
            waived_fees += fee
    return RestageBalance(
        principal=principal,
        fees=fees,
        penalties=penalties,
        waived_fees=waived_fees,
        waived_penalties=min(max(penalty_waiver, ZERO), penalties),
    )


def _current_summary(installments: list[InstallmentRow]) -> CurrentPlanSummary:
    if not installments:
        return CurrentPlanSummary(ZERO, 0, ZERO, None)
    return CurrentPlanSummary(
        next_payment=installments[0].outstanding,
        remaining_installments=len(installments),
        total_cost=sum((i.outstanding for i in installments), ZERO),
        end_date=installments[-1].due_date,
    )


def _restage_count(plan: InstallmentPlan) -> int:
    """How many times the money on this plan has been re-staged already (length of its source chain)."""
    count, current = 0, plan
    while current.source_plan_id is not None:
        count += 1
        current = InstallmentPlan.objects.only("id", "source_plan_id").get(pk=current.source_plan_id)
    return count


def restage_refusals(
    plan: InstallmentPlan, *, today: date | None = None, installments: list[InstallmentRow] | None = None
) -> list[Refusal]:
    """Every reason this plan cannot be re-staged by its customer today; empty when it can."""
    today = today or timezone.localdate()
    product = plan.product
    installments = open_installments(plan.pk) if installments is None else installments
    refusals: list[Refusal] = []
    if not product.restage_allowed:
        refusals.append(
            Refusal(
                InstallmentsError.REINSTALLMENT_NOT_OFFERED,
                _("This product does not offer secondary installments."),
            )
        )
    if plan.status not in PAYABLE_PLAN_STATUSES:
        refusals.append(
            Refusal(InstallmentsError.PLAN_NOT_ACTIVE, _("Only an active plan can be re-staged."))
        )
    late = [i for i in installments if (today - i.due_date).days > plan.grace_days]
    if late:
        refusals.append(
            Refusal(
                InstallmentsError.OVERDUE_BEYOND_GRACE,
                _(
                    "Installment %(seq)s is %(days)s days overdue. Repay what is overdue first, "
                    "or apply for a negotiated plan."
                )
                % {"seq": late[0].sequence, "days": (today - late[0].due_date).days},
            )
        )
    if _restage_count(plan) >= product.restage_max_times:
        refusals.append(
            Refusal(
                InstallmentsError.RESTAGE_LIMIT_REACHED,
                _("This money has already been re-staged %(n)s time(s), the most this product allows.")
                % {"n": product.restage_max_times},
            )
        )
    principal = sum((i.principal_outstanding for i in installments), ZERO)
    if principal < product.restage_min_principal:
        refusals.append(
            Refusal(
                InstallmentsError.PRINCIPAL_BELOW_MINIMUM,
                _("At least ¥%(min)s of principal must be left to re-stage; this plan has ¥%(left)s.")
                % {"min": f"{product.restage_min_principal:,.2f}", "left": f"{principal:,.2f}"},
            )
        )
    return refusals


def restage_schedule(
    *,
    principal: Decimal,
    tenor: int,
    fee_rate: Decimal,
    start: date,
    first_due_date: date | None = None,
) -> Schedule:
    """Secondary and negotiated plans charge a flat fee per period on the moved principal."""
    try:
        return build_schedule(
            fee_method=FeeMethod.FLAT_FEE,
            principal=principal,
            tenor=tenor,
            rate=fee_rate,
            purchase_date=start,
            first_due_date=first_due_date,
        )
    except ScheduleError as exc:
        raise ApplicationError(InstallmentsError.INVALID_TERMS, str(exc)) from exc


def only_costs_more(option: RestageOption, current: CurrentPlanSummary) -> bool:
    """An option that costs more than keeping the plan and does not lower the monthly payment (the
    review's 6 -> 6 installments, ¥36 more for the same payment and end date) is no choice at all."""
    return option.extra_cost > 0 and option.highest_payment >= current.average_payment


def restage_quote(*, plan: InstallmentPlan, today: date | None = None) -> RestageQuote:
    """The tenors the product offers for re-staging, next to keeping the plan. Writes nothing.

    Refused with the first reason when the plan is not eligible; a tenor above the maximum APR is listed
    as unavailable with its reason, so the customer sees why it is missing; a tenor that only costs more
    (``only_costs_more``) is left out (``dropped``) and refused by ``plan_restage_confirmed``.
    """
    today = today or timezone.localdate()
    installments = open_installments(plan.pk)
    refusals = restage_refusals(plan, today=today, installments=installments)
    if refusals:
        raise ApplicationError(refusals[0].code, refusals[0].message)
    product = plan.product
    balance = restage_balance(installments, today=today, fee_treatment=product.restage_fee_treatment)
    current = _current_summary(installments)
    options: list[RestageOption] = []
    dropped: list[RestageOption] = []
    for tenor in sorted(product.restage_tenors):
        schedule = restage_schedule(
            principal=balance.new_principal, tenor=tenor, fee_rate=product.restage_fee_rate, start=today
        )
        over = schedule.apr_percent > product.max_apr_percent
        option = RestageOption(
            tenor=tenor,
            schedule=schedule,
            available=not over,
            reason=(
                _("The annualized rate %(apr)s%% is above the maximum of %(max)s%%.")
                % {"apr": schedule.apr_percent, "max": product.max_apr_percent}
                if over
                else ""
            ),
            extra_cost=schedule.total_repayment - current.total_cost,
        )
        (dropped if only_costs_more(option, current) else options).append(option)
    return RestageQuote(plan=plan, balance=balance, current=current, options=options, dropped=dropped)


# --- writes --------------------------------------------------------------------------------------------


def plan_locked_for_restage(plan_id: int) -> tuple[InstallmentPlan, PlanRow, list[InstallmentRow]]:
    """The ledger's locks on the plan and its installments, then the plan with its product and customer
    read (not locked: a product row is shared by every plan of that product)."""
    row, installments = lock_plan(plan_id, no_key=True)
    plan = InstallmentPlan.objects.select_related("product", "customer").get(pk=plan_id)
    return plan, row, installments


def restage_locked(
    *,
    plan: InstallmentPlan,
    locked: PlanRow,
    installments: list[InstallmentRow],
    kind: str,
    tenor: int,
    fee_rate: Decimal,
    today: date,
    balance: RestageBalance,
    first_due_date: date | None = None,
    autodebit: bool = False,
) -> InstallmentPlan:
    """Close the source plan's unpaid installments and open the new plan. Call inside an atomic block,
    with the plan and its installments locked by ``plan_locked_for_restage``; everything here commits
    together (the ledger writes the source plan's side). Sends ``plan_changing`` first (``repayments``
    refuses while a payment is in flight) and ``plan_changed`` last (it moves the auto-debit mandate and
    cancels scheduled payments; ``autodebit`` asks it to turn auto-debit on for the new plan):
    installments/signals.py."""
    plan_changing.send(sender=InstallmentPlan, plan=plan, kind=RESTAGE)
    if balance.new_principal <= 0:
        raise ApplicationError(
            InstallmentsError.NOTHING_TO_RESTAGE, _("Nothing is left to re-stage on this plan.")
        )
    schedule = restage_schedule(
        principal=balance.new_principal,
        tenor=tenor,
        fee_rate=fee_rate,
        start=today,
        first_due_date=first_due_date,
    )
    product = plan.product
    new_plan = InstallmentPlan.objects.create(
        customer=plan.customer,
        product=product,
        kind=kind,
        source_plan=plan,
        description=_restaged_name(plan, kind),
        principal=balance.new_principal,
        tenor=tenor,
        fee_method=FeeMethod.FLAT_FEE.value,
        fee_rate=fee_rate,
        penalty_daily_rate=product.penalty_daily_rate,
        grace_days=product.grace_days,
        charge_off_after_days=product.charge_off_after_days,
        prepayment_fee_policy=product.prepayment_fee_policy,
        prepayment_fee_rate=product.prepayment_fee_rate,
        total_fee=schedule.total_fee,
        apr_percent=schedule.apr_percent,
        purchase_date=today,
        first_due_date=schedule.rows[0].due_date,
        status=PlanStatus.ACTIVE,
        **frozen_cost_terms(
            product,
            principal=balance.new_principal,
            purchase_date=today,
            flows=[(row.due_date, row.total) for row in schedule.rows],
        ),
    )
    Installment.objects.bulk_create(
        Installment(
            plan=new_plan,
            sequence=row.sequence,
            due_date=row.due_date,
            principal_due=row.principal,
            fee_due=row.fee,
            status=InstallmentStatus.PENDING,
        )
        for row in schedule.rows
    )
    agreement_record(plan=new_plan)
    restructure(
        locked,
        installments,
        waive_fees_due_after=today if balance.waived_fees > 0 else None,
        penalty_waiver=balance.waived_penalties,
        today=today,
        successor=Successor(
            plan_id=new_plan.pk, principal=new_plan.principal, fees=schedule.total_fee, kind=kind
        ),
    )
    plan.status = locked.status
    plan_changed.send(
        sender=InstallmentPlan, plan=plan, kind=RESTAGE, successor=new_plan, autodebit=autodebit
    )
    notification_create(
        user=plan.customer,
        code="plan_restaged",
        context={
            "plan": plan.display_name,
            "tenor": tenor,
            "amount": schedule.rows[0].total,
            "first_due": schedule.rows[0].due_date,
        },
        dedupe_key=f"plan_restaged:{new_plan.public_id}",
    )
    return new_plan


def _restaged_name(plan: InstallmentPlan, kind: str) -> str:
    label = _("negotiated") if kind == PlanKind.NEGOTIATED else _("secondary")
    return f"{plan.display_name} · {label}"[:200]


def plan_restage(*, customer: User, plan_id: int, tenor: int, today: date | None = None) -> InstallmentPlan:
    """二次分期, self-service: re-check eligibility under the locks, then move the balance in one
    transaction. Only the plan's own customer can do it; anyone else gets "no such plan"."""
    today = today or timezone.localdate()
    with transaction.atomic():
        if not InstallmentPlan.objects.filter(pk=plan_id, customer=customer).exists():
            raise ApplicationError(InstallmentsError.PLAN_NOT_FOUND, _("No such plan."))
        plan, locked, installments = plan_locked_for_restage(plan_id)
        product = plan.product
        if tenor not in product.restage_tenors:
            raise ApplicationError(
                InstallmentsError.TENOR_NOT_OFFERED,
                _("%(tenor)s periods is not offered; choose one of %(tenors)s.")
                % {"tenor": tenor, "tenors": ", ".join(str(t) for t in sorted(product.restage_tenors))},
                fields={"tenor": _("Not offered for secondary installments.")},
            )
        owed = owing(installments)
        refusals = restage_refusals(plan, today=today, installments=owed)
        if refusals:
            raise ApplicationError(refusals[0].code, refusals[0].message)
        balance = restage_balance(owed, today=today, fee_treatment=product.restage_fee_treatment)
        schedule = restage_schedule(
            principal=balance.new_principal, tenor=tenor, fee_rate=product.restage_fee_rate, start=today
        )
        if schedule.apr_percent > product.max_apr_percent:
            raise ApplicationError(
                InstallmentsError.APR_ABOVE_MAXIMUM,
                _("The annualized rate %(apr)s%% is above this product's maximum of %(max)s%%.")
                % {"apr": schedule.apr_percent, "max": product.max_apr_percent},
            )
        return restage_locked(
            plan=plan,
            locked=locked,
            installments=installments,
            kind=PlanKind.SECONDARY,
            tenor=tenor,
            fee_rate=product.restage_fee_rate,
            today=today,
            balance=balance,
        )


def plan_restage_confirmed(
    *, customer: User, plan_id: int, tenor: int, otp_code: str, today: date | None = None
) -> InstallmentPlan:
    """二次分期 as the customer confirms it on the web: only an option the quote shows (not one that only
    costs more), the SMS code (purpose ``restage``), then the move (``plan_restage`` re-checks eligibility
    under the locks). The code is checked outside any transaction of ours (accounts.services: a wrong try
    must stay counted), so a wrong or missing code re-stages nothing."""
    plan = InstallmentPlan.objects.select_related("product").filter(pk=plan_id, customer=customer).first()
    if plan is None:
        raise ApplicationError(InstallmentsError.PLAN_NOT_FOUND, _("No such plan."))
    if restage_quote(plan=plan, today=today).option(tenor) is None:
        raise ApplicationError(
            InstallmentsError.TENOR_NOT_OFFERED,
            _("This option is not offered for this plan; choose one of the options shown."),
            fields={"tenor": _("Not offered for secondary installments.")},
        )
    otp_verify(user=customer, purpose=OtpPurpose.RESTAGE, code=otp_code)
    return plan_restage(customer=customer, plan_id=plan_id, tenor=tenor, today=today)
