"""二次分期 meets the money side: the auto-debit mandate moves to the new plan and scheduled payments are
cancelled, a payment in flight refuses the re-staging, and the restructured plan takes no payment
(installments' re-staging, repayments' receivers and payments; ledger checked after each)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from core.errors import ApplicationError
from installments.models import (
    CreditEvent,
    CreditEventKind,
    InstallmentStatus,
    PlanKind,
    PlanStatus,
)
from installments.services import plan_restage, restage_quote
from notifications.models import Notification
from repayments.models import AutoDebitMandate, Repayment, RepaymentStatus
from repayments.services import autodebit_set, repayment_create

TODAY = timezone.localdate


def test_apply_moves_the_balance_and_carries_auto_debit(current_plan, card) -> None:
    customer = current_plan.customer
    autodebit_set(customer=customer, plan=current_plan, enabled=True, card=card)
    scheduled = repayment_create(
        customer=customer,
        plan=current_plan,
        mode="custom",
        amount="50.00",
        card=card,
        channel="web",
        idempotency_key="later",
        scheduled_for=TODAY() + timedelta(days=10),
    )
    # Pay the first installment early so money already paid is part of the picture.
    repayment_create(
        customer=customer,
        plan=current_plan,
        mode="custom",
        amount="106.00",
        card=card,
        channel="web",
        idempotency_key="now",
    )
    quote = restage_quote(plan=current_plan)
    new = plan_restage(customer=customer, plan_id=current_plan.pk, tenor=24)

    current_plan.refresh_from_db()
    assert current_plan.status == PlanStatus.RESTRUCTURED
    assert new.kind == PlanKind.SECONDARY
    assert new.source_plan_id == current_plan.pk
    assert new.principal == quote.balance.new_principal
    assert new.tenor == 24
    assert new.installments.count() == 24
    assert sum(i.principal_due for i in new.installments.all()) == new.principal
    # What was paid stays where it was; everything unpaid is restructured.
    statuses = list(current_plan.installments.order_by("sequence").values_list("status", flat=True))
    assert statuses[0] == InstallmentStatus.PAID
    assert set(statuses[1:]) == {InstallmentStatus.RESTRUCTURED}
    # Outstanding before = the new principal + what was waived.
    assert quote.balance.outstanding == new.principal + quote.balance.waived
    assert CreditEvent.objects.filter(plan=current_plan, kind=CreditEventKind.RESTRUCTURED).count() == 1
    assert Notification.objects.filter(user=customer, template_code="plan_restaged").count() == 1
    mandate = AutoDebitMandate.objects.get(plan=new)
    assert mandate.enabled
    assert mandate.card_id == card.pk
    assert not AutoDebitMandate.objects.get(plan=current_plan).enabled
    scheduled.refresh_from_db()
    assert scheduled.status == RepaymentStatus.CANCELLED


def test_refused_while_a_payment_is_in_flight(current_plan, card) -> None:
    Repayment.objects.create(
        customer=current_plan.customer,
        plan=current_plan,
        amount=Decimal("106.00"),
        mode="due_now",
        channel="auto_debit",
        card=card,
        idempotency_key="in-flight",
        status=RepaymentStatus.PENDING,
    )
    with pytest.raises(ApplicationError) as exc:
        plan_restage(customer=current_plan.customer, plan_id=current_plan.pk, tenor=12)
    assert exc.value.code == "payment_in_progress"
    assert exc.value.status == 409
    current_plan.refresh_from_db()
    assert current_plan.status == PlanStatus.ACTIVE


def test_a_restructured_plan_takes_no_payment(current_plan, card) -> None:
    plan_restage(customer=current_plan.customer, plan_id=current_plan.pk, tenor=12)
    current_plan.refresh_from_db()
    with pytest.raises(ApplicationError):
        repayment_create(
            customer=current_plan.customer,
            plan=current_plan,
            mode="custom",
            amount="10.00",
            card=card,
            channel="web",
            idempotency_key="late",
        )
