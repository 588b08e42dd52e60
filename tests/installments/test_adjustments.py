"""Staff waivers (减免): the ledger's ``waive``, the service's limits and maker-checker, its audit row and
SMS, the journal entry, and a property that any mix of waivers and payments keeps the books right."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from accounts.models import StaffAction
from core.errors import ApplicationError
from installments.journal import sub_ledger_gaps
from installments.ledger import (
    InstallmentRow,
    PlanRow,
    Posting,
    Source,
    WaiverExceedsOpen,
    installment_rows,
    lock_plan,
    open_component,
    waive,
)
from installments.models import (
    Account,
    Adjustment,
    AdjustmentKind,
    AdjustmentReason,
    AdjustmentState,
    DelinquencyBucket,
    EntryKind,
    Installment,
    InstallmentPlan,
    InstallmentStatus,
    JournalEntry,
    PlanStatus,
    PrepaymentFeePolicy,
)
from installments.selectors import customer_statement
from installments.services import adjustment_approve, adjustment_create, adjustment_reject, overdue_sweep
from installments.services import plan_create as create
from notifications.models import Notification
from repayments.ledger import ledger_breaches
from repayments.services import repayment_record_offline
from tests.factories import CustomerFactory, StaffFactory

D = Decimal
ZERO = D("0.00")


def _open(plan: InstallmentPlan, component: str) -> Decimal:
    return open_component(installment_rows([plan.pk], open_only=True).get(plan.pk, []), component)


def _waive(plan, actor, amount, *, kind=AdjustmentKind.WAIVE_PENALTY, reason=AdjustmentReason.HARDSHIP):
    return adjustment_create(
        plan=plan, kind=kind, amount=amount, reason_code=reason, note="customer lost their job", actor=actor
    )


@pytest.fixture
def penalised(customer, flat_product) -> InstallmentPlan:
    """Overdue with a penalty well above ¥1: a higher daily rate than the product's, swept."""
    plan = create(
        customer=customer,
        product=flat_product,
        principal=D("3000.00"),
        tenor=6,
        purchase_date=timezone.localdate() - timedelta(days=100),
    )
    # Neither the penalty cap nor the cost ceiling in the way (the sweep computes the new headroom).
    InstallmentPlan.objects.filter(pk=plan.pk).update(
        penalty_daily_rate=D("0.01"),
        penalty_cap_amount=D("3000.00"),
        max_all_in_apr_percent=D("999.00"),
        ceiling_headroom=None,
    )
    overdue_sweep(as_of=timezone.localdate())
    plan.refresh_from_db()
    assert plan.status == PlanStatus.OVERDUE
    assert _open(plan, "penalty") > D("20.00")
    return plan


# --- the ledger operation -----------------------------------------------------------------------------------


def test_waive_spreads_oldest_first_and_posts_a_balanced_entry(penalised) -> None:
    before = {i.sequence: i.penalty_due - i.penalty_waived for i in penalised.installments.all()}
    first = before[1]
    amount = first + D("1.00")
    with_plan = lock_plan(penalised.pk, no_key=True)
    posting = Posting()
    waivers = waive(
        posting, *with_plan, component="penalty", amount=amount, today=timezone.localdate(),
        source=Source(key="test:waive"),
    )  # fmt: skip
    posting.write()
    assert [(w.component, w.amount) for w in waivers] == [("penalty", first), ("penalty", D("1.00"))]
    rows = {i.sequence: i for i in penalised.installments.all()}
    assert rows[1].penalty_waived == first
    assert rows[2].penalty_waived == D("1.00")
    entry = JournalEntry.objects.get(key="test:waive")
    assert entry.kind == EntryKind.WAIVED
    lines = {(line.account, line.debit, line.credit) for line in entry.lines.all()}
    assert lines == {(Account.WAIVERS, amount, ZERO), (Account.PENALTY_RECEIVABLE, ZERO, amount)}
    assert sub_ledger_gaps([penalised.pk]) == {}


