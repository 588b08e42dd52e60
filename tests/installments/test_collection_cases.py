"""Collection cases (催收案件): the sweep opens, refreshes and closes them; round-robin among agents; promises
to pay (承诺还款): validation, the daily check, and the start page's counts. These run on SQLite locally and
on PostgreSQL with DATABASE_URL: the sweep's case statements are written for both."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import StaffAction
from core.errors import ApplicationError
from installments.models import (
    CaseCloseReason,
    CaseStatus,
    CollectionCase,
    ContactChannel,
    ContactLog,
    ContactOutcome,
    InstallmentPlan,
    NegotiationApplication,
    PlanStatus,
    PromiseStatus,
    PromiseToPay,
)
from installments.selectors import collection_queue_counts, cure_and_promise_rates
from installments.services import (
    cases_reassign,
    collection_cases_sync,
    overdue_sweep,
    plan_create,
    promise_to_pay_record,
    promises_check,
)
from repayments.services import repayment_record_offline
from repayments.services.daily import day_open
from repayments.staff import AGENT, APPROVER, LEAD
from tests.factories import CustomerFactory, StaffFactory

# Promises are taken on calls: inside the contact hours whatever time the suite runs.
pytestmark = pytest.mark.usefixtures("contact_hours")

D = date(2025, 2, 10)  # the first due date of a plan bought on 2025-01-10; grace 3 days


def _plan(customer, product, purchase: date = date(2025, 1, 10)) -> InstallmentPlan:
    return plan_create(
        customer=customer, product=product, principal="1200.00", tenor=12, purchase_date=purchase
    )


def _case(plan: InstallmentPlan) -> CollectionCase:
    return CollectionCase.objects.get(plan=plan, closed_at__isnull=True)


# --- the sweep -------------------------------------------------------------------------------------------


def test_case_opens_past_grace_days_only_and_once(customer, flat_product) -> None:
    plan = _plan(customer, flat_product)
    assert plan.grace_days == 3
    overdue_sweep(as_of=D + timedelta(days=3))  # overdue, but within grace
    assert not CollectionCase.objects.exists()

    result = overdue_sweep(as_of=D + timedelta(days=4))
    assert result.cases_opened == 1
    case = _case(plan)
    assert (case.status, case.bucket, case.opened_bucket, case.days_past_due) == ("open", "M1", "M1", 4)
    assert case.amount_overdue == Decimal("106.21")  # the installment and its first penalty
    assert case.next_action_date == D + timedelta(days=4)
    assert case.customer_id == customer.pk

    # A re-run opens nothing more; a later day refreshes days, bucket and amount (penalty included).
    assert overdue_sweep(as_of=D + timedelta(days=4)).cases_opened == 0
    overdue_sweep(as_of=D + timedelta(days=35))
    case = _case(plan)
    assert (case.days_past_due, case.bucket, case.opened_bucket) == (35, "M2", "M1")
    assert case.amount_overdue > Decimal("212.00")  # two installments and their penalty
    assert CollectionCase.objects.count() == 1


def test_case_closes_on_cure_and_a_new_one_opens_when_late_again(customer, flat_product, agent) -> None:
    plan = _plan(customer, flat_product, purchase=timezone.localdate() - timedelta(days=40))
    overdue_sweep(as_of=timezone.localdate())
    case = _case(plan)
    repayment_record_offline(staff=agent, plan=plan, amount=case.amount_overdue, reference="T-1")
    result = overdue_sweep(as_of=timezone.localdate())
    assert result.cases_closed == 1
    case.refresh_from_db()
    assert (case.status, case.close_reason) == (CaseStatus.RESOLVED, CaseCloseReason.CURED)
    assert case.closed_at is not None
    # Late again next month: a new case, the old one stays resolved.
    overdue_sweep(as_of=timezone.localdate() + timedelta(days=40))
    assert CollectionCase.objects.filter(plan=plan).count() == 2
    assert _case(plan).pk != case.pk


@pytest.mark.ledger_corrupted  # the plan's status is set by hand, without the money behind it
@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (PlanStatus.PAID_OFF, CaseCloseReason.PAID_OFF),
        (PlanStatus.RESTRUCTURED, CaseCloseReason.RESTAGED),
        (PlanStatus.CHARGED_OFF, CaseCloseReason.CHARGED_OFF),
    ],
)
def test_case_close_reason_follows_the_plan(late_plan, status, reason) -> None:
    case = _case(late_plan)
    # The plan's status as the ledger would leave it (each path is the ledger's own, tested there).
    InstallmentPlan.objects.filter(pk=late_plan.pk).update(
        status=status, charged_off_on=timezone.localdate() if status == PlanStatus.CHARGED_OFF else None
    )
    opened, closed = collection_cases_sync(as_of=timezone.localdate())
    assert (opened, closed) == (0, 1)
    case.refresh_from_db()
    assert (case.status, case.close_reason) == (CaseStatus.RESOLVED, reason)


def test_one_open_case_per_plan_is_a_database_rule(late_plan) -> None:
    case = _case(late_plan)
    with pytest.raises(IntegrityError), transaction.atomic():
        CollectionCase.objects.create(
            plan=late_plan,
            customer=late_plan.customer,
            bucket="M1",
            opened_bucket="M1",
            next_action_date=case.next_action_date,
            opened_at=timezone.now(),
        )


def test_open_negotiation_makes_the_case_hardship(late_plan) -> None:
    NegotiationApplication.objects.create(
        plan=late_plan,
        customer=late_plan.customer,
        reason="job_loss",
        declared_monthly_income=Decimal("3000.00"),
        affordable_monthly_payment=Decimal("100.00"),
        requested_tenor=12,
        state="submitted",
    )
    collection_cases_sync(as_of=timezone.localdate())
    assert _case(late_plan).status == CaseStatus.HARDSHIP
    NegotiationApplication.objects.filter(plan=late_plan).update(state="rejected")
    collection_cases_sync(as_of=timezone.localdate())
    assert _case(late_plan).status == CaseStatus.OPEN


def test_round_robin_per_bucket_among_active_agents(flat_product) -> None:
    agents = [StaffFactory(groups=[AGENT]) for _ in range(3)]
    StaffFactory(groups=[AGENT], is_active=False)  # left the team: never assigned
    StaffFactory(groups=[LEAD])  # leads are not in the rotation
    plans = [_plan(CustomerFactory(), flat_product) for _ in range(4)]
    overdue_sweep(as_of=D + timedelta(days=4))
    assignees = [_case(p).assignee_id for p in plans]
    assert assignees == [agents[0].pk, agents[1].pk, agents[2].pk, agents[0].pk]
    # The next day's new cases carry the rotation on.
    later = [_plan(CustomerFactory(), flat_product, purchase=date(2025, 1, 11)) for _ in range(2)]
    overdue_sweep(as_of=D + timedelta(days=5))
    assert [_case(p).assignee_id for p in later] == [agents[1].pk, agents[2].pk]


def test_no_agent_leaves_the_case_unassigned(late_plan) -> None:
    assert _case(late_plan).assignee_id is None


# --- promises to pay -------------------------------------------------------------------------------------


@pytest.fixture
def case(late_plan, agent) -> CollectionCase:
    return _case(late_plan)


def test_promise_sets_the_case_and_writes_one_contact_and_audit(case, agent) -> None:
    promised = timezone.localdate() + timedelta(days=3)
    promise = promise_to_pay_record(
        staff=agent, case=case, amount="100.00", promised_date=promised, note="发薪后"
    )
    case.refresh_from_db()
    assert (case.status, case.next_action_date) == (CaseStatus.PROMISE_TO_PAY, promised)
    assert (promise.status, promise.amount, promise.bucket) == (PromiseStatus.OPEN, Decimal("100.00"), "M2")
    contact = ContactLog.objects.get()
    assert contact.promise == promise
    assert (contact.outcome, contact.promise_to_pay_date, contact.promise_amount) == (
        ContactOutcome.PROMISE_TO_PAY,
        promised,
        Decimal("100.00"),
    )
    action = StaffAction.objects.get()
    assert (action.action, action.staff, action.detail["amount"]) == ("promise_recorded", agent, "100.00")


def test_promise_by_plan_finds_its_open_case(late_plan, case, agent) -> None:
    promise = promise_to_pay_record(
        staff=agent, case=late_plan, amount="10.00", promised_date=timezone.localdate()
    )
    assert promise.case == case


@pytest.mark.parametrize(
    ("amount", "days", "field"),
    [
        ("0", 1, "amount"),
        ("999999.00", 1, "amount"),
        ("10.00", -1, "promised_date"),
        ("10.00", 15, "promised_date"),
    ],
)
def test_promise_validation(case, agent, amount, days, field) -> None:
    with pytest.raises(ApplicationError) as refused:
        promise_to_pay_record(
            staff=agent, case=case, amount=amount, promised_date=timezone.localdate() + timedelta(days=days)
        )
    assert refused.value.code == "invalid_promise"
    assert field in refused.value.fields
    assert not PromiseToPay.objects.exists()
    assert not ContactLog.objects.exists()


def test_promise_ceiling_is_overdue_plus_due_by_the_date(case, agent, settings) -> None:
    settings.PTP_MAX_DAYS = 14
    today = timezone.localdate()
    # Everything overdue is allowed; a cent more is refused unless an installment falls due by the date.
    promise_to_pay_record(staff=agent, case=case, amount=case.amount_overdue, promised_date=today)


def test_a_customer_without_the_permission_cannot_record(case) -> None:
    outsider = StaffFactory(groups=[])
    with pytest.raises(ApplicationError) as refused:
        promise_to_pay_record(staff=outsider, case=case, amount="10.00", promised_date=timezone.localdate())
    assert refused.value.code == "permission_denied"


def _break(case: CollectionCase, staff, when: date) -> None:
    promise_to_pay_record(staff=staff, case=case, amount="10.00", promised_date=when)
    promises_check(today=when + timedelta(days=2))


def test_two_broken_in_a_row_need_an_approver_or_lead(case, agent, approver) -> None:
    today = timezone.localdate()
    _break(case, agent, today)
    _break(case, agent, today)
    with pytest.raises(ApplicationError) as refused:
        promise_to_pay_record(staff=agent, case=case, amount="10.00", promised_date=today)
    assert refused.value.code == "promises_broken_in_a_row"
    assert refused.value.code.status == 403
    # Two calls out already reached the customer today; the customer now rings the hotline (inbound
    # calls are the customer's own contact: the contact gate's daily limit does not count them).
    lead = StaffFactory(groups=[LEAD])
    hotline = ContactChannel.CALL_IN
    assert promise_to_pay_record(staff=lead, case=case, amount="10.00", promised_date=today, channel=hotline)
    PromiseToPay.objects.filter(status="open").delete()
    assert promise_to_pay_record(
        staff=approver, case=case, amount="10.00", promised_date=today, channel=hotline
    )


# --- the daily check ----------------------------------------------------------------------------------


def test_promise_kept_when_paid_by_the_date(case, agent) -> None:
    today = timezone.localdate()
    promise = promise_to_pay_record(staff=agent, case=case, amount="100.00", promised_date=today)
    repayment_record_offline(staff=agent, plan=case.plan, amount="60.00", reference="T-1")
    assert promises_check(today=today).kept == 0  # not yet the amount
    repayment_record_offline(staff=agent, plan=case.plan, amount="40.00", reference="T-2")
    checked = promises_check(today=today)
    assert (checked.kept, checked.broken) == (1, 0)
    promise.refresh_from_db()
    assert promise.status == PromiseStatus.KEPT
    assert promise.checked_at is not None
    case.refresh_from_db()
    assert (case.status, case.next_action_date) == (CaseStatus.IN_PROGRESS, today)
    assert promises_check(today=today + timedelta(days=5)) == type(checked)()  # decided once


def test_payment_before_the_promise_does_not_count(case, agent) -> None:
    today = timezone.localdate()
    repayment_record_offline(staff=agent, plan=case.plan, amount="100.00", reference="T-0")
    promise_to_pay_record(staff=agent, case=case, amount="10.00", promised_date=today)
    assert promises_check(today=today).kept == 0


def test_promise_broken_after_the_day_of_grace(case, agent) -> None:
    today = timezone.localdate()
    promised = today + timedelta(days=2)
    promise = promise_to_pay_record(staff=agent, case=case, amount="100.00", promised_date=promised)
    repayment_record_offline(staff=agent, plan=case.plan, amount="50.00", reference="T-1")
    assert promises_check(today=promised + timedelta(days=1)).broken == 0  # the day of grace
    checked = promises_check(today=promised + timedelta(days=2))
    assert (checked.kept, checked.broken) == (0, 1)
    promise.refresh_from_db()
    case.refresh_from_db()
    assert promise.status == PromiseStatus.BROKEN
    assert (case.status, case.next_action_date) == (CaseStatus.BROKEN_PROMISE, promised + timedelta(days=2))


def test_day_open_runs_the_promise_check(case, agent) -> None:
    today = timezone.localdate()
    promise_to_pay_record(staff=agent, case=case, amount="100.00", promised_date=today)
    opening = day_open(business_date=today + timedelta(days=2))
    assert opening.promises.broken == 1
    assert _case(case.plan).status == CaseStatus.BROKEN_PROMISE


# --- bulk reassignment ------------------------------------------------------------------------------


def test_only_a_lead_reassigns(case, agent, approver) -> None:
    lead = StaffFactory(groups=[LEAD])
    for staff in (agent, approver):
        with pytest.raises(ApplicationError):
            cases_reassign(staff=staff, cases=CollectionCase.objects.all(), assignee=staff)
    assert cases_reassign(staff=lead, cases=CollectionCase.objects.all(), assignee=approver) == 1
    assert _case(case.plan).assignee == approver


# --- the start page's figures ------------------------------------------------------------------------


def test_queue_counts_and_rates(case, agent) -> None:
    other = StaffFactory(groups=[APPROVER])
    counts = collection_queue_counts()
    assert counts.total == 1
    assert [(row.key, row.count) for row in counts.by_bucket] == [("M2", 1)]
    assert counts.by_bucket[0].oldest_age_days == 0
    assert collection_queue_counts(staff=other).total == 0
    today = timezone.localdate()
    promise_to_pay_record(staff=agent, case=case, amount="10.00", promised_date=today)
    counts = collection_queue_counts()
    assert counts.promises_due_today == 1
    assert [(row.key, row.count) for row in counts.by_status] == [("promise_to_pay", 1)]
    promises_check(today=today + timedelta(days=2))
    assert collection_queue_counts().broken_promises == 1

    rates = {row.bucket: row for row in cure_and_promise_rates(days=30)}
    assert rates["M2"].promises_decided == 1
    assert rates["M2"].promise_kept_rate == Decimal("0")
    assert rates["M2"].cure_rate == Decimal("0")
    repayment_record_offline(staff=agent, plan=case.plan, amount=case.amount_overdue, reference="T-9")
    overdue_sweep(as_of=today)
    rates = {row.bucket: row for row in cure_and_promise_rates(days=30)}
    assert (rates["M2"].cases, rates["M2"].cured) == (1, 1)
    assert rates["M2"].cure_rate == Decimal("1")
    assert rates["M1"].cure_rate is None  # nothing to divide: no figure, not 0%
