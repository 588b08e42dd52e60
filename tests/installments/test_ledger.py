"""The plan ledger (installments/ledger.py): post, unpost, plan status, and the sweep's SQL stating the
same rules as the Python."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from core.money import ZERO
from installments.allocation import payable_total
from installments.ledger import (
    BUCKET_LIMITS,
    Entry,
    InstallmentRow,
    PlanRow,
    Posting,
    Source,
    bucket_for,
    credit_event_kind,
    delinquency,
    installment_rows,
    lock_plan,
    plan_dues,
    plan_status,
    post,
    unpost,
)
from installments.models import (
    CreditEventKind,
    DelinquencyBucket,
    Installment,
    InstallmentPlan,
    InstallmentStatus,
    PlanStatus,
    PrepaymentFeePolicy,
)
from installments.services import plan_create
from installments.services.sweep import _EVENT_KIND_SQL, _plan_params, _plan_targets_sql

TODAY = date(2026, 6, 15)
SOURCE = Source(key="test:post")
cents = st.integers(min_value=0, max_value=60_000).map(lambda c: Decimal(c).scaleb(-2))
amounts = st.integers(min_value=1, max_value=400_000).map(lambda c: Decimal(c).scaleb(-2))


def _open_status(due_date: date) -> str:
    return InstallmentStatus.OVERDUE if due_date < TODAY else InstallmentStatus.PENDING


@st.composite
def ledgers(draw: st.DrawFn) -> tuple[PlanRow, list[InstallmentRow]]:
    """A plan as the ledger sees it: installments part paid, statuses and delinquency as the sweep and
    earlier posts would have left them."""
    first_due = TODAY + timedelta(days=draw(st.integers(min_value=-120, max_value=45)))
    rows = []
    for sequence in range(1, draw(st.integers(min_value=1, max_value=6)) + 1):
        due_date = first_due + timedelta(days=30 * (sequence - 1))
        principal, fee = draw(cents), draw(cents)
        penalty = draw(cents) if due_date < TODAY else ZERO
        paid = [min(draw(cents), due) for due in (principal, fee, penalty)]
        row = InstallmentRow(
            sequence, 1, sequence, due_date, principal, fee, penalty, *paid, ZERO, ZERO, ZERO, "", None
        )
        if row.outstanding == 0:
            row.status, row.paid_at = InstallmentStatus.PAID, timezone.now()
        else:
            row.status = _open_status(due_date)
        rows.append(row)
    days, bucket = delinquency(rows, today=TODAY)
    plan = PlanRow(
        pk=1,
        customer_id=1,
        status=plan_status(r.status for r in rows),
        delinquency_bucket=bucket,
        days_past_due=days,
        prepayment_fee_policy=draw(st.sampled_from(PrepaymentFeePolicy.values)),
        prepayment_fee_rate=draw(st.sampled_from([ZERO, Decimal("0.01"), Decimal("0.035")])),
        updated_at=timezone.now(),
        description="",
        merchant_order_ref="ORDER-1",
        public_id=uuid.uuid4(),
        frozen=(),
    )
    return plan, rows


def _state(plan: PlanRow, rows: list[InstallmentRow]) -> tuple:
    # A fee earned early by a payment stays earned when the payment is reversed (the receivable reopens).
    written = [tuple(getattr(r, f) for f in InstallmentRow.WRITTEN if f != "fee_billed") for r in rows]
    return plan.status, plan.days_past_due, plan.delinquency_bucket, written


def _entries(posted) -> list[Entry]:
    return [Entry(s.installment_id, s.component, s.amount, False) for s in posted.splits] + [
        Entry(w.installment_id, w.component, w.amount, True) for w in posted.waivers
    ]


@given(ledger=ledgers(), amount=amounts)
def test_post_then_unpost_returns_every_installment_to_where_it_was(ledger, amount) -> None:
    plan, rows = ledger
    before = _state(plan, rows)
    posted = post(Posting(), plan, rows, amount, today=TODAY, source=SOURCE)
    unpost(Posting(), plan, rows, _entries(posted), today=TODAY, source=SOURCE)
    assert _state(plan, rows) == before


@given(ledger=ledgers(), amount=amounts)
def test_the_splits_sum_to_the_amount_posted_minus_the_excess(ledger, amount) -> None:
    plan, rows = ledger
    payable = payable_total(plan_dues(plan, rows, today=TODAY))
    open_before = sum((r.outstanding for r in rows), ZERO)
    posting = Posting()
    posted = post(posting, plan, rows, amount, today=TODAY, source=SOURCE)
    assert sum((s.amount for s in posted.splits), ZERO) == amount - posted.excess
    assert posted.excess == max(amount - payable, ZERO)
    assert all(s.amount > 0 for s in posted.splits)
    waived = sum((w.amount for w in posted.waivers), ZERO)
    assert sum((r.outstanding for r in rows), ZERO) == open_before - (amount - posted.excess) - waived
    # Status follows the amounts: an installment is paid exactly when nothing is left on it.
    assert all((r.status == InstallmentStatus.PAID) == (r.outstanding == 0) for r in rows)
    assert plan.status == plan_status(r.status for r in rows)
    assert set(posting.installments) == {s.installment_id for s in posted.splits + posted.waivers}


def test_a_reversal_of_a_payoff_makes_a_cured_plan_late_again_at_once() -> None:
    """The sweep leaves paid-off plans alone, so post cures a late plan paid in full; unpost states the
    lateness again the same day (bucket, days past due, the credit event), not at the next sweep."""
    due = TODAY - timedelta(days=40)
    row = InstallmentRow(
        7, 1, 1, due, Decimal("100.00"), Decimal("6.00"), Decimal("2.00"),
        ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, InstallmentStatus.OVERDUE, None,
    )  # fmt: skip
    plan = PlanRow(
        1, 1, PlanStatus.OVERDUE, DelinquencyBucket.M2, 40, PrepaymentFeePolicy.WAIVE_FUTURE_FEES, ZERO,
        timezone.now(), "", "R", uuid.uuid4(), frozen=(),
    )  # fmt: skip
    paying = Posting()
    posted = post(paying, plan, [row], Decimal("108.00"), today=TODAY, source=SOURCE)
    assert (plan.status, plan.delinquency_bucket, plan.days_past_due) == (PlanStatus.PAID_OFF, "M0", 0)
    assert [e.kind for e in paying.credit_events] == [CreditEventKind.CURED]
    reversing = Posting()
    unpost(reversing, plan, [row], _entries(posted), today=TODAY, source=SOURCE)
    assert (plan.status, plan.delinquency_bucket, plan.days_past_due) == (PlanStatus.OVERDUE, "M2", 40)
    assert row.status == InstallmentStatus.OVERDUE
    assert row.paid_at is None
    assert [(e.kind, e.from_bucket, e.to_bucket) for e in reversing.credit_events] == [
        (CreditEventKind.BECAME_LATE, "M0", "M2")
    ]


def _unpaid(sequence: int, due_date: date) -> InstallmentRow:
    return InstallmentRow(
        sequence, 1, sequence, due_date, Decimal("100.00"), Decimal("6.00"), ZERO,
        ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, _open_status(due_date), None,
    )  # fmt: skip


def test_a_partial_payment_leaves_the_bucket_to_the_sweep() -> None:
    """Paying the overdue installment of a plan still open makes it active; its cure is the sweep's
    (next morning), as before the ledger existed: no event, bucket unchanged."""
    rows = [_unpaid(n, TODAY + timedelta(days=30 * n - 45)) for n in (1, 2)]
    plan = PlanRow(
        1, 1, PlanStatus.OVERDUE, DelinquencyBucket.M1, 15, PrepaymentFeePolicy.CHARGE_REMAINING_FEES, ZERO,
        timezone.now(), "", "R", uuid.uuid4(), frozen=(),
    )  # fmt: skip
    posting = Posting()
    post(posting, plan, rows, Decimal("106.00"), today=TODAY, source=SOURCE)
    assert (plan.status, plan.delinquency_bucket, plan.days_past_due) == (PlanStatus.ACTIVE, "M1", 15)
    assert posting.credit_events == []


def test_plan_status_rule() -> None:
    s = InstallmentStatus
    assert plan_status([s.PAID, s.OVERDUE, s.PENDING]) == PlanStatus.OVERDUE
    assert plan_status([s.PAID, s.PENDING]) == PlanStatus.ACTIVE
    assert plan_status([s.PAID, s.RESTRUCTURED]) == PlanStatus.RESTRUCTURED
    assert plan_status([s.PAID, s.WAIVED]) == PlanStatus.PAID_OFF
    assert [bucket_for(d) for d in (0, 1, 30, 31, 60, 61, 90, 91)] == [
        "M0", "M1", "M1", "M2", "M2", "M3", "M3", "M3+",
    ]  # fmt: skip
    assert len(BUCKET_LIMITS) == 4


# --- the sweep's SQL states the same rules ------------------------------------------------------------


@pytest.fixture
def swept_plan(customer, flat_product) -> InstallmentPlan:
    return plan_create(
        customer=customer,
        product=flat_product,
        principal="1200.00",
        tenor=6,
        purchase_date=TODAY - timedelta(days=120),
    )


def _sql_targets(plan: InstallmentPlan) -> tuple[str, str, int, str | None]:
    targets = _plan_targets_sql(connection.vendor)
    sql = (
        "SELECT new_status, new_bucket, new_days, kind "  # noqa: S608 (constant SQL)
        f"FROM ({_EVENT_KIND_SQL.format(source=f'({targets}) AS tg')}) ev WHERE plan_id = %(plan_id)s"
    )
    params = {**_plan_params(connection.ops.adapt_datefield_value(TODAY)), "plan_id": plan.pk}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:  # skipped as one that cannot change: it stays as it is, with no event
        plan.refresh_from_db()
        return plan.status, plan.delinquency_bucket, plan.days_past_due, None
    status, bucket, days, kind = row
    return status, bucket, int(days), kind


@pytest.mark.ledger_corrupted  # writes bank charges or ledger rows with no repayment behind them on purpose
@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    statuses=st.lists(st.sampled_from(InstallmentStatus.values), min_size=6, max_size=6),
    old_status=st.sampled_from([PlanStatus.ACTIVE, PlanStatus.OVERDUE]),
    old_bucket=st.sampled_from(DelinquencyBucket.values),
)
def test_the_sweep_sql_and_the_ledger_agree_on_status_bucket_and_event(
    swept_plan, statuses, old_status, old_bucket
) -> None:
    for sequence, status in enumerate(statuses, start=1):
        Installment.objects.filter(plan=swept_plan, sequence=sequence).update(
            status=status, paid_at=timezone.now() if status == InstallmentStatus.PAID else None
        )
    InstallmentPlan.objects.filter(pk=swept_plan.pk).update(
        status=old_status, delinquency_bucket=old_bucket, days_past_due=0 if old_bucket == "M0" else 30
    )
    rows = installment_rows([swept_plan.pk])[swept_plan.pk]
    status = plan_status(r.status for r in rows)
    days, bucket = delinquency(rows, today=TODAY)
    expected = (status, bucket, days, credit_event_kind(old_status, old_bucket, status, bucket))
    assert _sql_targets(swept_plan) == expected


def test_lock_plans_locks_only_plan_and_installment_rows(swept_plan, is_postgres) -> None:
    with CaptureQueriesContext(connection) as queries:
        plan, rows = lock_plan(swept_plan.pk, no_key=True)
    assert plan.pk == swept_plan.pk
    assert [r.sequence for r in rows] == [1, 2, 3, 4, 5, 6]
    sql = [q["sql"] for q in queries.captured_queries]
    assert len(sql) == 2
    assert all("installments_installmentproduct" not in s and "accounts_user" not in s for s in sql)
    if is_postgres:
        assert all("FOR NO KEY UPDATE" in s for s in sql)
        assert 'OF "installments_installmentplan"' in sql[0]
        assert "ORDER BY" in sql[0]
        assert "ORDER BY" in sql[1]
    with pytest.raises(InstallmentPlan.DoesNotExist):
        lock_plan(swept_plan.pk + 1000, no_key=True)


@pytest.mark.ledger_corrupted  # writes bank charges or ledger rows with no repayment behind them on purpose
def test_posting_writes_what_post_changed(swept_plan) -> None:
    plan, rows = lock_plan(swept_plan.pk, no_key=True)
    posting = Posting()
    posted = post(posting, plan, rows, Decimal("106.00"), today=TODAY, source=SOURCE)
    assert posted.excess == 0
    posting.write()
    stored = installment_rows([swept_plan.pk])[swept_plan.pk]
    assert [dataclasses.astuple(r) for r in stored] == [dataclasses.astuple(r) for r in rows]
    assert (rows[0].fee_paid, rows[0].principal_paid) == (Decimal("6.00"), Decimal("100.00"))


def _overdue_row(due_date: date) -> InstallmentRow:
    return InstallmentRow(
        1, 1, 1, due_date, Decimal("100.00"), ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, "overdue", None
    )


@pytest.mark.parametrize(
    ("spans", "expected"),
    [
        ([], 40),
        # frozen for 10 days after the plan fell due: it does not age on them
        ([(TODAY - timedelta(days=30), TODAY - timedelta(days=20))], 30),
        # frozen before it fell due: nothing to take off
        ([(TODAY - timedelta(days=60), TODAY - timedelta(days=45))], 40),
        # frozen from its due date until today and on: still one day late, never current
        ([(TODAY - timedelta(days=40), TODAY + timedelta(days=5))], 1),
    ],
)
def test_delinquency_does_not_count_frozen_days(spans, expected) -> None:
    """A reversal or a moved due date restates delinquency with the sweep's rule (暂停计息 days do not age
    the plan), so no bucket or credit event jumps for a day until the next sweep corrects it."""
    days, bucket = delinquency([_overdue_row(TODAY - timedelta(days=40))], today=TODAY, frozen=spans)
    assert days == expected
    assert bucket == bucket_for(expected)