def test_waive_refuses_more_than_is_open_and_changes_nothing(penalised) -> None:
    open_penalty = _open(penalised, "penalty")
    plan, rows = lock_plan(penalised.pk, no_key=True)
    posting = Posting()
    with pytest.raises(WaiverExceedsOpen) as too_much:
        waive(posting, plan, rows, component="penalty", amount=open_penalty + D("0.01"),
              today=timezone.localdate(), source=Source(key="x"))  # fmt: skip
    assert too_much.value.open == open_penalty
    assert posting.installments == {}
    assert posting.journal == []
    with pytest.raises(ValueError, match="principal"):
        waive(posting, plan, rows, component="principal", amount=D("1.00"), today=timezone.localdate(),
              source=Source(key="x"))  # fmt: skip


def test_a_fee_waiver_of_a_fee_not_yet_earned_leaves_unearned_income(current_plan, agent) -> None:
    _waive(current_plan, agent, D("6.00"), kind=AdjustmentKind.WAIVE_FEE)
    first = current_plan.installments.get(sequence=1)
    assert (first.fee_waived, first.fee_billed) == (D("6.00"), False)
    entry = JournalEntry.objects.get(key__startswith="adjustment:")
    assert {(line.account, line.debit) for line in entry.lines.all() if line.debit} == {
        (Account.UNEARNED_FEES, D("6.00"))
    }
    assert sub_ledger_gaps([current_plan.pk]) == {}


# --- the service -----------------------------------------------------------------------------------------


def test_below_the_threshold_it_applies_at_once_with_sms_and_audit(penalised, agent) -> None:
    open_penalty = _open(penalised, "penalty")
    adjustment = _waive(penalised, agent, D("10.00"))
    assert adjustment.state == AdjustmentState.APPLIED
    assert adjustment.decided_at is not None
    assert _open(penalised, "penalty") == open_penalty - D("10.00")
    sms = Notification.objects.get(user=penalised.customer, template_code="adjustment_applied")
    assert "减免违约金¥10.00" in sms.text
    action = StaffAction.objects.get(customer=penalised.customer)
    assert (action.staff, action.action) == (agent, "adjustment_applied")
    assert action.detail["amount"] == "10.00"
    assert action.detail["reason_code"] == "hardship"
    assert list(ledger_breaches()) == []
    call_command("check_ledger")


def test_the_sms_is_in_the_accounts_language(penalised, agent) -> None:
    penalised.customer.language = "en"
    penalised.customer.save(update_fields=["language"])
    _waive(penalised, agent, D("10.00"))
    sms = Notification.objects.get(template_code="adjustment_applied")
    assert "we waived ¥10.00 of late fees" in sms.text


def test_above_the_threshold_a_second_staff_member_approves(penalised, agent, approver, approver2, settings):
    settings.ADJUSTMENT_APPROVAL_ABOVE = "5.00"
    open_penalty = _open(penalised, "penalty")
    adjustment = _waive(penalised, approver, D("20.00"))
    assert adjustment.state == AdjustmentState.REQUESTED
    assert _open(penalised, "penalty") == open_penalty
    assert not Notification.objects.filter(template_code="adjustment_applied").exists()
    with pytest.raises(ApplicationError) as own:
        adjustment_approve(adjustment=adjustment, actor=approver)
    assert own.value.code == "self_approval"
    with pytest.raises(ApplicationError) as agent_tries:
        adjustment_approve(adjustment=adjustment, actor=agent)
    assert agent_tries.value.code == "permission_denied"
    done = adjustment_approve(adjustment=adjustment, actor=approver2)
    assert (done.state, done.approved_by) == (AdjustmentState.APPLIED, approver2)
    assert _open(penalised, "penalty") == open_penalty - D("20.00")
    assert Notification.objects.filter(template_code="adjustment_applied").count() == 1
    assert list(StaffAction.objects.order_by("id").values_list("action", "staff")) == [
        ("adjustment_requested", approver.pk),
        ("adjustment_approved", approver2.pk),
    ]
    with pytest.raises(ApplicationError) as twice:
        adjustment_approve(adjustment=adjustment, actor=approver2)
    assert twice.value.code == "invalid_state"


