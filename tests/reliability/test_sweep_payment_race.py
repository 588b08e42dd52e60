"""The overdue sweep racing payments on the same late plans (PostgreSQL, real row locks): the sweep locks
each plan before its installments (``FOR NO KEY UPDATE OF p, i`` by plan and sequence), as a payment does
through ``installments.ledger.lock_plans``, so neither waits on the other in a cycle (no deadlock error),
and the plans' penalty totals and the books are right whichever goes first."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from installments.models import Installment, InstallmentPlan
from installments.services import overdue_sweep, plan_create
from repayments.ledger import ledger_breaches
from repayments.services import repayment_record_offline
from tests.concurrency import at_once
from tests.factories import CustomerFactory, ProductFactory, StaffFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("round_", range(3))
def test_the_sweep_and_payments_at_once_do_not_deadlock(round_: int) -> None:
    staff = StaffFactory(is_superuser=True)
    product = ProductFactory()
    plans = [
        plan_create(
            customer=CustomerFactory(),
            product=product,
            principal=Decimal("1200.00"),
            tenor=6,
            purchase_date=timezone.localdate() - timedelta(days=100),
            merchant_order_ref=f"SWEEP-RACE-{round_}-{n}",
        )
        for n in range(4)
    ]
    overdue_sweep(as_of=timezone.localdate() - timedelta(days=1))

    def act(index: int) -> object:
        if index == 0:
            return overdue_sweep(as_of=timezone.localdate())
        return repayment_record_offline(
            staff=staff, plan=plans[index - 1], amount=Decimal("150.00"), reference=f"SR-{round_}-{index}"
        )

    outcomes = at_once(5, act)
    assert not [o for o in outcomes if isinstance(o, str)], outcomes
    for plan in plans:
        plan = InstallmentPlan.objects.get(pk=plan.pk)
        charged = sum(i.penalty_due for i in Installment.objects.filter(plan=plan))
        assert plan.penalty_total == charged
    assert list(ledger_breaches()) == []
