"""The daily overdue sweep (逾期): marking, penalties after grace, buckets, credit events, idempotency."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from installments.models import (
    CreditEvent,
    Installment,
    InstallmentPlan,
    InstallmentStatus,
    PlanStatus,
)
from installments.services import SweepResult, overdue_sweep, plan_create

D = date(2025, 2, 10)  # the first due date of a plan bought on 2025-01-10


@pytest.fixture
def plan(customer, flat_product) -> InstallmentPlan:
    """白条 ¥1,200 over 12 periods: each installment is 100.00 principal + 6.00 fee."""
    return plan_create(
        customer=customer,
        product=flat_product,
        principal="1200.00",
        tenor=12,
        purchase_date=date(2025, 1, 10),
    )


def first(plan: InstallmentPlan) -> Installment:
    return plan.installments.get(sequence=1)


def test_penalty_timeline_grace_and_idempotency(plan) -> None:
    assert first(plan).due_date == D

    assert overdue_sweep(as_of=D) == SweepResult(fees_billed=1)  # falling due earns its fee, once
    assert first(plan).status == InstallmentStatus.PENDING
    assert overdue_sweep(as_of=D) == SweepResult()

    result = overdue_sweep(as_of=D + timedelta(days=1))
    assert result.marked_overdue == 1
    assert result.penalties_accrued == 0
    inst = first(plan)
    assert (inst.status, inst.penalty_due, inst.penalty_accrued_through) == ("overdue", Decimal("0.00"), None)

    overdue_sweep(as_of=D + timedelta(days=3))  # the last grace day
    assert first(plan).penalty_due == Decimal("0.00")

    # 0.0005 x 106.00 x 4 days = 0.212 -> 0.21: the first charge covers every day since the due date.
    result = overdue_sweep(as_of=D + timedelta(days=4))
    assert (result.penalties_accrued, result.penalty_amount) == (1, Decimal("0.21"))
    inst = first(plan)
    assert (inst.penalty_due, inst.penalty_accrued_through) == (Decimal("0.21"), D + timedelta(days=4))

    # One more day: 0.053 -> 0.05.
    assert overdue_sweep(as_of=D + timedelta(days=5)).penalty_amount == Decimal("0.05")
    assert first(plan).penalty_due == Decimal("0.26")
    assert overdue_sweep(as_of=D + timedelta(days=5)) == SweepResult()
    assert first(plan).penalty_due == Decimal("0.26")
    # Only the first installment is overdue; the others are untouched.
    assert plan.installments.exclude(sequence=1).filter(penalty_due__gt=0).count() == 0


def test_skipped_days_are_charged_at_once(plan) -> None:
    overdue_sweep(as_of=D + timedelta(days=4))
    assert first(plan).penalty_due == Decimal("0.21")
    # D+4 -> D+10: 6 days, 0.0005 x 106.00 x 6 = 0.318 -> 0.32.
    result = overdue_sweep(as_of=D + timedelta(days=10))
    assert result.penalty_amount == Decimal("0.32")
    assert first(plan).penalty_due == Decimal("0.53")


@pytest.mark.ledger_corrupted
def test_partial_payment_before_accrual_reduces_the_base(plan) -> None:
    overdue_sweep(as_of=D + timedelta(days=1))
    plan.installments.filter(sequence=1).update(principal_paid=Decimal("50.00"))
    overdue_sweep(as_of=D + timedelta(days=4))
    # 0.0005 x (50.00 + 6.00) x 4 = 0.112 -> 0.11
    assert first(plan).penalty_due == Decimal("0.11")


@pytest.mark.ledger_corrupted
def test_penalty_rounds_half_up(plan) -> None:
    overdue_sweep(as_of=D + timedelta(days=1))
    plan.installments.filter(sequence=1).update(principal_paid=Decimal("100.00"), fee_paid=Decimal("3.50"))
    # 0.0005 x 2.50 x 4 = 0.005 exactly: half up gives 0.01 (half even or float noise would give 0.00).
    assert overdue_sweep(as_of=D + timedelta(days=4)).penalty_amount == Decimal("0.01")
    assert first(plan).penalty_due == Decimal("0.01")


@pytest.mark.ledger_corrupted
def test_nothing_outstanding_is_not_marked(plan) -> None:
    plan.installments.filter(sequence=1).update(
        principal_paid=F("principal_due"), fee_waived=F("fee_due")
    )  # fully settled but the status not yet moved on
    assert overdue_sweep(as_of=D + timedelta(days=5)).marked_overdue == 0
    assert first(plan).status == InstallmentStatus.PENDING


def _state(plan: InstallmentPlan) -> tuple[int, str, str]:
    plan.refresh_from_db()
    return plan.days_past_due, plan.delinquency_bucket, plan.status


def _events(plan: InstallmentPlan) -> list[tuple[str, str, str, date]]:
    return list(
        CreditEvent.objects.filter(plan=plan)
        .order_by("business_date", "id")
        .values_list("kind", "from_bucket", "to_bucket", "business_date")
    )


@pytest.mark.ledger_corrupted
def test_buckets_across_month_ends_credit_events_and_cure(customer, flat_product) -> None:
    plan = plan_create(
        customer=customer,
        product=flat_product,
        principal="1200.00",
        tenor=12,
        purchase_date=date(2024, 12, 31),
    )
    assert first(plan).due_date == date(2025, 1, 31)
    expected = [
        (date(2025, 1, 31), (0, "M0", "active")),
        (date(2025, 2, 1), (1, "M1", "overdue")),
        (date(2025, 3, 2), (30, "M1", "overdue")),
        (date(2025, 3, 3), (31, "M2", "overdue")),
        (date(2025, 4, 1), (60, "M2", "overdue")),
        (date(2025, 4, 2), (61, "M3", "overdue")),
        (date(2025, 5, 1), (90, "M3", "overdue")),
        (date(2025, 5, 2), (91, "M3+", "overdue")),
    ]
    for day, state in expected:
        overdue_sweep(as_of=day)
        assert _state(plan) == state, day
        rerun = overdue_sweep(as_of=day)
        assert (rerun.plans_updated, rerun.credit_events, rerun.marked_overdue) == (0, 0, 0), day
    # The plan's oldest overdue installment decides, not the newer ones overdue since.
    assert plan.installments.filter(status=InstallmentStatus.OVERDUE).count() == 4

    plan.installments.filter(status=InstallmentStatus.OVERDUE).update(
        principal_paid=F("principal_due"),
        fee_paid=F("fee_due"),
        penalty_paid=F("penalty_due"),
        status=InstallmentStatus.PAID,
        paid_at=timezone.now(),
    )
    result = overdue_sweep(as_of=date(2025, 5, 3))
    assert (result.plans_updated, result.credit_events) == (1, 1)
    assert _state(plan) == (0, "M0", "active")
    assert overdue_sweep(as_of=date(2025, 5, 3)) == SweepResult()

    assert _events(plan) == [
        ("became_late", "M0", "M1", date(2025, 2, 1)),
        ("bucket_changed", "M1", "M2", date(2025, 3, 3)),
        ("bucket_changed", "M2", "M3", date(2025, 4, 2)),
        ("bucket_changed", "M3", "M3+", date(2025, 5, 2)),
        ("cured", "M3+", "M0", date(2025, 5, 3)),
    ]
    assert set(CreditEvent.objects.values_list("customer_id", flat=True)) == {customer.pk}


@pytest.mark.ledger_corrupted
def test_cured_by_a_repayment_that_already_set_the_plan_active(plan) -> None:
    """Repayments move the plan back to active themselves; the sweep still records the cure."""
    overdue_sweep(as_of=D + timedelta(days=2))
    plan.installments.filter(sequence=1).update(
        principal_paid=F("principal_due"),
        fee_paid=F("fee_due"),
        status=InstallmentStatus.PAID,
        paid_at=timezone.now(),
    )
    InstallmentPlan.objects.filter(pk=plan.pk).update(status=PlanStatus.ACTIVE)
    overdue_sweep(as_of=D + timedelta(days=3))
    assert _state(plan) == (0, "M0", "active")
    assert [e[0] for e in _events(plan)] == ["became_late", "cured"]


@pytest.mark.ledger_corrupted
@pytest.mark.parametrize("status", [PlanStatus.PAID_OFF, PlanStatus.RESTRUCTURED, PlanStatus.CANCELLED])
def test_closed_plans_are_untouched(plan, status) -> None:
    InstallmentPlan.objects.filter(pk=plan.pk).update(status=status)
    assert overdue_sweep(as_of=D + timedelta(days=40)) == SweepResult()
    assert _state(plan) == (0, "M0", status)
    assert not plan.installments.exclude(status=InstallmentStatus.PENDING).exists()
    assert not plan.installments.filter(penalty_due__gt=0).exists()
    assert not CreditEvent.objects.exists()


def test_plan_already_overdue_keeps_accruing(plan) -> None:
    """The product's penalty rate and grace are read from the plan (frozen), not the product."""
    plan.product.penalty_daily_rate = Decimal("0.01")
    plan.product.grace_days = 0
    plan.product.save()
    overdue_sweep(as_of=D + timedelta(days=3))
    assert first(plan).penalty_due == Decimal("0.00")
    overdue_sweep(as_of=D + timedelta(days=4))
    assert first(plan).penalty_due == Decimal("0.21")


