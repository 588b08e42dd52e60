"""Settlement knows nothing of debit runs, yet a caller's step after it (the debit engine's attempts and
run counts, issue 15) must commit or roll back with the money: ``after_settle`` runs inside the settle's
transaction, with what was settled."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from installments.models import Installment
from repayments.gateway import get_gateway
from repayments.models import Allocation, Repayment, RepaymentStatus
from repayments.services import Settlement, charges_claim, gateway_key, repayments_settle


def test_the_step_after_settling_commits_or_rolls_back_with_the_money(customer, card, current_plan) -> None:
    repayment = Repayment.objects.create(
        customer=customer, plan=current_plan, amount=Decimal("50.00"), mode="custom", channel="api",
        card=card, idempotency_key="step-1", requested_at=timezone.now(),
    )  # fmt: skip
    assert charges_claim([repayment.pk]) == {repayment.pk}
    result = get_gateway().charge(
        token=card.gateway_token, amount=repayment.amount, idempotency_key=gateway_key(repayment.public_id)
    )

    def refuse(settled: list[Settlement]) -> None:
        assert [done.repayment_id for done in settled] == [repayment.pk]
        assert connection.in_atomic_block
        raise RuntimeError("the step after settling failed")

    with pytest.raises(RuntimeError):
        repayments_settle([(repayment.pk, result)], today=timezone.localdate(), after_settle=refuse)
    repayment.refresh_from_db()
    assert repayment.status == RepaymentStatus.PENDING
    assert not Allocation.objects.filter(repayment=repayment).exists()
    assert not Installment.objects.filter(plan=current_plan, principal_paid__gt=0).exists()

    seen: list[Settlement] = []
    repayments_settle([(repayment.pk, result)], today=timezone.localdate(), after_settle=seen.extend)
    repayment.refresh_from_db()
    assert repayment.status == RepaymentStatus.SUCCEEDED
    assert [(done.repayment_id, done.applied, done.excess) for done in seen] == [
        (repayment.pk, Decimal("50.00"), Decimal("0.00"))
    ]
