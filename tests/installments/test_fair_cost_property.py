"""Issue 20's "done when", as a property on both databases: for any plan terms, lateness, partial payments,
hardship freezes and extensions (延期, with or without a fee), each day's sweep charges exactly what
``installments.cost`` says (the same cents on PostgreSQL and SQLite), no plan's penalty passes its cap, and
the realised dated IRR of every plan (principal out on the purchase date, each installment on its due date,
each penalty on the day it accrued) stays at or under its ceiling to the fen, computed here independently
by float bisection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import time_machine
from django.db import transaction
from hypothesis import HealthCheck, event, given, reject
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from accounts.models import OtpPurpose
from core.errors import ApplicationError
from installments import cost
from installments.models import (
    FreezeReason,
    Installment,
    InstallmentPlan,
    InstallmentStatus,
    PenaltyBase,
    PlanFreeze,
    PlanStatus,
)
from installments.services import extension_apply, overdue_sweep, plan_create
from repayments.ledger import ledger_breaches
from repayments.models import RepaymentChannel, RepaymentMode, RepaymentStatus
from repayments.services import repayment_create

ZONE = ZoneInfo("Asia/Shanghai")
PURCHASE = date(2025, 1, 10)
OPEN = (InstallmentStatus.PENDING, InstallmentStatus.OVERDUE)


@dataclass(frozen=True)
class Terms:
    principal: Decimal
    tenor: int
    fee_method: str
    fee_rate: Decimal
    penalty_rate: Decimal
    cap_percent: Decimal
    ceiling: Decimal
    base: str
    grace: int
    tolerance: Decimal


def _rate(low: str, high: str, places: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=Decimal(low), max_value=Decimal(high), places=places)


@st.composite
def terms(draw: st.DrawFn) -> Terms:
    method = draw(st.sampled_from(["flat_fee", "equal_installment", "equal_principal"]))
    fee_rate = draw(_rate("0.001", "0.012", 4) if method == "flat_fee" else _rate("0.03", "0.30", 3))
    return Terms(
        principal=draw(_rate("300", "5000", 2)),
        tenor=draw(st.sampled_from([3, 6, 12])),
        fee_method=method,
        fee_rate=fee_rate,
        penalty_rate=draw(_rate("0.0002", "0.003", 6)),
        cap_percent=draw(_rate("0.5", "30", 2)),
        ceiling=draw(_rate("8", "36", 2)),
        base=draw(st.sampled_from([PenaltyBase.PRINCIPAL, PenaltyBase.PRINCIPAL_FEE])),
        grace=draw(st.integers(0, 5)),
        tolerance=draw(st.sampled_from([Decimal("0.00"), Decimal("1.00"), Decimal("2.50")])),
    )


# A run: sweep days as steps after the first due date; before some sweeps a payment of a share of what is
# owed; maybe one freeze (start step, length, ended early or not).
steps = st.lists(st.integers(1, 25), min_size=3, max_size=14)
payments = st.dictionaries(st.integers(0, 13), st.sampled_from(["0.3", "0.6", "0.97", "all"]), max_size=3)
freezes = st.none() | st.tuples(st.integers(0, 200), st.integers(1, 30), st.booleans())
# Maybe one extension asked for some days before (or just after) the first due date: (offset, days, fee rate).
extensions = st.none() | st.tuples(
    st.integers(-6, 3), st.integers(1, 14), st.sampled_from(["0", "0.01", "0.05"])
)


def _frozen(spans: list[tuple[date, date]], after: date, through: date) -> int:
    return sum(
        max((min(through + timedelta(days=1), end) - max(after + timedelta(days=1), start)).days, 0)
        for start, end in spans
        if start <= through
    )


def _expected(plan: InstallmentPlan, rows: list[Installment], spans, as_of: date):
    """cost.py's reference for one sweep of one plan: each installment's new status and charge, and whether
    the plan is capped today."""
    statuses, asked = {}, {}
    if plan.status not in (PlanStatus.ACTIVE, PlanStatus.OVERDUE):
        return statuses, {}, False
    for i in sorted(rows, key=lambda r: r.sequence):
        if i.status not in OPEN or i.due_date >= as_of:
            continue
        status = i.status
        if status == InstallmentStatus.PENDING and i.outstanding > plan.arrears_tolerance:
            status = InstallmentStatus.OVERDUE
        elif status == InstallmentStatus.OVERDUE and i.outstanding <= plan.arrears_tolerance:
            status = InstallmentStatus.PENDING
        statuses[i.pk] = status
        base = i.principal_due - i.principal_paid - i.principal_waived
        if plan.penalty_base == PenaltyBase.PRINCIPAL_FEE:
            base += i.fee_due - i.fee_paid - i.fee_waived
        since = i.penalty_accrued_through or i.due_date
        net = (as_of - i.due_date).days - _frozen(spans, i.due_date, as_of)
        days = (as_of - since).days - _frozen(spans, since, as_of)
        if (
            status == InstallmentStatus.OVERDUE
            and plan.penalty_capped_on is None
            and net > plan.grace_days
            and since < as_of
            and base > 0
        ):
            asked[i.pk] = cost.daily_penalty(base, plan.penalty_daily_rate, days)
    if not asked:
        return statuses, {}, False
    room = max(
        min(
            plan.penalty_cap_amount - plan.penalty_total,
            cost.ceiling_room(
                headroom=plan.ceiling_headroom,
                apr_percent=plan.max_all_in_apr_percent,
                purchase_date=plan.purchase_date,
                on=as_of,
            ),
        ),
        Decimal("0.00"),
    )
    shares = dict(zip(asked, cost.share_room(list(asked.values()), room), strict=True))
    return statuses, shares, sum(asked.values()) >= room


def _present_value(flows: list[tuple[date, float]], rate: float) -> float:
    return sum(amount / (1 + rate / 12) ** ((on - PURCHASE).days * 12 / 365) for on, amount in flows)


def _irr(principal: float, flows: list[tuple[date, float]]) -> float:
    """The nominal annual rate (monthly compounding, actual/365 months) at which the flows are worth the
    principal: bisection, the present value falling as the rate rises."""
    low, high = -0.99, 50.0
    for _ in range(200):
        mid = (low + high) / 2
        if _present_value(flows, mid) > principal:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def _pay(plan: InstallmentPlan, card, on: date, share: str, key: str) -> None:
    owed = sum(
        (i.outstanding for i in Installment.objects.filter(plan=plan, status__in=OPEN, due_date__lte=on)),
        Decimal("0.00"),
    )
    amount = owed if share == "all" else (owed * Decimal(share)).quantize(Decimal("0.01"))
    if amount <= 0:
        return
    with time_machine.travel(datetime.combine(on, time(12), tzinfo=ZONE), tick=False):
        repayment = repayment_create(
            customer=plan.customer,
            plan=plan,
            mode=RepaymentMode.CUSTOM,
            channel=RepaymentChannel.WEB,
            idempotency_key=key,
            amount=str(amount),
            card=card,
        )
    assert repayment.status == RepaymentStatus.SUCCEEDED


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(t=terms(), gaps=steps, paid=payments, frozen=freezes, extended=extensions)
def test_every_day_charges_cost_py_and_the_plan_stays_under_cap_and_ceiling(
    customer, flat_product, card, codes, t, gaps, paid, frozen, extended
) -> None:
    with transaction.atomic():
        _run(customer, flat_product, card, codes, t, gaps, paid, frozen, extended)
        transaction.set_rollback(True)


def _extend(plan: InstallmentPlan, codes, extended) -> None:
    """The customer's 延期 on the asked day, when the rules allow it (a refusal is a valid outcome here)."""
    offset, days, _rate = extended
    when = plan.first_due_date + timedelta(days=offset)
    with time_machine.travel(datetime.combine(when, time(12), tzinfo=ZONE), tick=False):
        code = codes.request(plan.customer, OtpPurpose.EXTENSION)
        try:
            extension_apply(
                plan=plan,
                customer=plan.customer,
                days=days,
                code=code,
                idempotency_key=f"prop-{plan.pk}",
                today=when,
            )
        except ApplicationError as exc:
            event(f"extension refused: {exc.code}")
            return
        event("extended")


