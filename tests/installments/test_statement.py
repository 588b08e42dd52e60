"""账单明细 from the journal (installments.selectors.customer_statement): the closing balance is the
opening plus the movements, and equals what the installments say is owed at the end date, after varied
flows - payments whole and partial, penalties from the sweep, a staff transfer, a re-staging with its
waiver, a reversal - over several business days, per plan and over all plans."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from core.money import ZERO
from installments.journal import Draft, refund_sent, write
from installments.models import Account, EntryKind, InstallmentPlan, PlanStatus
from installments.selectors import StatementCategory, customer_outstanding, customer_statement
from installments.services import overdue_sweep, plan_create, plan_restage
from repayments.models import RepaymentChannel, RepaymentMode, RepaymentStatus
from repayments.services import repayment_create, repayment_record_offline, repayment_reverse

D = Decimal
ZONE = ZoneInfo("Asia/Shanghai")


def at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=ZONE)


def _pay(customer, plan, amount: str, card, key: str):
    repayment = repayment_create(
        customer=customer,
        plan=plan,
        mode=RepaymentMode.CUSTOM,
        channel=RepaymentChannel.WEB,
        idempotency_key=key,
        amount=amount,
        card=card,
    )
    assert repayment.status == RepaymentStatus.SUCCEEDED
    return repayment


def _snapshot(customer, plans) -> dict:
    """What the installments say is owed now, over all plans and per plan."""
    return {None: customer_outstanding(customer=customer)} | {
        p.pk: customer_outstanding(customer=customer, plan=p) for p in plans
    }


def test_closing_balance_equals_the_installments_at_every_end_date(customer, flat_product, card, agent):
    start = timezone.localdate() - timedelta(days=120)
    snapshots: dict[date, dict] = {}
    plans: list[InstallmentPlan] = []

    def day(offset: int, *steps) -> None:
        today = start + timedelta(days=offset)
        with time_machine.travel(at(today, 7), tick=False):
            overdue_sweep(as_of=today)
        with time_machine.travel(at(today, 15), tick=False):
            for step in steps:
                step()
            for plan in plans:
                plan.refresh_from_db()
            snapshots[today] = _snapshot(customer, plans)

    with time_machine.travel(at(start, 12), tick=False):
        a = plan_create(
            customer=customer, product=flat_product, principal=D("1200.00"), tenor=12, purchase_date=start
        )
        b = plan_create(
            customer=customer, product=flat_product, principal=D("600.00"), tenor=6, purchase_date=start
        )
        plans += [a, b]
        snapshots[start] = _snapshot(customer, plans)
    paid: dict[str, object] = {}
    day(36, lambda: paid.setdefault("partial", _pay(customer, a, "50.00", card, "s-1")))  # late: penalty
    day(41, lambda: _pay(customer, a, "300.00", card, "s-2"))  # installment 1, part of 2
    day(44, lambda: repayment_record_offline(staff=agent, plan=b, amount="200.00", reference="TRF-9"))
    day(47, lambda: repayment_reverse(staff=agent, repayment=paid["partial"], reason="disputed"))
    day(50, lambda: plans.append(plan_restage(customer=customer, plan_id=b.pk, tenor=12)))
    day(75, lambda: _pay(customer, a, "99.99", card, "s-3"))  # after more penalties
    day(80)

    end = max(snapshots)
    for when, owed in snapshots.items():
        for plan in [None, *plans]:
            statement = customer_statement(customer=customer, plan=plan, date_from=start, date_to=when)
            key = plan.pk if plan else None
            assert statement.closing == owed.get(key, ZERO), (when, plan)
            assert statement.opening + sum((t for _c, _l, t in statement.totals), ZERO) == statement.closing
            later = customer_statement(
                customer=customer, plan=plan, date_from=when + timedelta(days=1), date_to=end
            )
            assert later.opening == statement.closing  # the next period starts where this one ended
            if plan is None:
                assert later.closing == snapshots[end][None]

    everything = customer_statement(customer=customer, date_from=start, date_to=end)
    categories = {item.category for item in everything.items}
    assert {
        StatementCategory.PURCHASE,
        StatementCategory.FEE,
        StatementCategory.PENALTY,
        StatementCategory.PAYMENT,
        StatementCategory.REVERSAL,
        StatementCategory.RESTAGED,
        StatementCategory.WAIVER,  # a prepaid period's fee (payment) and future fees (re-staging)
    } <= categories
    totals = {c: t for c, _l, t in everything.totals}
    assert totals[StatementCategory.PURCHASE] == D("1800.00")
    assert totals[StatementCategory.PAYMENT] == -D("649.99")  # 50 + 300 + 200 + 99.99
    assert totals[StatementCategory.REVERSAL] == D("50.00")
    # Re-staging moves a balance from one plan to the other: over all plans the moves cancel out.
    assert totals[StatementCategory.RESTAGED] == 0
    assert totals[StatementCategory.WAIVER] < 0
    assert a.status in (PlanStatus.OVERDUE, PlanStatus.ACTIVE)
    # The running balance of the last line is the closing balance.
    assert everything.items[-1].balance == everything.closing == customer_outstanding(customer=customer)


def test_a_statement_is_only_ever_the_customers_own(customer, other_customer, current_plan):
    today = timezone.localdate()
    theirs = customer_statement(customer=other_customer, date_from=today - timedelta(days=30), date_to=today)
    assert theirs.items == []
    assert theirs.closing == 0
    foreign = customer_statement(
        customer=other_customer, plan=current_plan, date_from=today - timedelta(days=30), date_to=today
    )
    assert foreign.items == []
    assert foreign.closing == 0
    mine = customer_statement(customer=customer, date_from=today - timedelta(days=30), date_to=today)
    assert mine.closing == D("1272.00")  # 1,200.00 + 12 x 6.00 fees, billed when the plan opened


@pytest.mark.ledger_corrupted  # the entries are written by hand, without the installments' side
def test_an_excess_refunded_shows_as_a_payment_then_a_refund(customer, current_plan):
    """A payment larger than the plan could take books the excess as owed back (refunds payable) and the
    refund pays it out: the statement shows the whole payment, then the refund, and the balance ends
    where the receivables are."""
    today = timezone.localdate()
    pid, cid = current_plan.pk, customer.pk
    payment = Draft(key="t:pay", kind=EntryKind.REPAYMENT, business_date=today, plan_id=pid, customer_id=cid)
    payment.debit(Account.BANK_CLEARING, D("130.00"))
    payment.credit(Account.PRINCIPAL_RECEIVABLE, D("100.00"))
    payment.credit(Account.REFUNDS_PAYABLE, D("30.00"))
    write([payment])
    write(
        [
            refund_sent(
                key="t:refund", amount=D("30.00"), plan_id=pid, customer_id=cid, reference="r", today=today
            )
        ]
    )
    statement = customer_statement(customer=customer, date_from=today, date_to=today)
    assert [(i.category, i.amount) for i in statement.items if i.category in ("payment", "refund")] == [
        (StatementCategory.PAYMENT, -D("130.00")),
        (StatementCategory.REFUND, D("30.00")),
    ]
    assert statement.closing == D("1272.00") - D("100.00")