def test_marking_is_idempotent_and_charges_every_day_since_due(plan) -> None:
    first_run = overdue_sweep(as_of=D + timedelta(days=32))
    assert first_run.marked_overdue == 2
    assert overdue_sweep(as_of=D + timedelta(days=32)).marked_overdue == 0
    assert _state(plan) == (32, "M2", "overdue")
    # Every day since due, per installment and rounded each:
    # #1 0.0005 x 106 x 32 = 1.696 -> 1.70, #2 (due D+28) 0.0005 x 106 x 4 = 0.212 -> 0.21.
    assert first_run.penalty_amount == Decimal("1.91")


def test_query_count_does_not_grow_with_rows(customer, flat_product, django_assert_max_num_queries) -> None:
    # No plan reaches its cap or ceiling here (that day adds the SMS step's few statements, once per run:
    # tests/installments/test_fair_cost_sweep.py counts them).
    flat_product.penalty_cap_percent = Decimal("100")
    flat_product.max_all_in_apr_percent = Decimal("99")
    flat_product.save()

    def make(n_plans: int, purchase_date: date) -> None:
        for _ in range(n_plans):
            plan_create(
                customer=customer,
                product=flat_product,
                principal="1200.00",
                tenor=12,
                purchase_date=purchase_date,
            )

    make(1, date(2024, 1, 10))  # 12 installments
    # Up to 25 statements: the sweep's own (on SQLite: the day's charges in a temporary table, its counts,
    # the plans' room), plus the journal's (fees earned: 3; penalties: 2 on SQLite), plus the collection
    # cases' (close, refresh, open; and the row count of the open on SQLite).
    with django_assert_max_num_queries(25), CaptureQueriesContext(connection) as small:
        small_result = overdue_sweep(as_of=date(2024, 12, 1))
    make(9, date(2024, 2, 10))  # 108 more
    with django_assert_max_num_queries(25), CaptureQueriesContext(connection) as large:
        large_result = overdue_sweep(as_of=date(2025, 3, 1))
    assert small_result.marked_overdue == 10
    assert small_result.penalties_accrued == 10
    assert large_result.marked_overdue == 2 + 9 * 12
    assert large_result.penalties_accrued == 12 + 9 * 12
    assert large_result.plans_updated == 10
    assert len(large) == len(small)


def test_admin_shows_delinquency_and_credit_events_read_only(client, plan) -> None:
    staff = User.objects.create_superuser("+8613900000009", "admin-pw-1234", real_name="客服")
    client.force_login(staff)
    overdue_sweep(as_of=D + timedelta(days=5))
    page = client.get(f"/admin/installments/installmentplan/{plan.pk}/change/")
    assert page.status_code == 200
    assert "转为逾期" in page.content.decode()  # the event in words (issue 19), never "became_late"
    assert "became_late" not in page.content.decode()
    event = CreditEvent.objects.get()
    assert client.get("/admin/installments/creditevent/").status_code == 200
    detail = client.get(f"/admin/installments/creditevent/{event.pk}/change/")
    assert detail.status_code == 200
    assert b'name="kind"' not in detail.content
    assert client.post(f"/admin/installments/creditevent/{event.pk}/delete/").status_code == 403
    assert client.get("/admin/installments/creditevent/add/").status_code == 403
