"""A staff waiver racing a payment on the same plan (PostgreSQL, real row locks): both lock the plan through
``installments.ledger.lock_plans``, so one sees the other's result. A waiver of the whole penalty against a
payment of the whole payoff: exactly one of them goes through, the other is refused with its figure, and
the books stay right whichever wins."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from installments.allocation import payable_total
from installments.journal import sub_ledger_gaps
from installments.ledger import installment_rows, open_component, plan_dues
from installments.models import AdjustmentKind, AdjustmentReason, Installment, InstallmentPlan
from installments.services import adjustment_create, overdue_sweep, plan_create
from repayments.ledger import ledger_breaches
from repayments.services import repayment_record_offline
from tests.concurrency import at_once
from tests.factories import CustomerFactory, ProductFactory, StaffFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ZERO = Decimal("0.00")


@pytest.mark.parametrize("round_", range(3))
def test_a_waiver_and_a_payment_at_once_end_right(round_: int) -> None:
    staff = StaffFactory(is_superuser=True)
    product = ProductFactory()
    plan = plan_create(
        customer=CustomerFactory(), product=product, principal=Decimal("1200.00"), tenor=6,
        purchase_date=timezone.localdate() - timedelta(days=100), merchant_order_ref=f"RACE-{round_}",
    )  # fmt: skip
    InstallmentPlan.objects.filter(pk=plan.pk).update(penalty_daily_rate=Decimal("0.005"))
    overdue_sweep(as_of=timezone.localdate())
    rows = installment_rows([plan.pk], open_only=True)[plan.pk]
    penalty = open_component(rows, "penalty")
    payoff = payable_total(plan_dues(plan, rows, today=timezone.localdate()))
    assert penalty > 0

    def act(index: int) -> object:
        if index == 0:
            return adjustment_create(
                plan=plan, kind=AdjustmentKind.WAIVE_PENALTY, amount=penalty,
                reason_code=AdjustmentReason.GOODWILL, note="race", actor=staff,
            )  # fmt: skip
        return repayment_record_offline(staff=staff, plan=plan, amount=payoff, reference=f"RACE-{round_}")

    outcomes = at_once(2, act)
    refusals = sorted(o for o in outcomes if isinstance(o, str))
    assert len(refusals) == 1, outcomes
    # The payoff first: the plan is paid off. The waiver first: the payoff asks more than is left now.
    assert refusals[0] in ("plan_not_active", "amount_exceeds_outstanding")
    for inst in Installment.objects.filter(plan=plan):
        for component in ("principal", "fee", "penalty"):
            taken = getattr(inst, f"{component}_paid") + getattr(inst, f"{component}_waived")
            assert ZERO <= taken <= getattr(inst, f"{component}_due")
    assert sub_ledger_gaps([plan.pk]) == {}
    assert list(ledger_breaches()) == []
