"""The cost of paying late, as pure math: the penalty cap, the all-in annualised cost ceiling, and what a
customer pays at most for paying N days late. No Django import, like ``schedules.py``.

The ceiling is stated in IRR terms over the plan's dated cash flows: the principal lent on the purchase
date, every installment (principal + fee) on its due date and every penalty on the day it accrued. Time is
actual/365 in months (``months_between``) and the rate is nominal, 12 x the monthly rate, as the APR on a
quote. The plan's flows stay at or under the ceiling ``c`` exactly when their present value at ``c`` does
not exceed the principal, so the ledger keeps one number per plan, the **headroom**: the principal less
the present value at ``c`` (on the purchase date) of every flow so far. A penalty of ``x`` accrued on day
``d`` uses ``x / growth(c, d)`` of it, so the most that may accrue on ``d`` is ``headroom x growth(c, d)``
rounded down to the fen (``ceiling_room``). Costs are counted at the earliest date they could be paid
(the due date, the accrual date); a customer who pays later only lowers the rate they really pay.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal, localcontext

from core.money import ZERO, quantize_money

__all__ = [
    "HEADROOM_QUANTUM",
    "LateCost",
    "PenaltyTerms",
    "ceiling_headroom",
    "ceiling_room",
    "daily_penalty",
    "dated_apr_percent",
    "growth",
    "headroom_after",
    "late_costs",
    "months_between",
    "penalty_annualised_percent",
    "penalty_cap_amount",
    "share_room",
]

DAYS_PER_YEAR = Decimal(365)
# The headroom is kept to 1e-8 yuan (the plan column is numeric(20, 8)), always rounded down: the
# rounding never gives the customer's money to the ceiling's other side.
HEADROOM_QUANTUM = Decimal("0.00000001")
_CENT = Decimal("0.01")
_CONTEXT = Context(prec=40)
_APR_TOLERANCE = Decimal("0.0000001")  # percent: far below the 0.01 the APR is shown to


def months_between(start: date, on: date) -> Decimal:
    """Months from ``start`` to ``on`` on an actual/365 basis (``(on - start).days x 12 / 365``)."""
    with localcontext(_CONTEXT):
        return Decimal((on - start).days) * 12 / DAYS_PER_YEAR


def growth(apr_percent: Decimal, start: date, on: date) -> Decimal:
    """What 1 yuan on ``start`` is worth on ``on`` at the nominal annual rate ``apr_percent``: the
    monthly rate ``apr / 1200`` compounded over ``months_between`` (a fractional power)."""
    with localcontext(_CONTEXT):
        base = 1 + apr_percent / 1200
        return base ** months_between(start, on)


def ceiling_headroom(
    *, principal: Decimal, purchase_date: date, flows: Iterable[tuple[date, Decimal]], apr_percent: Decimal
) -> Decimal:
    """The principal less the present value, at the ceiling ``apr_percent``, of ``flows`` (what the
    customer pays, on the date they owe it). At or above zero: the flows cost at most the ceiling. Below
    zero: the schedule alone is dearer than the ceiling, and no penalty may accrue at all."""
    with localcontext(_CONTEXT):
        value = Decimal(principal)
        for on, amount in flows:
            value -= amount / growth(apr_percent, purchase_date, on)
        return value.quantize(HEADROOM_QUANTUM, rounding=ROUND_FLOOR)


def dated_apr_percent(
    principal: Decimal, purchase_date: date, flows: Iterable[tuple[date, Decimal]]
) -> Decimal:
    """The nominal annual rate (12 x the monthly IRR, in percent, rounded half up to 0.01) at which the dated
    ``flows`` are worth ``principal`` on ``purchase_date``, time counted as ``months_between`` does: the
    APR of a schedule whose dates moved (an extension), stated as the ceiling is. Solved by bisection like
    ``schedules.irr_monthly``: with one outflow and non-negative payments the present value falls as the
    rate rises, so there is one root. Flows worth no more than the principal at 0% answer 0."""
    dated = [(on, Decimal(amount)) for on, amount in flows if amount]
    with localcontext(_CONTEXT):
        if sum((a for _on, a in dated), ZERO) <= principal:
            return ZERO

        def value(apr: Decimal) -> Decimal:
            return sum((a / growth(apr, purchase_date, on) for on, a in dated), ZERO)

        low, high = ZERO, Decimal(100)
        while value(high) > principal:
            low, high = high, high * 2
        while high - low > _APR_TOLERANCE:
            middle = (low + high) / 2
            if value(middle) > principal:
                low = middle
            else:
                high = middle
        return ((low + high) / 2).quantize(_CENT, rounding=ROUND_HALF_UP)


def ceiling_room(*, headroom: Decimal, apr_percent: Decimal, purchase_date: date, on: date) -> Decimal:
    """The most penalty that may accrue on ``on`` without passing the ceiling, rounded down to the fen."""
    if headroom <= 0:
        return ZERO
    with localcontext(_CONTEXT):
        return (headroom * growth(apr_percent, purchase_date, on)).quantize(_CENT, rounding=ROUND_FLOOR)


def headroom_after(
    *, headroom: Decimal, amount: Decimal, apr_percent: Decimal, purchase_date: date, on: date
) -> Decimal:
    """The headroom once ``amount`` accrued on ``on``: its present value comes off, rounded down."""
    with localcontext(_CONTEXT):
        used = amount / growth(apr_percent, purchase_date, on)
        return (headroom - used).quantize(HEADROOM_QUANTUM, rounding=ROUND_FLOOR)


def penalty_cap_amount(principal: Decimal, cap_percent: Decimal) -> Decimal:
    """The most penalty a plan can ever owe: ``cap_percent`` of its principal, rounded down to the fen."""
    with localcontext(_CONTEXT):
        return (principal * cap_percent / 100).quantize(_CENT, rounding=ROUND_FLOOR)


def daily_penalty(base: Decimal, daily_rate: Decimal, days: int) -> Decimal:
    """What ``days`` days of penalty on ``base`` come to before any cap: the sweep's figure (rounded half up
    to the fen once per charge, as the sweep rounds each day's charge)."""
    with localcontext(_CONTEXT):
        return (daily_rate * base * days).quantize(_CENT, rounding=ROUND_HALF_UP)


