"""核销: the ledger's charge-off and its undo, the daily run's charge-off step, and the staff undo with its
maker-checker. Payments, auto-debit, reminders and pages on a charged-off plan are in
tests/repayments/test_charge_off_customer.py."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ApplicationError
from installments.ledger import (
    Entry,
    InstallmentRow,
    PlanRow,
    Posting,
    Source,
    charge_off,
    charge_off_undo,
    is_recovery,
    post,
    unpost,
)
from installments.models import (
    Account,
    ChargeOffUndo,
    ChargeOffUndoState,
    CreditEvent,
    CreditEventKind,
    DelinquencyBucket,
    Installment,
    InstallmentPlan,
    InstallmentStatus,
    PlanStatus,
    PrepaymentFeePolicy,
)
from installments.services import (
    charge_off_undo_approve,
    charge_off_undo_reject,
    charge_off_undo_request,
    overdue_sweep,
    plan_create,
    plans_charge_off,
)
from notifications.models import Notification
from repayments.ledger import ledger_breaches
from tests.factories import ProductFactory

D = Decimal
SOURCE = Source(key="test:recovery")
TODAY = date(2026, 6, 1)
ZERO = D("0.00")


# --- the ledger, on plain rows ---------------------------------------------------------------------------


def _row(n: int) -> InstallmentRow:
    return InstallmentRow(
        n, 1, n, TODAY - timedelta(days=240 - 30 * n), D("100.00"), D("6.00"), D("4.00"),
        ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, InstallmentStatus.OVERDUE, None,
    )  # fmt: skip


def _rows() -> list[InstallmentRow]:
    return [_row(1), _row(2)]


def _plan(status: str = PlanStatus.OVERDUE) -> PlanRow:
    return PlanRow(
        1, 1, status, DelinquencyBucket.M3_PLUS, 210, PrepaymentFeePolicy.WAIVE_FUTURE_FEES, ZERO,
        timezone.now(), "", "R", uuid.uuid4(), frozen=(),
    )  # fmt: skip


def test_charge_off_freezes_the_plan_and_keeps_what_is_owed() -> None:
    plan, rows = _plan(), _rows()
    posting = Posting()
    result = charge_off(posting, plan, rows, today=TODAY)
    assert (plan.status, plan.charged_off_on, plan.days_past_due, plan.delinquency_bucket) == (
        PlanStatus.CHARGED_OFF, TODAY, 210, DelinquencyBucket.M3_PLUS,
    )  # fmt: skip
    assert [r.outstanding for r in rows] == [D("110.00"), D("110.00")]  # still owed
    assert [r.status for r in rows] == [InstallmentStatus.OVERDUE] * 2
    assert result.total == D("220.00")
    assert [(a.principal, a.fee, a.penalty) for a in result.amounts] == [
        (D("100.00"), D("6.00"), D("4.00"))
    ] * 2
    assert [(e.kind, e.business_date) for e in posting.credit_events] == [
        (CreditEventKind.CHARGED_OFF, TODAY)
    ]
    assert posting.plans == {1: plan}
    assert is_recovery(plan)


def test_only_an_overdue_plan_is_charged_off_and_only_a_charged_off_one_undone() -> None:
    with pytest.raises(ValueError, match="only an overdue plan"):
        charge_off(Posting(), _plan(PlanStatus.ACTIVE), _rows(), today=TODAY)
    with pytest.raises(ValueError, match="only a charged-off plan"):
        charge_off_undo(Posting(), _plan(), _rows(), today=TODAY)


def test_a_recovery_keeps_the_plan_charged_off_until_paid_then_a_reversal_brings_it_back() -> None:
    plan, rows = _plan(), _rows()
    charge_off(Posting(), plan, rows, today=TODAY)
    part = Posting()
    post(part, plan, rows, D("50.00"), today=TODAY, source=SOURCE)
    assert plan.status == PlanStatus.CHARGED_OFF
    assert (plan.days_past_due, plan.delinquency_bucket) == (210, DelinquencyBucket.M3_PLUS)
    assert part.credit_events == []
    # The journal: receivables were written off at charge-off, so the money is recovery income.
    [entry] = part.journal
    assert {(x.account, x.credit) for x in entry.net() if x.credit} == {
        (Account.RECOVERIES_INCOME, D("50.00"))
    }
    rest = Posting()
    posted = post(rest, plan, rows, D("170.00"), today=TODAY, source=SOURCE)
    assert (plan.status, plan.days_past_due, plan.delinquency_bucket) == (PlanStatus.PAID_OFF, 0, "M0")
    assert plan.charged_off_on == TODAY  # it was charged off: the date stays
    assert not is_recovery(plan)
    assert [e.kind for e in rest.credit_events] == [CreditEventKind.CURED]
    back = Posting()
    entries = [Entry(s.installment_id, s.component, s.amount, False) for s in posted.splits]
    unpost(back, plan, rows, entries, today=TODAY, source=Source(key="test:reversal"))
    assert (plan.status, plan.days_past_due, plan.delinquency_bucket) == (PlanStatus.CHARGED_OFF, 0, "M0")
    assert {x.account for x in back.journal[0].net() if x.debit} == {Account.RECOVERIES_INCOME}


def test_undo_restates_the_plan_from_its_installments() -> None:
    plan, rows = _plan(), _rows()
    charge_off(Posting(), plan, rows, today=TODAY)
    posting = Posting()
    result = charge_off_undo(posting, plan, rows, today=TODAY)
    assert (plan.status, plan.charged_off_on, plan.days_past_due) == (PlanStatus.OVERDUE, None, 210)
    assert result.total == D("220.00")
    assert [(e.kind, e.from_bucket, e.to_bucket) for e in posting.credit_events] == [
        (CreditEventKind.REINSTATED, "M3+", "M3+")
    ]


# --- the daily run -----------------------------------------------------------------------------------------


@pytest.fixture
def short_product(db):
    """Charges off at 30 days past due, so a plan bought 70 days ago is past the limit today."""
    return ProductFactory(
        code="short", name="短期", fee_method="flat_fee", fee_rate=D("0.005"), tenors=[6, 12],
        charge_off_after_days=30,
    )  # fmt: skip


def _bought(customer, product, days_ago: int = 70) -> InstallmentPlan:
    return plan_create(
        customer=customer,
        product=product,
        principal=D("1200.00"),
        tenor=12,
        purchase_date=timezone.localdate() - timedelta(days=days_ago),
    )


def _open_day(day: date):
    overdue_sweep(as_of=day)
    return plans_charge_off(business_date=day)


def _owed(plan: InstallmentPlan) -> Decimal:
    return sum((i.outstanding for i in plan.installments.all()), ZERO)


def test_charged_off_at_exactly_the_products_days_not_a_day_before(customer, short_product) -> None:
    plan = _bought(customer, short_product)
    assert plan.charge_off_after_days == 30  # frozen from the product
    short_product.charge_off_after_days = 10
    short_product.save()  # a later product change does not reach the plan
    day_29 = plan.first_due_date + timedelta(days=29)
    assert _open_day(day_29).charged_off == 0
    plan.refresh_from_db()
    assert (plan.status, plan.days_past_due) == (PlanStatus.OVERDUE, 29)
    day_30 = day_29 + timedelta(days=1)
    run = _open_day(day_30)
    plan.refresh_from_db()
    assert (run.charged_off, plan.status, plan.charged_off_on) == (1, PlanStatus.CHARGED_OFF, day_30)
    assert run.amount == _owed(plan) > 0
    events = CreditEvent.objects.filter(plan=plan, kind=CreditEventKind.CHARGED_OFF)
    assert list(events.values_list("business_date", flat=True)) == [day_30]


def test_a_rerun_of_the_date_does_nothing_and_the_final_notice_is_sent_once(customer, short_product) -> None:
    plan = _bought(customer, short_product)
    today = timezone.localdate()
    assert _open_day(today).charged_off == 1
    assert _open_day(today).charged_off == 0
    notices = Notification.objects.filter(template_code="charge_off_notice", user=customer)
    assert notices.count() == 1
    text = notices.get().text
    assert "请尽快联系客服" in text
    assert "核销" not in text
    assert "张三" not in text  # the name is masked
    assert CreditEvent.objects.filter(plan=plan, kind=CreditEventKind.CHARGED_OFF).count() == 1


def test_the_sweep_leaves_a_charged_off_plan_alone(customer, short_product) -> None:
    plan = _bought(customer, short_product)
    today = timezone.localdate()
    _open_day(today)
    before = list(Installment.objects.filter(plan=plan).values_list("status", "penalty_due").order_by("id"))
    result = overdue_sweep(as_of=today + timedelta(days=40))
    assert (result.penalties_accrued, result.marked_overdue) == (0, 0)
    assert (
        list(Installment.objects.filter(plan=plan).values_list("status", "penalty_due").order_by("id"))
        == before
    )
    plan.refresh_from_db()
    assert plan.status == PlanStatus.CHARGED_OFF


def test_a_plan_below_its_limit_is_not_charged_off(customer, short_product) -> None:
    plan = _bought(customer, short_product, days_ago=40)  # about 10 days past due
    run = _open_day(timezone.localdate())
    plan.refresh_from_db()
    assert (run.charged_off, plan.status) == (0, PlanStatus.OVERDUE)


# --- the staff undo ----------------------------------------------------------------------------------------


@pytest.fixture
def charged_off(customer, short_product) -> InstallmentPlan:
    plan = _bought(customer, short_product)
    _open_day(timezone.localdate())
    plan.refresh_from_db()
    assert plan.status == PlanStatus.CHARGED_OFF
    return plan


def test_undo_the_same_day_below_the_threshold(charged_off, agent, settings) -> None:
    settings.CHARGE_OFF_UNDO_APPROVAL_ABOVE = "100000.00"
    undo = charge_off_undo_request(staff=agent, plan=charged_off, reason="payment arrived late")
    charged_off.refresh_from_db()
    assert undo.state == ChargeOffUndoState.DONE
    assert (undo.requested_by, undo.amount) == (agent, _owed(charged_off))
    assert (charged_off.status, charged_off.charged_off_on) == (PlanStatus.OVERDUE, None)
    assert charged_off.days_past_due > 30
    kinds = list(CreditEvent.objects.filter(plan=charged_off).values_list("kind", flat=True))
    assert kinds[-2:] == [CreditEventKind.CHARGED_OFF, CreditEventKind.REINSTATED]
    # A re-run of the same business date does not charge it off again.
    assert plans_charge_off(business_date=timezone.localdate()).charged_off == 0


def test_undo_is_refused_the_next_business_day(charged_off, agent) -> None:
    with pytest.raises(ApplicationError) as refused:
        charge_off_undo_request(
            staff=agent, plan=charged_off, reason="too late", today=timezone.localdate() + timedelta(days=1)
        )
    assert refused.value.code == "charge_off_undo_too_late"
    charged_off.refresh_from_db()
    assert charged_off.status == PlanStatus.CHARGED_OFF


def test_undo_needs_a_reason_and_a_charged_off_plan(charged_off, agent, current_plan) -> None:
    with pytest.raises(ApplicationError) as no_reason:
        charge_off_undo_request(staff=agent, plan=charged_off, reason="  ")
    assert no_reason.value.code == "reason_required"
    with pytest.raises(ApplicationError) as not_charged_off:
        charge_off_undo_request(staff=agent, plan=current_plan, reason="why")
    assert not_charged_off.value.code == "plan_not_charged_off"


def test_above_the_threshold_a_second_staff_member_approves(
    charged_off, agent, approver, approver2, settings
) -> None:
    settings.CHARGE_OFF_UNDO_APPROVAL_ABOVE = "100.00"
    undo = charge_off_undo_request(staff=approver, plan=charged_off, reason="customer disputes")
    assert undo.state == ChargeOffUndoState.PENDING_APPROVAL
    charged_off.refresh_from_db()
    assert charged_off.status == PlanStatus.CHARGED_OFF
    with pytest.raises(ApplicationError) as twice:
        charge_off_undo_request(staff=agent, plan=charged_off, reason="again")
    assert twice.value.code == "charge_off_undo_pending"
    with pytest.raises(ApplicationError) as own:
        charge_off_undo_approve(staff=approver, request=undo)
    assert own.value.code == "self_approval"
    with pytest.raises(ApplicationError) as no_permission:
        charge_off_undo_approve(staff=agent, request=undo)
    assert no_permission.value.code == "permission_denied"
    done = charge_off_undo_approve(staff=approver2, request=undo)
    charged_off.refresh_from_db()
    assert (done.state, done.decided_by, charged_off.status) == (
        ChargeOffUndoState.DONE, approver2, PlanStatus.OVERDUE,
    )  # fmt: skip


def test_an_approval_the_next_day_is_refused_and_a_rejection_keeps_the_charge_off(
    charged_off, agent, approver, settings
) -> None:
    settings.CHARGE_OFF_UNDO_APPROVAL_ABOVE = "100.00"
    undo = charge_off_undo_request(staff=agent, plan=charged_off, reason="dispute")
    with pytest.raises(ApplicationError) as late:
        charge_off_undo_approve(staff=approver, request=undo, today=timezone.localdate() + timedelta(days=1))
    assert late.value.code == "charge_off_undo_too_late"
    rejected = charge_off_undo_reject(staff=approver, request=undo, note="no evidence")
    charged_off.refresh_from_db()
    assert (rejected.state, charged_off.status) == (ChargeOffUndoState.REJECTED, PlanStatus.CHARGED_OFF)
    assert ChargeOffUndo.objects.get().decision_note == "no evidence"


@pytest.mark.ledger_corrupted
def test_check_ledger_finds_a_charged_off_plan_without_its_credit_event(charged_off) -> None:
    CreditEvent.objects.filter(plan=charged_off, kind=CreditEventKind.CHARGED_OFF).delete()
    assert any("without a charged_off credit event" in b for b in ledger_breaches())


@pytest.mark.ledger_corrupted
def test_check_ledger_finds_a_charge_off_date_on_an_overdue_plan(charged_off) -> None:
    InstallmentPlan.objects.filter(pk=charged_off.pk).update(status=PlanStatus.OVERDUE)
    assert any("overdue with a charge-off date" in b for b in ledger_breaches())


@given(payments=st.lists(st.integers(min_value=1, max_value=30000), min_size=1, max_size=6))
def test_payments_on_a_charged_off_plan_keep_it_charged_off_until_nothing_is_open(payments) -> None:
    """Any sequence of payments: each is a recovery while the plan is charged off, what it owes falls by
    exactly what was applied, and it is charged off exactly while something is open (paid off after)."""
    plan, rows = _plan(), _rows()
    charge_off(Posting(), plan, rows, today=TODAY)
    for cents in payments:
        owed_before = sum((r.outstanding for r in rows), ZERO)
        recovery = is_recovery(plan)
        posted = post(Posting(), plan, rows, D(cents) / 100, today=TODAY, source=SOURCE)
        applied = sum((s.amount for s in posted.splits), ZERO) + sum((w.amount for w in posted.waivers), ZERO)
        assert sum((r.outstanding for r in rows), ZERO) == owed_before - applied
        assert recovery == (owed_before > 0)
        still_open = any(r.outstanding > 0 for r in rows)
        assert plan.status == (PlanStatus.CHARGED_OFF if still_open else PlanStatus.PAID_OFF)
        assert plan.charged_off_on == TODAY
