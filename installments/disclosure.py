"""The cost of paying late as a customer is shown it (README "Fair cost"): the daily penalty rate and its
annualised equivalent, what the penalty is charged on, the cap, the all-in cost ceiling, the grace days
and the table "if you pay N days late you pay at most ¥X" (``installments.cost.late_costs``).

One reader for every page, the API and the agreement: ``late_cost_disclosure(plan)`` for a plan (its
next unpaid installment, with the penalty already charged and the room left under the ceiling) and
``schedule_late_cost`` for terms not yet agreed (a quote's or an offer's first installment, with the
terms the plan would freeze). Reads only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from core.money import ZERO, quantize_money

# The package, not its names: the agreement service (in it) reads this module, so whichever of the two is
# imported first, the other is complete by the time a function here runs.
from installments import cost, journal, services
from installments.models import (
    Installment,
    InstallmentPlan,
    InstallmentProduct,
    InstallmentStatus,
    PenaltyBase,
)
from installments.schedules import Schedule

# The days late the table shows.
TABLE_DAYS = (1, 7, 30, 90)
_PERCENT = Decimal("0.01")


@dataclass(frozen=True)
class LateCostDisclosure:
    """What paying late costs, for one plan (or quote, or offer), in the figures the customer reads."""

    daily_penalty_rate: Decimal  # a fraction: 0.0005 = 0.05% a day
    annualised_percent: Decimal  # daily x 365, in percent
    penalty_base: str  # PenaltyBase
    cap_amount: Decimal  # the most penalty the plan can ever owe, in yuan
    cap_percent: Decimal  # the cap as a percentage of the principal
    ceiling_percent: Decimal  # the all-in annualised cost ceiling (IRR)
    grace_days: int
    penalty_so_far: Decimal  # every penalty already charged on the plan (0 on a quote)
    installment_sequence: int | None  # the installment the table is about (None: nothing left to pay)
    due_date: date | None
    amount_due: Decimal | None
    table: list[cost.LateCost]

    @property
    def daily_percent(self) -> str:
        """The daily rate as people say it: "0.05" (percent, no trailing zeros)."""
        return f"{(self.daily_penalty_rate * 100).normalize():f}"

    @property
    def penalty_base_label(self) -> str:
        return str(PenaltyBase(self.penalty_base).label)

    @property
    def capped(self) -> bool:
        """No more penalty can accrue: the cap is used up."""
        return self.penalty_so_far >= self.cap_amount


def _base(penalty_base: str, principal: Decimal, fee: Decimal) -> Decimal:
    return principal + fee if penalty_base == PenaltyBase.PRINCIPAL_FEE else principal


def _cap_percent(cap_amount: Decimal, principal: Decimal) -> Decimal:
    if principal <= 0:
        return ZERO
    return (cap_amount * 100 / principal).quantize(_PERCENT, rounding=ROUND_HALF_UP)


def schedule_late_cost(
    *, product: InstallmentProduct, principal: Decimal, purchase_date: date, schedule: Schedule
) -> LateCostDisclosure:
    """A quote's or an offer's disclosure: the terms a plan of ``schedule`` would freeze from ``product``
    on ``purchase_date`` (``frozen_cost_terms``, the same call plan creation makes), the table for its
    first installment."""
    terms = services.frozen_cost_terms(
        product,
        principal=principal,
        purchase_date=purchase_date,
        flows=[(row.due_date, row.total) for row in schedule.rows],
    )
    first = schedule.rows[0]
    table = cost.late_costs(
        cost.PenaltyTerms(
            daily_rate=product.penalty_daily_rate,
            grace_days=product.grace_days,
            cap_amount=terms["penalty_cap_amount"],
            ceiling_apr_percent=terms["max_all_in_apr_percent"],
            purchase_date=purchase_date,
        ),
        base=_base(terms["penalty_base"], first.principal, first.fee),
        amount_due=first.total,
        due_date=first.due_date,
        headroom=terms["ceiling_headroom"],
        days=TABLE_DAYS,
    )
    return LateCostDisclosure(
        daily_penalty_rate=product.penalty_daily_rate,
        annualised_percent=cost.penalty_annualised_percent(product.penalty_daily_rate),
        penalty_base=terms["penalty_base"],
        cap_amount=terms["penalty_cap_amount"],
        cap_percent=product.penalty_cap_percent,
        ceiling_percent=terms["max_all_in_apr_percent"],
        grace_days=product.grace_days,
        penalty_so_far=ZERO,
        installment_sequence=first.sequence,
        due_date=first.due_date,
        amount_due=first.total,
        table=table,
    )


def plan_headroom(plan: InstallmentPlan) -> Decimal:
    """The plan's room under its ceiling: the sweep's figure, or (not computed yet) the ledger's rule
    (``ledger.headroom_recompute``) read without writing it."""
    if plan.ceiling_headroom is not None:
        return plan.ceiling_headroom
    flows = [
        (due, principal + fee)
        for due, principal, fee in Installment.objects.filter(plan_id=plan.pk).values_list(
            "due_date", "principal_due", "fee_due"
        )
    ]
    flows += journal.penalties_by_date(plan.pk)
    return cost.ceiling_headroom(
        principal=plan.principal,
        purchase_date=plan.purchase_date,
        flows=flows,
        apr_percent=plan.max_all_in_apr_percent,
    )


def _next_unpaid(plan: InstallmentPlan) -> Installment | None:
    """The installment the table is about: the first not yet overdue with something left to pay (the
    installments' prefetch is used when the page has one)."""
    rows = sorted(plan.installments.all(), key=lambda i: i.sequence)
    return next((i for i in rows if i.status == InstallmentStatus.PENDING and i.outstanding > 0), None)


def late_cost_disclosure(plan: InstallmentPlan) -> LateCostDisclosure:
    """A plan's disclosure from its frozen terms: the table for its next unpaid installment, counting the
    penalty already charged against the cap and the room already used under the ceiling (a plan whose
    accrual stopped for good shows no more penalty)."""
    so_far = plan.penalty_total
    installment = _next_unpaid(plan)
    table: list[cost.LateCost] = []
    if installment is not None:
        table = cost.late_costs(
            cost.PenaltyTerms(
                daily_rate=plan.penalty_daily_rate,
                grace_days=plan.grace_days,
                cap_amount=plan.penalty_cap_amount,
                ceiling_apr_percent=plan.max_all_in_apr_percent,
                purchase_date=plan.purchase_date,
            ),
            base=_base(
                plan.penalty_base,
                installment.principal_outstanding,
                installment.fee_due - installment.fee_paid - installment.fee_waived,
            ),
            amount_due=installment.outstanding,
            due_date=installment.due_date,
            headroom=plan_headroom(plan),
            penalty_so_far=plan.penalty_cap_amount if plan.penalty_capped_on else so_far,
            days=TABLE_DAYS,
        )
    return LateCostDisclosure(
        daily_penalty_rate=plan.penalty_daily_rate,
        annualised_percent=cost.penalty_annualised_percent(plan.penalty_daily_rate),
        penalty_base=plan.penalty_base,
        cap_amount=plan.penalty_cap_amount,
        cap_percent=_cap_percent(plan.penalty_cap_amount, plan.principal),
        ceiling_percent=plan.max_all_in_apr_percent,
        grace_days=plan.grace_days,
        penalty_so_far=quantize_money(so_far),
        installment_sequence=installment.sequence if installment else None,
        due_date=installment.due_date if installment else None,
        amount_due=installment.outstanding if installment else None,
        table=table,
    )