def penalty_annualised_percent(daily_rate: Decimal) -> Decimal:
    """The daily penalty rate as a simple annual percentage (``daily x 365``), to 0.01: how a disclosure
    states it next to the APR."""
    with localcontext(_CONTEXT):
        return (daily_rate * DAYS_PER_YEAR * 100).quantize(_CENT, rounding=ROUND_HALF_UP)


def share_room(amounts: Sequence[Decimal], room: Decimal) -> list[Decimal]:
    """Split one plan's room for the day over its installments' uncapped charges, oldest first: each takes
    what it asks for while room is left. The sweep's window sum states the same rule in SQL."""
    left = max(room, ZERO)
    shares = []
    for amount in amounts:
        take = min(amount, left)
        shares.append(take)
        left -= take
    return shares


@dataclass(frozen=True)
class PenaltyTerms:
    """What decides a plan's cost of paying late (frozen on the plan)."""

    daily_rate: Decimal
    grace_days: int
    cap_amount: Decimal
    ceiling_apr_percent: Decimal
    purchase_date: date


@dataclass(frozen=True)
class LateCost:
    """Paying an installment ``days`` late costs at most ``penalty`` more (``total`` with the installment)."""

    days: int
    penalty: Decimal
    total: Decimal


def late_costs(
    terms: PenaltyTerms,
    *,
    base: Decimal,
    amount_due: Decimal,
    due_date: date,
    headroom: Decimal,
    penalty_so_far: Decimal = ZERO,
    days: Iterable[int] = (1, 7, 30, 90),
) -> list[LateCost]:
    """The disclosure's table: for each number of days late, the penalty the daily sweep would charge on
    one installment (``base`` is what the penalty is charged on, ``amount_due`` what the installment asks)
    if nothing else were late, each day's charge held under the cap and the ceiling as the sweep holds it.
    The first charge, on the day after the grace days, covers every day since the due date."""
    wanted = sorted(set(days))
    results: dict[int, Decimal] = {}
    total = ZERO
    left_cap = max(terms.cap_amount - penalty_so_far, ZERO)
    room_pv = headroom
    capped = False
    for day in range((wanted[-1] if wanted else 0) + 1):
        if day > terms.grace_days and day > 0 and not capped:
            charged_days = day if day == terms.grace_days + 1 else 1
            asked = daily_penalty(base, terms.daily_rate, charged_days)
            on = due_date + timedelta(days=day)
            room = min(
                left_cap,
                ceiling_room(
                    headroom=room_pv,
                    apr_percent=terms.ceiling_apr_percent,
                    purchase_date=terms.purchase_date,
                    on=on,
                ),
            )
            charge = min(asked, room)
            if asked >= room:
                capped = True
            if charge > 0:
                total += charge
                left_cap -= charge
                room_pv = headroom_after(
                    headroom=room_pv,
                    amount=charge,
                    apr_percent=terms.ceiling_apr_percent,
                    purchase_date=terms.purchase_date,
                    on=on,
                )
        if day in wanted:
            results[day] = total
    return [
        LateCost(days=d, penalty=results[d], total=quantize_money(amount_due + results[d])) for d in wanted
    ]