def test_exactly_the_threshold_applies_at_once(penalised, agent, settings) -> None:
    settings.ADJUSTMENT_APPROVAL_ABOVE = "10.00"
    assert _waive(penalised, agent, D("10.00")).state == AdjustmentState.APPLIED
    assert _waive(penalised, agent, D("10.01")).state == AdjustmentState.REQUESTED


def test_a_rejection_changes_nothing_and_is_audited(penalised, agent, approver, settings) -> None:
    settings.ADJUSTMENT_APPROVAL_ABOVE = "5.00"
    open_penalty = _open(penalised, "penalty")
    adjustment = _waive(penalised, agent, D("20.00"))
    with pytest.raises(ApplicationError) as no_note:
        adjustment_reject(adjustment=adjustment, actor=approver, note=" ")
    assert no_note.value.code == "reason_required"
    rejected = adjustment_reject(adjustment=adjustment, actor=approver, note="no hardship shown")
    assert (rejected.state, rejected.decision_note) == (AdjustmentState.REJECTED, "no hardship shown")
    assert _open(penalised, "penalty") == open_penalty
    assert StaffAction.objects.filter(action="adjustment_rejected", staff=approver).exists()


def test_more_than_the_open_component_is_refused_with_the_figure(penalised, agent) -> None:
    open_penalty = _open(penalised, "penalty")
    with pytest.raises(ApplicationError) as too_much:
        _waive(penalised, agent, open_penalty + D("0.01"))
    assert too_much.value.code == "adjustment_exceeds_open"
    assert f"¥{open_penalty:,.2f}" in too_much.value.message
    assert not Adjustment.objects.exists()
    assert not StaffAction.objects.exists()


def test_a_payment_after_the_request_makes_the_approval_refuse_with_the_figure(
    penalised, agent, approver, settings
) -> None:
    settings.ADJUSTMENT_APPROVAL_ABOVE = "5.00"
    open_penalty = _open(penalised, "penalty")
    adjustment = _waive(penalised, agent, open_penalty)
    finance = StaffFactory(is_superuser=True)
    repayment_record_offline(staff=finance, plan=penalised, amount=D("10.00"), reference="T-1")
    with pytest.raises(ApplicationError) as stale:
        adjustment_approve(adjustment=adjustment, actor=approver)
    assert stale.value.code == "adjustment_exceeds_open"
    assert f"¥{open_penalty - D('10.00'):,.2f}" in stale.value.message
    adjustment.refresh_from_db()
    assert adjustment.state == AdjustmentState.REQUESTED


def test_refusals_for_bad_input_and_permission(penalised, agent, customer) -> None:
    for kwargs, code in (
        ({"amount": "0"}, "invalid_amount"),
        ({"amount": "1.001"}, "invalid_amount"),
        ({"kind": "waive_principal"}, "invalid_adjustment"),
        ({"reason_code": "because"}, "invalid_adjustment"),
        ({"reason_code": AdjustmentReason.OTHER, "note": ""}, "reason_required"),
        ({"actor": customer}, "permission_denied"),
        ({"actor": StaffFactory()}, "permission_denied"),  # staff in no group
    ):
        args = {
            "plan": penalised, "kind": AdjustmentKind.WAIVE_PENALTY, "amount": "1.00",
            "reason_code": AdjustmentReason.GOODWILL, "note": "n", "actor": agent, **kwargs,
        }  # fmt: skip
        with pytest.raises(ApplicationError) as refused:
            adjustment_create(**args)
        assert refused.value.code == code, kwargs


@pytest.mark.ledger_corrupted  # a plan marked paid off with installments still open, to test the refusal
def test_a_plan_that_is_not_active_or_overdue_is_refused(current_plan, agent) -> None:
    InstallmentPlan.objects.filter(pk=current_plan.pk).update(status=PlanStatus.PAID_OFF)
    with pytest.raises(ApplicationError) as paid_off:
        _waive(current_plan, agent, D("1.00"), kind=AdjustmentKind.WAIVE_FEE)
    assert paid_off.value.code == "plan_not_active"