def _run(customer, product, card, codes, t: Terms, gaps, paid, frozen, extended) -> None:
    product.fee_method = t.fee_method
    product.fee_rate = t.fee_rate
    product.max_apr_percent = Decimal("99.00")
    product.penalty_daily_rate = t.penalty_rate
    product.penalty_cap_percent = t.cap_percent
    product.max_all_in_apr_percent = t.ceiling
    product.penalty_base = t.base
    product.grace_days = t.grace
    product.arrears_tolerance = t.tolerance
    product.tenors = [t.tenor]
    product.extension_fee_rate = Decimal(extended[2]) if extended else Decimal("0")
    product.save()
    try:
        plan = plan_create(
            customer=customer, product=product, principal=t.principal, tenor=t.tenor, purchase_date=PURCHASE
        )
    except ApplicationError as exc:  # a quote dearer than the ceiling is refused: no such plan exists
        if exc.code != "apr_above_maximum":
            raise
        reject()
    first_due = plan.first_due_date
    spans: list[tuple[date, date]] = []
    if frozen is not None:
        start, length, ended_early = frozen
        started = first_due + timedelta(days=start)
        planned = started + timedelta(days=length)
        ended = started + timedelta(days=length // 2) if ended_early else None
        PlanFreeze.objects.create(
            plan=plan,
            reason=FreezeReason.HARDSHIP_CASE,
            self_started=False,
            started_on=started,
            planned_end=planned,
            ended_on=ended,
            end_reason="staff" if ended else "",
        )
        spans.append((started, ended or planned))
    if extended is not None:
        _extend(plan, codes, extended)
    charged: dict[date, Decimal] = {}
    on = first_due
    for n, gap in enumerate(gaps):
        on += timedelta(days=gap)
        if n in paid:
            _pay(plan, card, on, paid[n], f"prop-{plan.pk}-{n}")
        before = InstallmentPlan.objects.get(pk=plan.pk)
        rows = list(Installment.objects.filter(plan=plan))
        statuses, shares, capped = _expected(before, rows, spans, on)
        overdue_sweep(as_of=on)
        after = InstallmentPlan.objects.get(pk=plan.pk)
        now = {i.pk: i for i in Installment.objects.filter(plan=plan)}
        for row in rows:
            assert now[row.pk].penalty_due - row.penalty_due == shares.get(row.pk, Decimal("0.00")), (on, row)
            if row.pk in statuses:
                assert now[row.pk].status == statuses[row.pk], (on, row)
        day_total = sum(shares.values(), Decimal("0.00"))
        assert after.penalty_total == before.penalty_total + day_total
        assert after.penalty_capped_on == (on if capped else before.penalty_capped_on)
        if day_total:
            charged[on] = day_total
            assert after.ceiling_headroom == cost.headroom_after(
                headroom=before.ceiling_headroom,
                amount=day_total,
                apr_percent=after.max_all_in_apr_percent,
                purchase_date=PURCHASE,
                on=on,
            )
    plan = InstallmentPlan.objects.get(pk=plan.pk)
    installments = list(Installment.objects.filter(plan=plan))
    assert plan.penalty_total <= plan.penalty_cap_amount
    assert plan.penalty_total == sum((i.penalty_due for i in installments), Decimal("0.00"))
    schedule = [(i.due_date, float(i.principal_due + i.fee_due)) for i in installments]
    if _present_value(schedule, float(t.ceiling) / 100) > float(t.principal):
        assert plan.penalty_total == 0  # the schedule alone is dearer than the ceiling: no penalty at all
    else:
        flows = schedule + [(d, float(a)) for d, a in charged.items()]
        # To the fen: what the flows are worth at the ceiling is at most the principal (plus float noise).
        assert _present_value(flows, float(t.ceiling) / 100) <= float(t.principal) + 0.005
        assert _irr(float(t.principal), flows) <= float(t.ceiling) / 100 + 1e-6
    assert list(ledger_breaches()) == []
