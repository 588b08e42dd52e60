"""Sixty business days of the whole service, and the books still prove out (issue 17's "done when").

Customers with plans of two products, some on auto-debit; every day ``run_daily`` (sweep, fees earned,
penalties, reminders, scheduled payments, three debit slots) against a bank that fails and loses answers on
purpose, customers paying now and then (some with too little on the card), staff recording transfers and
reversing payments, customers re-staging; the minute's reconciliation settles lost answers, and each
morning the T+1 reconciliation matches the day before. At the end: the trial balance is zero, every plan's
receivables equal its installments, no break is open. Then three faults are injected, each caught by the
next reconciliation: a bank line deleted, a bank amount altered, an answer lost with no poll after it.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from accounts.models import User
from core.errors import ApplicationError
from installments.journal import sub_ledger_gaps
from installments.models import Installment, InstallmentPlan, JournalEntry, PlanStatus
from installments.selectors import trial_balance
from installments.services import plan_create, plan_restage
from repayments.gateway import reset_gateway_cache
from repayments.ledger import ledger_breaches
from repayments.models import (
    BreakKind,
    BreakState,
    ReconciliationBreak,
    Repayment,
    RepaymentChannel,
    RepaymentStatus,
)
from repayments.services import (
    autodebit_set,
    gateway_key,
    reconciliation_run,
    repayment_create,
    repayment_record_offline,
    repayment_reverse,
    repayments_reconcile,
    run_daily,
)
from simulators.bank import simulator_set_balance
from simulators.models import SimulatedCharge
from tests.cards import luhn_complete
from tests.factories import BoundCardFactory, CustomerFactory

D = Decimal
ZONE = ZoneInfo("Asia/Shanghai")
DAYS = 60


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZONE)


@pytest.fixture
def flaky_bank(settings):
    """The in-process bank failing 5% of charges softly and losing 8% of answers (charged, no reply)."""
    settings.GATEWAY_SIM_FAILURE_RATE = "0.05"
    settings.GATEWAY_SIM_TIMEOUT_RATE = "0.08"
    settings.GATEWAY_SIM_SEED = 17
    reset_gateway_cache()
    yield
    settings.GATEWAY_SIM_FAILURE_RATE = "0"
    settings.GATEWAY_SIM_TIMEOUT_RATE = "0"
    reset_gateway_cache()


def _portfolio(start: date, flat_product, equal_installment_product) -> list[tuple[User, object]]:
    customers = []
    for n in range(8):
        customer = CustomerFactory(phone=f"+86138000011{n:02d}", real_name=f"客户{n}")
        card = BoundCardFactory(customer=customer, number=luhn_complete(f"6222020000011{n:02d}"))
        # Two customers keep too little on the card: their debits fail for want of funds.
        simulator_set_balance(card.gateway_token, D("150.00") if n in (2, 5) else D("50000.00"))
        for k, (product, principal, tenor) in enumerate(
            [(flat_product, "1200.00", 12), (equal_installment_product, "3000.00", 6)]
        ):
            with time_machine.travel(at(start - timedelta(days=20 + 7 * n + k), 12), tick=False):
                plan = plan_create(
                    customer=customer,
                    product=product,
                    principal=principal,
                    tenor=tenor,
                    merchant_order_ref=f"ORD-{n}-{k}",
                )
            if (n + k) % 2 == 0:
                autodebit_set(customer=customer, plan=plan, enabled=True)
        customers.append((customer, card))
    return customers


def _live_plans(customer: User) -> list[InstallmentPlan]:
    return list(
        InstallmentPlan.objects.filter(customer=customer, status__in=[PlanStatus.ACTIVE, PlanStatus.OVERDUE])
    )


def _customer_day(rng: random.Random, day: date, customers, staff: User) -> None:
    """What people do on a day, between the morning debit slot and the evening: pay, re-stage, transfers."""
    for n, (customer, card) in enumerate(customers):
        plans = _live_plans(customer)
        if not plans or rng.random() > 0.25:
            continue
        plan = rng.choice(plans)
        roll = rng.random()
        try:
            if roll < 0.55:
                mode = rng.choice(["due_now", "custom"])
                repayment_create(
                    customer=customer,
                    plan=plan,
                    mode=mode,
                    amount=str(rng.choice([D("10.00"), D("88.88"), D("300.00")]))
                    if mode == "custom"
                    else None,
                    card=card,
                    channel=RepaymentChannel.WEB,
                    idempotency_key=f"{day}:{n}",
                )
            elif roll < 0.7:
                plan_restage(customer=customer, plan_id=plan.pk, tenor=rng.choice([6, 12]))
            elif roll < 0.85:
                repayment_record_offline(
                    staff=staff, plan=plan, amount=str(D("50.00")), reference=f"TRF-{day}-{n}"
                )
            else:
                paid = (
                    Repayment.objects.filter(plan=plan, status=RepaymentStatus.SUCCEEDED)
                    .exclude(channel=RepaymentChannel.AUTO_DEBIT)
                    .order_by("-id")
                    .first()
                )
                if paid is not None:
                    repayment_reverse(staff=staff, repayment=paid, reason="customer disputed the payment")
        except ApplicationError:
            pass  # refused (nothing due, not eligible, in flight, more than owed): the books must not move


# The last part breaks the bank's books on purpose; the clean state is asserted before it.
@pytest.mark.ledger_corrupted
def test_sixty_days_prove_out_and_injected_breaks_are_caught(
    flaky_bank, flat_product, equal_installment_product, agent
) -> None:
    rng = random.Random(2026)
    today = timezone.localdate()
    start = today - timedelta(days=DAYS + 2)
    customers = _portfolio(start, flat_product, equal_installment_product)
    agent.is_staff = True
    agent.save(update_fields=["is_staff"])
    for offset in range(DAYS):
        day = start + timedelta(days=offset)
        with time_machine.travel(at(day, 7, 30), tick=False):
            run_daily(business_date=day)
        with time_machine.travel(at(day, 15), tick=False):
            _customer_day(rng, day, customers, agent)
        with time_machine.travel(at(day, 23, 30), tick=False):
            repayments_reconcile(older_than=timedelta(0))  # the minute's poll: lost answers settled
        with time_machine.travel(at(day + timedelta(days=1), 6), tick=False):
            reconciliation_run(business_date=day)

    # What sixty days produced, so the test cannot pass on an empty book.
    repayments = Repayment.objects.all()
    debits = repayments.filter(channel=RepaymentChannel.AUTO_DEBIT)
    assert debits.filter(status=RepaymentStatus.SUCCEEDED).count() > 5
    assert repayments.filter(status=RepaymentStatus.FAILED).count() > 0
    assert repayments.filter(status=RepaymentStatus.REVERSED).count() > 0
    assert InstallmentPlan.objects.filter(status=PlanStatus.RESTRUCTURED).exists()
    assert Installment.objects.filter(fee_waived__gt=0).exists()  # re-staging and prepayment waivers
    assert JournalEntry.objects.filter(kind="penalty_accrued").exists()
    assert JournalEntry.objects.filter(kind="settled").count() > 10

    last = start + timedelta(days=DAYS - 1)
    tb = trial_balance(as_of=today + timedelta(days=1))
    assert tb.debit == tb.credit
    assert sub_ledger_gaps() == {}
    assert list(ledger_breaches()) == []
    assert list(ReconciliationBreak.objects.filter(state=BreakState.OPEN)) == []

    # 1. A line deleted from the bank's books: the next reconciliation of its day finds it book-only.
    charges = SimulatedCharge.objects.filter(status="succeeded", created_at__date__lte=last).order_by("id")
    deleted = charges.first()
    deleted_day = timezone.localtime(deleted.created_at).date()
    deleted.delete()
    with time_machine.travel(at(last + timedelta(days=1), 7), tick=False):
        found = reconciliation_run(business_date=deleted_day).breaks
    assert [(b.kind, b.gateway_key) for b in found] == [(BreakKind.BOOK_ONLY, deleted.idempotency_key)]

    # 2. An amount altered at the bank: an amount mismatch.
    altered = charges.last()
    altered_day = timezone.localtime(altered.created_at).date()
    SimulatedCharge.objects.filter(pk=altered.pk).update(amount=altered.amount + D("0.01"))
    with time_machine.travel(at(last + timedelta(days=1), 7), tick=False):
        found = reconciliation_run(business_date=altered_day).breaks
    assert (BreakKind.AMOUNT_MISMATCH, altered.idempotency_key) in [(b.kind, b.gateway_key) for b in found]

    # 3. An answer lost (as a dropped webhook) and no poll after it: the T+1 file settles it, late.
    customer, card = customers[0]
    plan = _live_plans(customer)[0]
    with time_machine.travel(at(last + timedelta(days=1), 10), tick=False):
        lost = _pay_with_lost_answer(customer, plan, card)
        assert lost.status == RepaymentStatus.PENDING
    with time_machine.travel(at(last + timedelta(days=2), 6), tick=False):
        result = reconciliation_run(business_date=last + timedelta(days=1))
    lost.refresh_from_db()
    assert lost.status == RepaymentStatus.SUCCEEDED
    assert result.settled_late == 1
    assert JournalEntry.objects.filter(key=f"repayment:{lost.pk}").exists()
    assert gateway_key(lost.public_id) not in {b.gateway_key for b in result.breaks}


def _pay_with_lost_answer(customer: User, plan: InstallmentPlan, card) -> Repayment:
    from django.conf import settings  # noqa: PLC0415 (the fixture's settings are the test's; this is one call)

    settings.GATEWAY_SIM_TIMEOUT_RATE = "1"
    reset_gateway_cache()
    try:
        return repayment_create(
            customer=customer,
            plan=plan,
            mode="custom",
            amount="20.00",
            card=card,
            channel=RepaymentChannel.WEB,
            idempotency_key="lost-answer",
        )
    finally:
        settings.GATEWAY_SIM_TIMEOUT_RATE = "0"
        reset_gateway_cache()