def test_waiving_the_last_open_amount_pays_the_installment_and_the_plan() -> None:
    today = timezone.localdate()
    plan = PlanRow(
        1, 1, PlanStatus.OVERDUE, DelinquencyBucket.M1, 20, PrepaymentFeePolicy.WAIVE_FUTURE_FEES, ZERO,
        timezone.now(), "", "R", uuid.uuid4(), frozen=(),
    )  # fmt: skip
    row = InstallmentRow(
        1, 1, 1, today - timedelta(days=20), D("100.00"), D("6.00"), D("4.00"),
        D("100.00"), D("6.00"), ZERO, ZERO, ZERO, ZERO, InstallmentStatus.OVERDUE, None, True,
    )  # fmt: skip
    posting = Posting()
    waive(posting, plan, [row], component="penalty", amount=D("4.00"), today=today, source=Source(key="k"))
    assert (row.status, row.outstanding) == (InstallmentStatus.PAID, ZERO)
    assert plan.status == PlanStatus.PAID_OFF
    assert [e.kind for e in posting.credit_events] == ["cured"]


def test_the_statement_shows_the_waiver(penalised, agent) -> None:
    _waive(penalised, agent, D("10.00"))
    today = timezone.localdate()
    statement = customer_statement(
        customer=penalised.customer, plan=None, date_from=today - timedelta(days=1), date_to=today
    )
    assert ("waiver", D("-10.00")) in [(item.category, item.amount) for item in statement.items]


# --- a property: waivers and payments in any order --------------------------------------------------------


# PostgreSQL only: SQLite keeps decimals as floats, so its CHECK "due >= paid + waived" and the ledger
# check's SQL sums can be off by a float's last digit when a payment and a waiver share a component
# (found by this property on SQLite; the demo database only - noted on issue 19 to round both to the fen).
@pytest.mark.postgres
@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["penalty", "fee", "pay"]),
            st.decimals(min_value=D("0.01"), max_value=D("400.00"), places=2),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_any_sequence_of_waivers_and_payments_keeps_components_and_books_right(flat_product, steps) -> None:
    customer = CustomerFactory()
    actor = StaffFactory(groups=["agent"])
    finance = StaffFactory(is_superuser=True)
    plan = create(
        customer=customer, product=flat_product, principal=D("1200.00"), tenor=6,
        purchase_date=timezone.localdate() - timedelta(days=100),
    )  # fmt: skip
    InstallmentPlan.objects.filter(pk=plan.pk).update(penalty_daily_rate=D("0.005"))
    overdue_sweep(as_of=timezone.localdate())
    for n, (step, amount) in enumerate(steps):
        plan.refresh_from_db()
        before = _open(plan, step) if step != "pay" else ZERO
        refused = ""
        try:
            if step == "pay":
                ref = f"H-{plan.pk}-{n}"
                repayment_record_offline(staff=finance, plan=plan, amount=amount, reference=ref)
            else:
                kind = AdjustmentKind.WAIVE_PENALTY if step == "penalty" else AdjustmentKind.WAIVE_FEE
                _waive(plan, actor, amount, kind=kind, reason=AdjustmentReason.GOODWILL)
        except ApplicationError as exc:
            refused = exc.code
        assert refused in ("", "adjustment_exceeds_open", "plan_not_active", "amount_exceeds_outstanding")
        # A waiver is refused only when it asks more than is open, never silently capped.
        assert (refused == "adjustment_exceeds_open") == (
            step != "pay" and amount > before and plan.status in (PlanStatus.ACTIVE, PlanStatus.OVERDUE)
        )
        for inst in Installment.objects.filter(plan=plan):
            for component in ("principal", "fee", "penalty"):
                paid = getattr(inst, f"{component}_paid") + getattr(inst, f"{component}_waived")
                assert ZERO <= paid <= getattr(inst, f"{component}_due")
            assert (inst.status == InstallmentStatus.PAID) == (inst.outstanding == 0)
    assert sub_ledger_gaps([plan.pk]) == {}
    assert list(ledger_breaches()) == []
